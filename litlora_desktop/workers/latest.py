"""A latest-request-wins job off the GUI thread, for results that only matter while they are current.

The canvas's mask overlay is the case in point: composing it decodes every shown mask at the video's
size (a 4K frame with three objects took a quarter of a second), so it cannot run on the GUI thread,
and while the user steps through frames only the overlay of the frame they stop on is worth
building. ``LatestJob.request(fn)`` replaces any job not yet started; a job already running finishes,
but its result carries an older generation and the caller drops it. The thread exists only while
there is work, so nothing has to stop it when the window closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class LatestJob(QObject):
    """Runs the latest ``fn()`` asked for on a background thread; ``done(generation, result)`` follows.

    ``done`` is emitted from the worker thread and, because this object lives on the GUI thread, is
    delivered there as a queued call. A job that raises is logged and reported as ``done(gen, None)``
    so that a damaged mask never leaves the canvas waiting.
    """

    done = Signal(int, object)  # generation, fn's result

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._lock = threading.Lock()
        self._job: tuple[int, Callable[[], Any]] | None = None
        self._running = False
        self.generation = 0

    def request(self, fn: Callable[[], Any]) -> int:
        """Queue ``fn`` in place of any job not yet started; returns its generation."""
        with self._lock:
            self.generation += 1
            self._job = (self.generation, fn)
            gen = self.generation
            if self._running:
                return gen
            self._running = True
        threading.Thread(target=self._run, name=f"litlora-{self._name}", daemon=True).start()
        return gen

    def cancel(self) -> None:
        """Forget the queued job; a running one's result will carry an outdated generation."""
        with self._lock:
            self.generation += 1
            self._job = None

    @property
    def busy(self) -> bool:
        """A job is queued or running."""
        with self._lock:
            return self._running

    def _run(self) -> None:
        while True:
            with self._lock:
                job, self._job = self._job, None
                if job is None:
                    self._running = False
                    return
            gen, fn = job
            try:
                result = fn()
            except Exception:
                log.exception("%s job failed", self._name)
                result = None
            try:
                self.done.emit(gen, result)
            except RuntimeError:  # the owner (and this object) was deleted: nobody is waiting
                with self._lock:
                    self._running = False
                return
