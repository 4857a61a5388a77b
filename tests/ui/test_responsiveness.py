"""The GUI event loop keeps answering while the model thread tracks and trains (README, "How it is built")."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from tests.ui.test_lora import corrected_window
from tests.ui.test_main_window import idle, key

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
