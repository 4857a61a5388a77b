"""``litlora-desktop --self-test``: prove an installation (or a PyInstaller bundle) works, without a window.

A bundle can build fine and still fail at run time: a lazily imported transformers module, a Qt plugin,
OpenCV's video decoder or a data file left out. This check walks the app's real paths with a tiny
random SAM2 whose config ships in ``resources/selftest/`` (no download): save and load the model
folder, open the sample video, track a few frames, correct one, train one LIT-LoRA adapter, get a
candidate mask, encode masks as RLE, and (optionally) open the main window offscreen on the sample
video with the model thread running. Each step prints one line; the exit code is 0 only if all pass.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from litlora_desktop.core.resources import resources_dir

TRACK_FRAMES = 6  # frames tracked before the correction; the correction is on the last of them
TRAIN_EPOCHS = 5
SELFTEST_CONFIG = Path("selftest") / "tiny_config.json"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


class SelfTestFailure(Exception):
    """A check that did not hold; the message says which and why."""


class _Report:
    """Runs the steps in order, prints one line each, and stops at the first failure."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.failed: str | None = None

    def step(self, name: str, fn: Callable[[], str]) -> bool:
        if self.failed is not None:
            return False
        t0 = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:
            self.failed = name
            self.out(f"FAIL {name}: {exc.__class__.__name__}: {exc}")
            self.out(traceback.format_exc().rstrip())
            return False
        self.out(f"ok   {name} ({time.perf_counter() - t0:.1f} s): {detail}")
        return True


def _print(line: str) -> None:
    print(line, flush=True)  # in order with what libraries write to stderr


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SelfTestFailure(message)


def selftest_config() -> Any:
    """The tiny SAM2 config stored in the resources (made by ``scripts/make_selftest_config.py``)."""
    from transformers import Sam2VideoConfig

    path = resources_dir() / SELFTEST_CONFIG
    if not path.is_file():
        raise SelfTestFailure(f"{path} is missing: the resources were not installed or bundled")
    return Sam2VideoConfig.from_json_file(str(path))


def _sample_video(tmp: Path) -> tuple[Path, str]:
    """The bundled sample video if it is there, else one generated into ``tmp`` (where it came from)."""
    from litlora_desktop.core.scenes.sample import ensure_sample_video

    bundled = resources_dir() / "sample" / "sample.mp4"
    if bundled.is_file() and bundled.stat().st_size > 0:
        return bundled, "shipped"
    return ensure_sample_video(tmp / "sample.mp4"), "generated"


def run_self_test(
    device: str | None = "cpu",
    gui: bool = True,
    out: Callable[[str], None] | None = None,
) -> int:
    """Run every check; 0 when all pass, 1 otherwise. ``gui``: also open the main window offscreen."""
    import numpy as np

    from litlora_desktop.logs import fallback_streams

    fallback_streams()  # a windowed bundle has no stdout: the report then goes to the log folder
    out = out or _print
    rep = _Report(out)
    state: dict[str, Any] = {}
    out(
        f"LIT-LoRA Desktop self-test: python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, {'bundled' if is_frozen() else 'from source'}, resources {resources_dir()}"
    )
    with tempfile.TemporaryDirectory(prefix="litlora-selftest-") as tmp_name:
        tmp = Path(tmp_name)

        def imports() -> str:
            import cv2
            import peft
            import torch
            import transformers

            _check("torchvision" not in sys.modules, "torchvision was imported (it must never be)")
            return (
                f"torch {torch.__version__}, transformers {transformers.__version__}, "
                f"peft {peft.__version__}, opencv {cv2.__version__}"
            )

        def model() -> str:
            from litlora_desktop.core.sam2.models import load_model, random_model

            folder = tmp / "tiny-model"
            random_model(selftest_config(), seed=0).save_pretrained(folder)
            loaded = load_model(folder, device=device)  # the same path as a user's local model folder
            state["loaded"] = loaded
            n = sum(p.numel() for p in loaded.model.parameters())
            return f"tiny random SAM2 ({n / 1e6:.2f} M parameters) saved and loaded from a folder on {loaded.device.label}"

        def video() -> str:
            from litlora_desktop.core.scenes.sample import sample_scene
            from litlora_desktop.core.video.sources import VideoSource

            path, origin = _sample_video(tmp)
            src = VideoSource.open(path)
            scene = sample_scene()
            _check(
                (src.num_frames, src.height, src.width) == (scene.num_frames, scene.height, scene.width),
                f"sample video is {src.num_frames}x{src.height}x{src.width}, expected "
                f"{scene.num_frames}x{scene.height}x{scene.width}",
            )
            last = src.frame(src.num_frames - 1)
            _check(last.shape == (scene.height, scene.width, 3), f"decoded frame has shape {last.shape}")
            state["source"], state["scene"] = src, scene
            return f"{origin} {path.name}: {src.num_frames} frames {src.width}x{src.height}, decoded the last one"

        def track() -> str:
            from litlora_desktop.core.sam2.tracker import Tracker

            loaded, src, scene = state["loaded"], state["source"], state["scene"]
            tr = Tracker(loaded.model, src, autocast_dtype=loaded.device.autocast_dtype)
            obj = max(scene.object_ids, key=lambda o: int(scene.mask(o, 0).sum()))  # the largest object
            tr.add_object(obj)
            tr.add_mask(obj, 0, scene.mask(obj, 0))
            for f in range(1, TRACK_FRAMES):
                m = tr.track(f).masks[obj].mask
                _check(m.shape == (src.height, src.width), f"frame {f}: mask shape {m.shape}")
            _check(tr.capture(obj, TRACK_FRAMES - 1) is not None, "no decoder inputs were captured")
            state["tracker"], state["obj"] = tr, obj
            return f"object {obj} tracked on frames 1-{TRACK_FRAMES - 1}, decoder inputs captured"

        def lora() -> str:
            from litlora_desktop.core.lora.litlora import LitLoRA

            tr, scene, obj = state["tracker"], state["scene"], state["obj"]
            eng = LitLoRA(tr, selftest_lora_settings())
            frame = TRACK_FRAMES - 1
            _check(eng.add_correction(obj, frame, scene.mask(obj, frame)) is not None, "correction refused")
            reports = eng.train(obj)
            _check(bool(reports) and reports[-1].finished, "training did not finish")
            _check(np.isfinite(reports[-1].loss), f"training loss is {reports[-1].loss}")
            _check(eng.num_adapters(obj) == 1, f"{eng.num_adapters(obj)} adapters after one correction")
            tr.track(frame + 1)
            cands = eng.candidates(obj, frame + 1)
            _check(bool(cands), f"no candidate on frame {frame + 1}")
            c = cands[0]
            _check(c.mask.shape == (scene.height, scene.width), f"candidate mask shape {c.mask.shape}")
            state["candidate"] = c
            r = reports[-1]
            return (
                f"adapter '{c.adapter}' trained in {r.epoch} epochs (best IoU {r.best_iou:.2f}, {r.outcome}); "
                f"candidate on frame {frame + 1}, confidence {c.confidence:.2f}"
            )

        def rle() -> str:
            from pycocotools import mask as mask_utils

            m = np.asfortranarray(state["candidate"].mask.astype(np.uint8))
            back = mask_utils.decode(mask_utils.encode(m))
            _check(np.array_equal(back, m), "RLE round trip changed the mask")
            return f"candidate mask RLE round trip exact ({int(m.sum())} pixels)"

        def demo() -> str:
            from litlora_desktop.core.sam2.models import DEMO_MODEL, load_model
            from litlora_desktop.core.sam2.prompts import Click
            from litlora_desktop.core.sam2.tracker import Tracker
            from litlora_desktop.core.scenes.ground_truth import centre_point

            loaded = load_model(DEMO_MODEL, device=device)  # shipped in resources/models: works offline
            src, scene = state["source"], state["scene"]
            obj = max(scene.object_ids, key=lambda o: int(scene.mask(o, 0).sum()))
            gt = scene.mask(obj, 0)
            with Tracker(loaded.model, src, autocast_dtype=loaded.device.autocast_dtype) as tr:
                tr.add_object(obj)
                got = tr.add_clicks(obj, 0, [Click(*centre_point(gt))]).mask
            iou = float((got & gt).sum() / max(1, (got | gt).sum()))
            # an installation check, not an accuracy test (tests/accuracy/ has those): the weights are
            # there, load, and find the clicked object
            _check(
                iou >= 0.2, f"one click on the sample's largest object gave IoU {iou:.2f} (expected >= 0.2)"
            )
            return f"demo SAM2 loaded from the resources; one click on the sample: IoU {iou:.2f}"

        def window() -> str:
            # A copy: a project the user keeps next to the shipped sample (its autosave offers a
            # recovery dialog) must neither block this headless check nor be touched by it.
            own = tmp / "window" / "sample.mp4"
            own.parent.mkdir()
            shutil.copyfile(_sample_video(tmp)[0], own)
            return _gui_check(own)

        steps: list[tuple[str, Callable[[], str]]] = [
            ("imports", imports),
            ("model", model),
            ("sample video", video),
            ("tracking", track),
            ("LIT-LoRA", lora),
            ("masks", rle),
            ("demo model", demo),
        ]
        if gui:
            steps.append(("window", window))
        for name, fn in steps:
            rep.step(name, fn)
        tracker = state.pop("tracker", None)
        if tracker is not None:
            tracker.close()
        if "source" in state:
            state["source"].close()
    out("self-test passed" if rep.failed is None else f"self-test FAILED at '{rep.failed}'")
    return 0 if rep.failed is None else 1


def selftest_lora_settings() -> Any:
    """The tests' settings for a random decoder (tests/core/lora/conftest.py), cut to a few epochs.

    The self-test proves that training runs end to end and leaves an adapter, not that a random
    decoder learns (a test does that): a few epochs, and the give-up rules (which delete a new
    adapter that learned nothing) are out of reach.
    """
    from litlora_desktop.core.lora.settings import LoraSettings

    base = LoraSettings(
        rank=16, alpha=16, lr_new=3e-3, lr_finetune=1e-3, focal_weight=1.0, dice_weight=5.0, focal_alpha=0.75
    )
    return replace(
        base,
        max_epochs_new=TRAIN_EPOCHS,
        max_epochs_finetune=TRAIN_EPOCHS,
        give_up_iou=0.0,
        give_up_epoch=TRAIN_EPOCHS + 1,
        zero_iou_epoch=TRAIN_EPOCHS + 1,
    )


def _gui_check(sample: Path, timeout_s: float = 60.0) -> str:
    """Open the main window offscreen on the sample video with the tiny model; close it cleanly.

    Settings go to a throw-away folder so the check never touches the user's own.
    """
    if not os.environ.get("QT_QPA_PLATFORM") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("win32", "darwin")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from litlora_desktop.app import make_application
    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.qt_check import qt_binding_problem
    from litlora_desktop.ui.settings import AppSettings
    from litlora_desktop.workers.engine import TINY_RANDOM

    with tempfile.TemporaryDirectory(prefix="litlora-selftest-settings-") as settings_dir:
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
        app = make_application([sys.argv[0]])
        problem = qt_binding_problem()
        _check(problem is None, str(problem))
        win = MainWindow(AppSettings())
        try:
            _check(not win.windowIcon().isNull(), "the app icon did not load (SVG image plugin missing?)")
            win.show()
            win.open_path(str(sample))
            win.load_model(TINY_RANDOM, "cpu")
            deadline = time.monotonic() + timeout_s
            session = win.session
            while not (session.model_ready and session.store is not None and session.image is not None):
                if win.problems:
                    raise SelfTestFailure(f"the window reported a problem: {win.problems[-1]}")
                if time.monotonic() > deadline:
                    raise SelfTestFailure(f"video or model not ready after {timeout_s:.0f} s")
                app.processEvents()
                time.sleep(0.01)
            platform_name = QApplication.platformName()
        finally:
            win.close()
            app.processEvents()
    return f"main window ({platform_name} platform) opened the sample video with the model thread running"


def main(argv: list[str] | None = None) -> int:
    """``python -m litlora_desktop.selftest [--device D] [--no-gui]``."""
    import argparse

    p = argparse.ArgumentParser(prog="litlora-desktop --self-test", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    p.add_argument("--no-gui", action="store_true", help="skip the offscreen window check")
    args = p.parse_args(argv)
    return run_self_test(device=None if args.device == "auto" else args.device, gui=not args.no_gui)


if __name__ == "__main__":
    sys.exit(main())
