"""Drive the desktop app through a short session and save screenshots (for the README and for review).

    python scripts/screenshots.py [OUT_DIR] [--model demo] [--docs]

Runs under Xvfb (``xvfb-run -a python scripts/screenshots.py``) or headless with Qt's offscreen
platform (the default when there is no display). It opens the sample video, clicks on the object,
steps a few frames, switches LIT_LoRA on, corrects a frame, lets the adapter train, steps on to get a
candidate, compares it with SAM2's mask and accepts it, then opens the help and settings dialogs.
The default model is the shipped demo SAM2 (trained on the sample's kind of shapes); the correction
paints the sample's ground truth (as a brush stroke would), so the LoRA candidate shows what one
correction taught.
``--docs`` also copies the final window shot to docs/screenshot.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from litlora_desktop.app import create_window, install_excepthook, make_application, sample_video_path  # noqa: E402
from litlora_desktop.core.scenes.ground_truth import centre_point  # noqa: E402
from litlora_desktop.core.scenes.sample import sample_scene  # noqa: E402


class Director:
    """Runs steps one after another on the event loop: each step acts, then waits for its condition."""

    def __init__(self, app: QApplication, timeout_s: float = 300.0) -> None:
        self.app = app
        self.steps: list[tuple[str, Callable[[], None], Callable[[], bool]]] = []
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._poll)
        self.waited = 0
        self.limit = int(timeout_s * 1000 / 50)
        self.current: tuple[str, Callable[[], None], Callable[[], bool]] | None = None
        self.failed: str | None = None

    def add(self, name: str, act: Callable[[], None], until: Callable[[], bool] = lambda: True) -> None:
        self.steps.append((name, act, until))

    def start(self) -> None:
        self.timer.start()

    def _poll(self) -> None:
        if self.current is not None:
            name, _, until = self.current
            if not until():
                self.waited += 1
                if self.waited > self.limit:
                    self.failed = f"step '{name}' timed out"
                    self.app.quit()
                return
            self.current = None
        if not self.steps:
            self.timer.stop()
            self.app.quit()
            return
        self.current = self.steps.pop(0)
        self.waited = 0
        print(f"- {self.current[0]}", flush=True)
        self.current[1]()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "screenshots"))
    ap.add_argument("--model", default="demo", help="the shipped demo SAM2 (default), or e.g. tiny-random")
    ap.add_argument("--docs", action="store_true", help="also write docs/screenshot.png")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # Never touch the user's real settings.
    settings_dir = tempfile.mkdtemp(prefix="litlora-shots-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    app = make_application([sys.argv[0]])
    QSettings().setValue("track/suspect_threshold", 0.2)
    w = create_window(None, args.model, "cpu")
    install_excepthook(w)
    w.resize(1440, 900)
    w.show()
    s = w.session
    scene = sample_scene()
    # the largest object, clicked at its centre as a person would
    target = max(scene.object_ids, key=lambda o: int(scene.mask(o, 0).sum()))
    gt0 = scene.mask(target, 0)
    cx, cy = centre_point(gt0)
    shots: list[Path] = []

    def shot(name: str, widget: QWidget | None = None) -> None:
        w.presenter.render_now()
        path = out / f"{len(shots) + 1:02d}-{name}.png"
        (widget or w).grab().save(str(path))
        shots.append(path)
        print(f"  saved {path}", flush=True)

    def idle() -> bool:
        # the overlay is composed off the GUI thread: wait until it is the one drawn
        return (
            s.engine.pending() == 0
            and s.image is not None
            and s.image[0] == s.current
            and not w.canvas.overlay_pending
        )

    def correct(frame: int) -> None:
        s.set_user_mask(s.selected, frame, scene.mask(target, frame), "Brush")

    d = Director(app)
    d.add(
        "wait for the sample video and the model",
        lambda: None,
        lambda: s.model_ready and s.image is not None and idle(),
    )
    d.add("screenshot: opened", lambda: shot("opened"))
    d.add(
        "new object, click on it",
        lambda: (s.add_object(), s.rename(1, "blob"), s.click(cx, cy, True)),
        lambda: idle() and s.store.get_record(0, 1) is not None,
    )
    d.add("screenshot: first click", lambda: shot("first-click"))
    for _ in range(3):
        d.add("next frame", lambda: s.step(+1), idle)
    d.add("LIT_LoRA on", lambda: w.actions_by_id["lora.toggle"].trigger(), lambda: s.lora_on)
    d.add(
        "correct frame 3 (brush)",
        lambda: correct(3),
        lambda: s.training_active and 1 in s.training and s.training[1].epoch >= 3,
    )
    d.add("screenshot: training", lambda: shot("training-overlay"))
    d.add("wait for training", lambda: None, lambda: not s.training_active and idle())
    d.add("next frame: candidates", lambda: s.step(+1), lambda: idle() and bool(s.current_candidates()))
    d.add(
        "screenshot: candidate",
        lambda: (
            print(
                "  candidates:",
                [
                    (int(c.mask.sum()), round(c.confidence, 3), round(c.iou_with_sam, 3))
                    for c in s.current_candidates()
                ],
                "gt",
                int(scene.mask(target, 4).sum()),
            ),
            shot("candidate"),
        ),
    )
    d.add(
        "compare (C)",
        lambda: w.actions_by_id["lora.compare"].setChecked(True),
        lambda: not w.canvas.overlay_pending and (w.canvas.comparing or (w.presenter.render_now() or False)),
    )
    d.add("screenshot: compare", lambda: shot("compare"))
    d.add("compare off", lambda: w.actions_by_id["lora.compare"].setChecked(False))
    d.add("accept the candidate (Q)", lambda: w.actions_by_id["lora.accept1"].trigger(), idle)
    for _ in range(4):
        d.add("next frame", lambda: s.step(+1), idle)
    d.add("accept again where offered", lambda: s.current_candidates() and s.accept_candidate(0), idle)
    d.add("back to the accepted frame", lambda: s.go_to(4), idle)
    d.add("screenshot: accepted", lambda: shot("accepted"))
    d.add("help: shortcuts", lambda: setattr(w, "_help", w.show_shortcuts()))
    d.add(
        "screenshot: shortcuts",
        lambda: (w._help.resize(720, 760), shot("shortcuts", w._help), w._help.close()),
    )
    d.add("settings", lambda: setattr(w, "_settings_dlg", w.open_settings()))
    d.add("screenshot: settings", lambda: (shot("settings", w._settings_dlg), w._settings_dlg.reject()))
    d.start()
    app.exec()
    w.close()
    shutil.rmtree(settings_dir, ignore_errors=True)
    if d.failed:
        print(
            f"FAILED: {d.failed} (frame {s.current}, training {s.training}, LoRA {s.lora_counts})",
            file=sys.stderr,
        )
        return 1
    if args.docs:
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(next(p for p in shots if "accepted" in p.name), docs / "screenshot.png")
    print(f"{len(shots)} screenshots in {out} (sample video: {sample_video_path()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
