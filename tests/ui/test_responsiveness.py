"""The GUI event loop keeps answering while the model thread tracks and trains (README, "How it is built")."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from tests.ui.test_lora import corrected_window
from tests.ui.test_main_window import click, idle, key

pytestmark = pytest.mark.gui


class GapMeter:
    """A 5 ms timer; records the longest time between two of its ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.last = None
        self.longest = 0.0
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start()

    def tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.longest = max(self.longest, (now - self.last) / 1e6)
        self.last = now
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()


def test_event_loop_answers_while_tracking_and_training(qtbot, window_factory, fresh_model):
    w = corrected_window(qtbot, window_factory, fresh_model, epochs=400)
    s = w.session
    st = s.engine.state.lora_settings
    st.patience = 10_000  # keep training for the whole measurement
    st.give_up_epoch = 10_000
    st.zero_iou_epoch = 10_000
    qtbot.waitUntil(lambda: s.training_active and 1 in s.training, timeout=10_000)
    meter = GapMeter()
    meter.start()
    stepped = 0
    t_end = time.monotonic() + 2.0
    epochs_before = s.training[1].epoch
    while time.monotonic() < t_end:
        if s.engine.pending("track") == 0 and s.current < s.num_frames - 1:
            key(qtbot, w, Qt.Key.Key_Right)
            stepped += 1
        qtbot.wait(20)
    meter.stop()
    assert s.training_active, "training ended early: the test measured nothing"
    assert s.training[1].epoch > epochs_before, "training made no progress while stepping"
    assert stepped >= 3, "stepping was blocked by training"
    assert meter.ticks > 50
    assert meter.longest < 100.0, f"the GUI froze for {meter.longest:.0f} ms"
    s.engine.cancel("train")
    idle(qtbot, w)


def test_a_click_waits_for_at_most_one_background_step(qtbot, window_factory, fresh_model):
    """With a long propagation and a training run in flight, a click runs after at most one step of
    background work (one tracked frame or one epoch): the model thread takes interactive jobs between
    two steps of its background jobs. Counted in steps, so a slow machine cannot make it flaky."""
    w = corrected_window(qtbot, window_factory, fresh_model, epochs=400, num_frames=60)
    s = w.session
    st = s.engine.state.lora_settings
    st.patience = st.give_up_epoch = st.zero_iou_epoch = 10_000  # train for the whole test
    qtbot.waitUntil(lambda: s.training_active and 1 in s.training, timeout=10_000)

    thread = s.engine.thread
    log: list[tuple[str, str]] = []  # ("submit" | "start" | "end", kind), in the order they happened
    background: set[str] = set()  # kinds of the background and idle jobs seen
    submit, advance = thread.submit, thread._advance

    def logged_submit(job):
        log.append(("submit", job.kind))
        return submit(job)

    def logged_advance(job):
        if job.priority.name != "INTERACTIVE":
            background.add(job.kind)
        log.append(("start", job.kind))
        try:
            return advance(job)
        finally:
            log.append(("end", job.kind))

    thread.submit, thread._advance = logged_submit, logged_advance
    key(qtbot, w, Qt.Key.Key_P)  # propagate the 56 frames after frame 3
    qtbot.waitUntil(lambda: ("end", "propagate") in log and ("end", "train") in log, timeout=20_000)
    s.select(1)
    n = len(log)
    click(qtbot, w, 60, 30)
    qtbot.waitUntil(lambda: ("end", "prompt") in log[n:], timeout=20_000)
    thread.submit, thread._advance = submit, advance

    after = log[n:]
    asked, began = after.index(("submit", "prompt")), after.index(("start", "prompt"))
    # (interactive jobs queued before it, such as the selection's, run first: that is their order)
    waited = [k for e, k in after[asked:began] if e == "end" and k in background]
    assert len(waited) <= 1, f"the click waited behind {waited}"
    # it measured something: both kinds of background work were running when the click came
    kinds_before = {k for e, k in log[:n] if e == "end"}
    assert {"propagate", "train"} <= kinds_before
    assert s.propagating or ("end", "propagate") in after, "the propagation had ended before the click"

    def quiet() -> bool:  # the click's correction starts a training run of its own: stop it too
        s.engine.cancel("train")
        s.engine.cancel("propagate")
        return s.engine.pending() == 0

    qtbot.waitUntil(quiet, timeout=10_000)
