"""A file job (export, import, save) on a plain background thread, reporting through Qt signals.

The model thread is for the model; writing a dataset or reading annotations must not wait behind a
propagation, and must not run on the GUI thread either. ``BackgroundTask`` runs
``fn(progress, should_cancel)`` on its own thread; its signals are emitted there and, because the task
object lives on the GUI thread, are delivered to the GUI thread as queued calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]


class BackgroundTask(QObject):
    """One run of ``fn(progress, should_cancel)``; exactly one of ``succeeded`` / ``failed`` follows."""

    progress = Signal(int, int)  # done, total
    succeeded = Signal(object)  # fn's return value
    failed = Signal(object)  # the exception (an ExportCancelled after a cancel)
    finished = Signal()

    def __init__(self, fn: Callable[[Progress, ShouldCancel], Any], name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"litlora-{name}", daemon=True)
        self.running = False

    def start(self) -> BackgroundTask:
        self.running = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (only when closing the app); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self._fn(self.progress.emit, self._cancel.is_set)
        except BaseException as exc:  # reported to the GUI, which shows a message
            if getattr(exc, "is_question", False):  # a question for the user, not a failure
                log.info("background task stopped for a question: %s", exc)
            elif not self._cancel.is_set():
                log.exception("background task failed")
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)
        finally:
            self._fn = None  # its closure may hold a whole project (a probe's stores): not for our lifetime
            self.running = False
            self.finished.emit()
