"""The self-test from source, and the PyInstaller bundle built and self-tested (slow: ~5 min on 2 cores)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("imports", "model", "sample video", "tracking", "LIT-LoRA", "masks", "window")
KEEP_MODELS = {"__init__.py", "__pycache__", "auto", "sam2", "sam2_video", "bloom", "encoder_decoder"}
# the other model families the app loads (build_app.spec keeps the same): SAM 3's tracker, EdgeTAM,
# and the timm wrapper's config that EdgeTAM's backbone is declared with
KEEP_MODELS |= {"sam3", "sam3_tracker", "sam3_tracker_video", "sam3_video", "edgetam", "edgetam_video"}
KEEP_MODELS |= {"timm_wrapper"}


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", LITLORA_LOG_DIR=str(tmp_path / "logs"), HF_HUB_OFFLINE="1")
    return env


def _assert_passed(output: str) -> None:
    for step in STEPS:
        assert re.search(rf"^ok   {re.escape(step)} \(", output, re.M), (
            f"step '{step}' did not pass:\n{output}"
        )
    assert "self-test passed" in output


def test_self_test_from_source_passes(tmp_path):
    """`python -m litlora_desktop --self-test` exits 0 after every step, with no window system."""
    proc = subprocess.run(
        [sys.executable, "-m", "litlora_desktop", "--self-test", "--device", "cpu"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_passed(proc.stdout)
    assert "from source" in proc.stdout


def test_self_test_fails_without_its_resources(tmp_path, monkeypatch):
    """A bundle that lost resources/ must fail the self-test (exit code 1), not pass quietly."""
    from litlora_desktop import selftest

    monkeypatch.setattr(selftest, "resources_dir", lambda: tmp_path / "nothing")
    lines: list[str] = []
    assert selftest.run_self_test(device="cpu", gui=False, out=lines.append) == 1
    text = "\n".join(lines)
    assert "FAIL model" in text and "tiny_config.json is missing" in text
    assert "self-test FAILED at 'model'" in text
    assert not any(line.startswith("ok   tracking") for line in lines)  # later steps do not run


def test_stored_selftest_config_matches_the_code():
    """resources/selftest/tiny_config.json is tiny_config(64, init_std=0.2): rerun the script if not."""
    from litlora_desktop.core.sam2.models import tiny_config
    from litlora_desktop.selftest import selftest_config

    stored, code = selftest_config().to_diff_dict(), tiny_config(64, init_std=0.2).to_diff_dict()
    stored.pop("transformers_version", None)
    code.pop("transformers_version", None)
    assert stored == code, "run scripts/make_selftest_config.py"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the build script is written for Linux")
def test_bundle_builds_and_passes_its_self_test(tmp_path):
    """scripts/build_bundle.sh builds dist/litlora-desktop and runs the bundled app's --self-test."""
    env = _env(tmp_path)
    env["LITLORA_VENV"] = sys.prefix  # the environment running the tests (PyInstaller goes in if missing)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_bundle.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    _assert_passed(proc.stdout)
    assert ", bundled, resources " in proc.stdout  # it really ran frozen, from the bundle's resources
    m = re.search(r"bundle: \S+, (\d+) MiB in (\d+) files; build took (\d+) s", proc.stdout)
    assert m, proc.stdout
    internal = ROOT / "dist" / "litlora-desktop" / "_internal"
    assert (internal / "resources" / "icons" / "app.png").is_file()
    assert (internal / "resources" / "sample" / "sample.mp4").is_file()
    assert (internal / "resources" / "selftest" / "tiny_config.json").is_file()
    assert (internal / "resources" / "litlora-desktop.desktop").is_file()
    assert not (internal / "torchvision").exists()
    assert not (internal / "torch" / "test").exists()
    assert {p.name for p in (internal / "transformers" / "models").iterdir()} <= KEEP_MODELS
    qt_libs = {p.name for p in (internal / "PySide6" / "Qt" / "lib").iterdir()}
    assert not any(n.startswith(("libQt6Quick", "libQt6Qml", "libQt6Pdf", "libQt6Sql")) for n in qt_libs)
    import torch

    if torch.version.cuda is None:  # a CPU torch: the bundle is ~1 GB; more means something leaked in
        assert int(m.group(1)) < 1400, f"bundle grew to {m.group(1)} MiB"


def test_window_check_opens_a_private_copy_of_the_sample(tmp_path, monkeypatch):
    """A project next to the shipped sample (say, with an autosave that asks "recover?") once hung the
    headless self-test on a modal dialog; the window step must open its own copy instead."""
    from litlora_desktop import selftest

    resources = tmp_path / "resources"
    shutil.copytree(selftest.resources_dir() / "selftest", resources / "selftest")
    sample = resources / "sample" / "sample.mp4"
    sample.parent.mkdir(parents=True)
    shutil.copyfile(selftest._sample_video(tmp_path)[0], sample)
    (sample.parent / "sample.litlora").mkdir()  # the user's project, which the check must not open
    monkeypatch.setattr(selftest, "resources_dir", lambda: resources)
    opened: list[tuple[Path, bytes]] = []

    def fake_check(path):
        opened.append((Path(path), Path(path).read_bytes()))  # the copy is gone once the test returns
        return "window checked"

    monkeypatch.setattr(selftest, "_gui_check", fake_check)
    assert selftest.run_self_test(device="cpu", gui=True, out=lambda _line: None) == 0
    assert len(opened) == 1
    path, content = opened[0]
    assert path.parent != sample.parent
    assert content == sample.read_bytes()
