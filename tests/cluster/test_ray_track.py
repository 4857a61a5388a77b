"""``litlora-desktop track --ray``: one Ray task per video, the same projects as a local run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from litlora_desktop.cli import main
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.sam2.allocator import OPT_OUT
from litlora_desktop.eval.synthetic_dataset import write_synthetic_dataset

FAST = ["--model", "demo", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    names = write_synthetic_dataset(root, ["occlusion", "split", "distractor"], num_frames=8, size=(64, 96))
    for n in names:
        (root / "first" / n).mkdir(parents=True)
        shutil.copy(root / "Annotations" / n / "00000.png", root / "first" / n)
    return root, names


@pytest.mark.slow
def test_track_on_ray_writes_the_projects_of_a_local_run(videos, tmp_path, local_ray):
    root, names = videos
    paths = [str(root / "JPEGImages" / n) for n in names]
    common = ["--masks", str(root / "first"), "--format", "davis", *FAST]
    assert main(["track", *paths, "--out", str(tmp_path / "local"), *common]) == 0
    assert main(["track", *paths, "--out", str(tmp_path / "ray"), "--ray", *common]) == 0
    for n in names:
        a = Project.open(tmp_path / "local" / f"{n}.litlora").store
        b = Project.open(tmp_path / "ray" / f"{n}.litlora").store
        cells = [(f, oid, r) for f, oid, r in a.iter_records()]
        assert len(cells) == 8 * len(a.objects)
        for f, oid, rec in cells:
            other = b.get_record(f, oid)
            assert other is not None and other.provenance == rec.provenance
            assert np.array_equal(other.decode(), rec.decode())
        assert (tmp_path / "ray" / f"{n}.davis").is_dir()


def test_track_without_ray_installed_says_how_to_get_it(videos, tmp_path, monkeypatch, capsys):
    root, names = videos
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["track", str(root / "JPEGImages" / names[0]), "--out", str(tmp_path), "--ray", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'litlora-desktop[cluster]'" in err and "Traceback" not in err


def test_a_video_after_a_bare_ray_is_not_taken_for_an_address(videos, tmp_path, capsys):
    root, names = videos
    video = str(root / "JPEGImages" / names[0])
    assert main(["track", video, "--out", str(tmp_path), *FAST, "--ray", video]) == 2
    assert "put the videos before --ray" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings are Linux-only")
def test_a_track_task_tunes_its_workers_allocator(videos, tmp_path):
    """A Ray worker is a new process: the driver's malloc settings do not reach it, and without them
    SAM2's encoder pays a page fault per page of every large buffer (core/sam2/allocator.py). The
    eval task tuned its worker; the track task did not. Run in a fresh process, as a worker is."""
    root, names = videos
    code = (
        "import sys; from pathlib import Path\n"
        "from litlora_desktop.batch.cli import ray_track_task\n"
        "from litlora_desktop.batch.track import TrackJob\n"
        "from litlora_desktop.core.sam2.allocator import malloc_tuned\n"
        "job = TrackJob(Path(sys.argv[1]), Path(sys.argv[2]), masks=Path(sys.argv[3]))\n"
        "tracked = ray_track_task(job, 0.0, 'demo', 'cpu', 1)\n"
        "assert tracked.report.error is None, tracked.report.error\n"
        "print('tuned' if malloc_tuned() else 'default')\n"
    )
    video, first = root / "JPEGImages" / names[0], root / "first" / names[0]
    env = {k: v for k, v in os.environ.items() if k != OPT_OUT}  # the suite itself opts out
    proc = subprocess.run(
        [sys.executable, "-c", code, str(video), str(tmp_path / "out.litlora"), str(first)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "tuned"


@pytest.mark.slow
def test_with_ray_the_track_driver_never_imports_torch(videos, tmp_path):
    """With --ray the driver plans, waits and writes the projects and exports: it does not track, so
    importing torch and transformers there (~4 s a run) bought nothing. A fresh process, as a
    user's command; the project still comes out whole."""
    pytest.importorskip("ray", reason="the [cluster] extra is not installed")
    root, names = videos
    code = (
        "import sys\n"
        "from litlora_desktop.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('driver imported:', sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    video = root / "JPEGImages" / names[0]
    argv = ["track", str(video), "--masks", str(root / "first"), "--out", str(tmp_path), "--ray", *FAST]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "driver imported: []" in proc.stdout, proc.stdout
    store = Project.open(tmp_path / f"{names[0]}.litlora").store
    assert len(list(store.iter_records())) == 8 * len(store.objects) > 0
