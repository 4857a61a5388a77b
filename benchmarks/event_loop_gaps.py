"""The longest event-loop gap (ms) while the app does work that grows with the project.

Drives a real ``MainWindow`` offscreen (``QT_QPA_PLATFORM=offscreen``) with a tiny random SAM2 model
and prints, per scenario, the longest interval between two ticks of a 5 ms QTimer: how long the
window could not answer. Target: under 100 ms everywhere. Next to it, the most CPU time the GUI thread
itself spent between two ticks: the work it did. On a loaded machine a gap can be much longer than
that (the thread waited for a CPU, or for the GIL while another thread held it); the CPU figure is
what a change to the GUI thread's work moves. Scenarios:

* open project   a generated project (``--frames`` x ``--objects`` small masks, every ``--user-every``-th
                 frame of each object a user mask, i.e. a tracker prompt), opened from its folder
* click after open   a click right after the project is adopted: how long until its mask arrives
                 (latency, not a gap; it waits behind whatever the model thread does first)
* autosave       writing the autosave of that store on the autosaver's thread
* undo delete    deleting the object with the most masks, then undoing it
* COCO import    a COCO RLE file of ``--import-frames`` 4K frames x 3 objects
* 1080p frames   showing ``--hd-frames`` frames of a 1080p clip, one after the other

    QT_QPA_PLATFORM=offscreen python benchmarks/event_loop_gaps.py [--frames 2000] [--objects 3]

Figures are wall-clock: run it on an otherwise idle machine, and compare before/after in one session.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from litlora_desktop.core.annotations.formats import export
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.sam2.models import LoadedModel, choose_device, random_model, tiny_config
from litlora_desktop.core.video.sources import ArrayVideoSource


class GapMeter:
    """A 5 ms timer recording the longest interval between two of its ticks, and the most CPU time
    the GUI thread spent between two ticks (``busiest``, ms)."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.longest = 0.0
        self.busiest = 0.0
        self.last = 0
        self.last_cpu = 0.0

    def start(self) -> None:
        self.longest = self.busiest = 0.0
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.last_cpu = time.thread_time()
        self.timer.start()

    def _tick(self) -> None:
        now, cpu = self.clock.nsecsElapsed(), time.thread_time()
        self.longest = max(self.longest, (now - self.last) / 1e6)
        self.busiest = max(self.busiest, (cpu - self.last_cpu) * 1e3)
        self.last, self.last_cpu = now, cpu

    def stop(self) -> float:
        self._tick()
        self.timer.stop()
        return self.longest


def spin(app: QApplication, until: Callable[[], bool], timeout: float, settle: float = 0.3) -> float:
    """Run the event loop until ``until()`` (then ``settle`` s more); seconds it took to get there.

    A real ``QEventLoop`` that checks ``until`` every 10 ms, as the app's own loop runs: a loop of
    ``processEvents`` and sleeps would wake the GUI thread a thousand times a second and make it
    queue for the GIL behind the worker threads far more often than the app ever does.
    """
    t0 = time.monotonic()
    reached: list[float] = []
    failed: list[BaseException] = []
    loop = QEventLoop()

    def check() -> None:
        now = time.monotonic()
        try:
            if not reached and until():
                reached.append(now)
        except Exception as exc:  # a raise inside a slot would be printed and the loop spin forever
            failed.append(exc)
            loop.quit()
            return
        if (reached and now - reached[0] >= settle) or now - t0 > timeout:
            loop.quit()

    poll = QTimer()
    poll.setInterval(10)
    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    if failed:
        raise failed[0]
    return reached[0] - t0 if reached else float("nan")


def measure(app, meter: GapMeter, action: Callable[[], None], until, timeout: float) -> tuple[float, float]:
    """Longest gap (ms) and seconds to done, with ``action`` run from the event loop."""
    meter.start()
    QTimer.singleShot(0, action)
    app.processEvents()
    took = spin(app, until, timeout)
    return meter.stop(), took


def square(h: int, w: int, y: int, x: int, s: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y : y + s, x : x + s] = True
    return m


def make_project(root: Path, frames: int, objects: int, user_every: int, h: int, w: int) -> Path:
    """A frame folder and its project: every frame has a small mask per object."""
    video = root / "clip"
    video.mkdir()
    img = np.full((h, w, 3), 90, np.uint8)
    for i in range(frames):
        cv2.imwrite(str(video / f"{i:05d}.jpg"), img)
    store = AnnotationStore(h, w, frames, history_limit=200)
    for o in range(objects):
        info = store.add_object()
        recs = {}
        for f in range(frames):
            kind = "user" if f % user_every == 0 else "sam2"
            x = (f * 3 + o * 40) % (w - 20)
            recs[f] = MaskRecord.from_mask(square(h, w, 10 + 20 * o, x, 12), kind)
        with store.group(f"Track object {info.id}"):
            for f, rec in recs.items():
                store.set_record(f, info.id, rec)
    project = Project(root / "clip.litlora", store)
    project.set_video(video)
    project.ui_state.frame = frames // 2
    project.ui_state.object_id = 1
    project.save()
    return project.path


def make_coco(root: Path, frames: int) -> tuple[Path, int, int]:
    h, w = 2160, 3840
    store = AnnotationStore(h, w, frames)
    for o in range(3):
        info = store.add_object()
        for f in range(frames):
            m = np.zeros((h, w), bool)
            cv2.circle(m.view(np.uint8), (600 + 1000 * o + 5 * f, 1000), 400, 1, -1)
            store.set_record(f, info.id, MaskRecord.from_mask(m, "user"))
    out = root / "big.json"
    export("coco", store, out, num_frames=frames)
    return out, h, w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--objects", type=int, default=3)
    ap.add_argument("--user-every", type=int, default=10, help="every n-th frame holds a user mask")
    ap.add_argument("--size", default="160x96", help="project video size WxH")
    ap.add_argument("--import-frames", type=int, default=12)
    ap.add_argument("--hd-frames", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--only", default="", help="comma-separated scenario prefixes to run")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    only = [s for s in args.only.split(",") if s]

    def wanted(name: str) -> bool:
        return not only or any(name.startswith(o) for o in only)

    root = Path(tempfile.mkdtemp(prefix="gaps-"))
    QCoreApplication.setOrganizationName("LIT-LoRA-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "settings"))
    app = QApplication.instance() or QApplication(sys.argv)

    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.settings import AppSettings

    settings = AppSettings()
    settings.set("track/suspect_threshold", 0.0)
    win = MainWindow(settings)
    win.resize(1200, 800)
    win.show()
    win.show_problem = lambda title, text: print(f"  (problem: {title}: {text.splitlines()[0]})")
    s = win.session
    win.use_model(LoadedModel(random_model(tiny_config(64), seed=0), "tiny-random", choose_device("cpu")))
    spin(app, lambda: s.model_ready, 60, settle=0)
    meter = GapMeter()
    rows: list[tuple[str, float, float, str]] = []

    def row(name: str, gap: float, note: str = "") -> None:
        rows.append((name, gap, meter.busiest if gap == gap else float("nan"), note))

    t = time.monotonic()
    folder = make_project(root, args.frames, args.objects, args.user_every, h, w)
    seeds = args.objects * len(range(0, args.frames, args.user_every))
    print(
        f"project: {args.frames} frames x {args.objects} objects ({seeds} user masks), {w}x{h}, "
        f"made in {time.monotonic() - t:.1f} s"
    )

    if wanted("open") or wanted("click") or wanted("autosave") or wanted("undo"):
        # open, then click at once: the click's latency shows what it waited behind
        clicked: dict[str, float] = {}

        def adopted() -> bool:
            return win.project is not None and win.project.path == folder and s.image is not None

        def click_when_adopted() -> None:
            if not adopted():
                QTimer.singleShot(5, click_when_adopted)
                return
            clicked["t0"] = time.monotonic()
            s.click(w * 0.5, h * 0.5, True)

        def click_landed() -> bool:
            rec = s.store.get_record(s.current, s.selected) if s.store is not None and s.selected else None
            if "t0" in clicked and "t1" not in clicked and rec is not None and rec.clicks:
                clicked["t1"] = time.monotonic()
            return "t1" in clicked

        def open_and_click() -> None:
            win.projects.open_project(folder)
            click_when_adopted()

        gap, took = measure(
            app, meter, open_and_click, lambda: click_landed() and s.engine.pending() == 0, args.timeout
        )
        row("open project (+ seeding)", gap, f"all model work done after {took:.1f} s")
        lat = clicked.get("t1", float("nan")) - clicked.get("t0", float("nan"))
        row("click right after open", float("nan"), f"its mask arrived after {lat * 1000:.0f} ms")

        if wanted("autosave"):
            done = {}

            def autosave() -> None:
                import threading

                th = threading.Thread(
                    target=lambda: (win.project.write_autosave(force=True), done.setdefault("ok", 1))
                )
                th.start()

            gap, took = measure(app, meter, autosave, lambda: "ok" in done, args.timeout)
            row("autosave (its own thread)", gap, f"written in {took:.2f} s")

        if wanted("undo"):
            oid = max(s.store.objects, key=lambda o: len(s.store.frames_for_object(o.id))).id
            n = len(s.store.frames_for_object(oid))
            gap, took = measure(app, meter, lambda: s.delete_object(oid), lambda: True, args.timeout)
            row(f"delete object ({n} masks)", gap, "")
            gap, took = measure(
                app,
                meter,
                s.undo,
                lambda: oid in {o.id for o in s.store.objects} and s.engine.pending() == 0,
                args.timeout,
            )
            row(f"undo the delete ({n} masks)", gap, f"model work done after {took:.1f} s")
        win.project.discard_autosave()
        win.projects.discard()

    if wanted("coco"):
        coco, ch, cw = make_coco(root, args.import_frames)
        frames4k = np.zeros((args.import_frames, ch, cw, 3), np.uint8)
        win.open_source(ArrayVideoSource(frames4k, fps=24.0, name="4k"))
        spin(app, lambda: s.source is not None and s.source.width == cw and s.image is not None, 60)
        spin(app, lambda: s.engine.pending() == 0, args.timeout, settle=0.5)
        before = len(s.store.objects)
        gap, took = measure(
            app,
            meter,
            lambda: win.transfers.start_import(coco, "coco"),
            lambda: len(s.store.objects) > before and win.transfers.task is None and s.engine.pending() == 0,
            args.timeout,
        )
        row(f"COCO import ({args.import_frames} 4K frames x 3)", gap, f"done after {took:.1f} s")
        del frames4k

    if wanted("hd"):
        rng = np.random.default_rng(0)
        hd = rng.integers(0, 255, (args.hd_frames, 1080, 1920, 3), np.uint8)
        win.open_source(ArrayVideoSource(hd, fps=24.0, name="hd"))
        spin(app, lambda: s.source is not None and s.source.width == 1920 and s.image is not None, 60)
        spin(app, lambda: s.engine.pending() == 0, args.timeout, settle=0.5)
        shown: list[int] = []
        s.image_changed.connect(lambda i, _rgb: shown.append(i))

        def walk(i: int = 1) -> None:
            if i < args.hd_frames:
                s.go_to(i)
                QTimer.singleShot(60, lambda: walk(i + 1))

        gap, took = measure(app, meter, walk, lambda: args.hd_frames - 1 in shown, args.timeout)
        row(f"1080p frames ({args.hd_frames - 1} shown)", gap, "")

    print()
    print(f"{'scenario':40s} {'longest gap':>12s} {'GUI CPU':>9s}  notes")
    for name, gap, busy, note in rows:
        g = "—" if gap != gap else f"{gap:.0f} ms"
        b = "—" if busy != busy else f"{busy:.0f} ms"
        print(f"{name:40s} {g:>12s} {b:>9s}  {note}")
    win.projects.close_ok = True
    win.close()
    s.close()


if __name__ == "__main__":
    main()
