"""The one thread that touches the model.

Every tracker and LIT-LoRA call runs here, so adapter switching can never race a tracking step and the
GUI thread never waits on torch. Jobs are plain callables or generators:

* an *interactive* job (a click, one tracked frame, an accept) runs as soon as the thread is free;
* a *background* job is a generator (propagation yields per frame, training per epoch). The thread
  advances background jobs one ``next()`` at a time, round robin, and runs any pending interactive job
  between two steps. So a training run never blocks stepping: the longest wait for a click is one epoch.
* an *idle* job is a generator too, advanced only while no interactive or background job waits: work
  nobody is looking at yet (LIT-LoRA candidates of frames a propagation passed), which must never make
  the work someone waits for slower.

Results come back through one queued signal and are dispatched to the job's callbacks on the thread
that owns this object (the GUI thread). No ``processEvents`` anywhere.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)


def _lower_thread_priority() -> None:
    """Let the GUI thread win the CPU when both want it (Linux: per-thread nice; elsewhere Qt's hint)."""
    try:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
        else:
            QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    except (OSError, AttributeError):  # not permitted here: run at the normal priority
        pass


class Priority(Enum):
    INTERACTIVE = 0
    BACKGROUND = 1
    IDLE = 2


class JobCancelled(Exception):
    """Raised inside a job (by ``check_cancel``) to stop it early."""


_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One unit of model work and where its results go (callbacks run on the GUI thread)."""

    fn: Callable[[Job], Any]
    label: str = ""
    priority: Priority = Priority.INTERACTIVE
    kind: str = ""
    on_result: Callable[[Any], None] | None = None
    on_yield: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_done: Callable[[], None] | None = None
    id: int = field(default_factory=lambda: next(_ids))
    _cancel: threading.Event = field(default_factory=threading.Event)
    _gen: Iterator[Any] | None = None

    def cancel(self) -> None:
        """Ask the job to stop; a generator job stops before its next step."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled


class ModelThread(QThread):
    """A QThread with a job queue; see the module docstring for the scheduling rules."""

    job_event = Signal(object, str, object)  # job, "yield" | "result" | "error" | "done", payload
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("model-thread")
        self._cond = threading.Condition()
        self._interactive: deque[Job] = deque()
        self._background: deque[Job] = deque()
        self._idle: deque[Job] = deque()
        self._stopping = False
        self._busy = False
        self._current: Job | None = None
        self._outstanding: set[Job] = set()  # submitted, "done" not yet delivered (GUI thread only)
        self.job_event.connect(self._dispatch)

    # ------------------------------------------------------------------ GUI-thread API
    def submit(self, job: Job) -> Job:
        """Queue a job; returns it (keep it to cancel it)."""
        self._outstanding.add(job)
        with self._cond:
            if self._stopping:
                job.cancel()
                return job
            self._queue(job.priority).append(job)
            self._cond.notify()
        return job

    def cancel_kind(self, kind: str) -> None:
        """Cancel every queued or running job of a kind (e.g. all propagation)."""
        with self._cond:
            for job in [*self._interactive, *self._background, *self._idle, self._current]:
                if job is not None and job.kind == kind:
                    job.cancel()

    def pending(self, kind: str | None = None) -> int:
        """Jobs (of a kind) not cancelled whose results have not all reached the GUI thread yet."""
        return sum(1 for j in self._outstanding if not j.cancelled and (kind is None or j.kind == kind))

    def is_busy(self) -> bool:
        return self._busy

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and end the thread; returns False if it did not end in time."""
        with self._cond:
            self._stopping = True
            for job in [*self._interactive, *self._background, *self._idle, self._current]:
                if job is not None:
                    job.cancel()
            self._cond.notify_all()
        if not self.isRunning():
            return True
        return self.wait(timeout_ms)

    # ------------------------------------------------------------------ model thread
    def run(self) -> None:
        _lower_thread_priority()
        while True:
            with self._cond:
                while not self._stopping and not (self._interactive or self._background or self._idle):
                    self._set_busy(False)
                    self._cond.wait()
                if self._stopping:
                    self._drain()
                    self._set_busy(False)
                    return
                queue = self._interactive or self._background or self._idle
                job = queue.popleft()
                self._current = job
                self._set_busy(True)
            more = self._advance(job)
            with self._cond:
                self._current = None
                if more and not self._stopping:
                    if job.priority is Priority.INTERACTIVE:  # an interactive generator keeps the front
                        self._interactive.appendleft(job)
                    else:  # round robin among its peers
                        self._queue(job.priority).append(job)

    def _queue(self, priority: Priority) -> deque[Job]:
        return {
            Priority.INTERACTIVE: self._interactive,
            Priority.BACKGROUND: self._background,
            Priority.IDLE: self._idle,
        }[priority]

    def _drain(self) -> None:
        for job in [*self._interactive, *self._background, *self._idle]:
            self.job_event.emit(job, "done", None)
        self._interactive.clear()
        self._background.clear()
        self._idle.clear()

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _advance(self, job: Job) -> bool:
        """Run a job, or one step of a generator job; True when it has more steps."""
        if job.cancelled:
            self._close(job)
            self.job_event.emit(job, "done", None)
            return False
        try:
            if job._gen is None:
                out = job.fn(job)
                if not isinstance(out, Iterator):
                    self.job_event.emit(job, "result", out)
                    self.job_event.emit(job, "done", None)
                    return False
                job._gen = out
            try:
                value = next(job._gen)
            except StopIteration as stop:
                self.job_event.emit(job, "result", stop.value)
                self.job_event.emit(job, "done", None)
                return False
            self.job_event.emit(job, "yield", value)
            return True
        except JobCancelled:
            self._close(job)
        except BaseException as exc:  # a failed job must never kill the model thread
            log.error("model job %r failed:\n%s", job.label, traceback.format_exc())
            self._close(job)
            self.job_event.emit(job, "error", exc)
        self.job_event.emit(job, "done", None)
        return False

    @staticmethod
    def _close(job: Job) -> None:
        if job._gen is not None and hasattr(job._gen, "close"):
            try:
                job._gen.close()
            except Exception:
                log.exception("closing job %r failed", job.label)

    # ------------------------------------------------------------------ GUI thread
    def _dispatch(self, job: Job, event: str, payload: Any) -> None:
        if event == "done":
            self._outstanding.discard(job)
        cb = {"yield": job.on_yield, "result": job.on_result, "error": job.on_error, "done": job.on_done}[
            event
        ]
        if event in ("yield", "result") and job.cancelled:
            return
        if cb is None:
            if event == "error":
                log.error("unhandled error in model job %r: %r", job.label, payload)
            return
        if event == "done":
            cb()
        else:
            cb(payload)
