"""The Qt binding must not leak references per signal (PySide6 6.12.0 did, and aborted the test run)."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QObject, Signal

from litlora_desktop import app
from litlora_desktop.ui import qt_check

pytestmark = pytest.mark.gui

# Few enough that a leaking binding fails this test instead of aborting the interpreter (True has
# thousands of references at this point), many enough that a leak of one per emit is unmistakable.
EMITS = 300


class _Relay(QObject):
    sent = Signal(object, str, object)  # the shape of ModelThread.job_event


def test_emitting_signals_keeps_the_references_to_true(qtbot):
    """Direct and cross-thread (queued) emits, as the model thread does, leave True's count unchanged."""
    relay = _Relay()
    got: list[int] = []
    relay.sent.connect(lambda _job, _kind, value: got.append(value))
    before = sys.getrefcount(True)
    for i in range(EMITS):
        relay.sent.emit(None, "yield", i)
    worker = threading.Thread(target=lambda: [relay.sent.emit(None, "yield", i) for i in range(EMITS)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(got) == 2 * EMITS, timeout=5000)
    assert before - sys.getrefcount(True) < EMITS // 10
    assert qt_check.qt_binding_problem() is None


def test_a_leaking_binding_is_named_with_what_to_install(monkeypatch):
    reads = iter([10_000, 10_000 - qt_check._PROBE_EMITS])  # before and after: one reference lost per emit

    class LeakySys:
        version_info = sys.version_info

        @staticmethod
        def getrefcount(_obj):
            return next(reads)

    monkeypatch.setattr(qt_check, "sys", LeakySys)
    message = qt_check.qt_binding_problem()
    assert message is not None
    assert "PySide6" in message and "<6.12" in message


def test_the_app_refuses_to_start_on_a_leaking_binding(qtbot, monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(app, "setup_logging", lambda: None)
    monkeypatch.setattr(app, "qt_binding_problem", lambda: "PySide6 X leaks")
    monkeypatch.setattr(
        app.QMessageBox, "critical", staticmethod(lambda _p, title, text: shown.append((title, text)))
    )
    made: list[object] = []
    monkeypatch.setattr(app, "create_window", lambda *a, **k: made.append(a))
    assert app.run() == 3
    assert shown == [("LIT-LoRA Desktop cannot start", "PySide6 X leaks")]
    assert made == [], "no window (and no work to lose) on a binding that will abort"
