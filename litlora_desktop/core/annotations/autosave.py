"""Autosave: the project written a few seconds after the user's last change, on its own thread.

The autosave is a state of its own (``autosave.json``) beside the explicit save, so it never
replaces what the user chose to save; reopening offers it when it holds newer work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litlora_desktop.core.annotations.project import Project

log = logging.getLogger(__name__)


class Autosaver:
    """Saves a few seconds after the last change, on a background thread; no Qt.

    Debounced: a burst of edits (propagation over 500 frames) causes one save ``delay`` seconds
    after it ends, but never later than ``max_delay`` after the first unsaved change, so work is
    on disk within seconds even while edits keep coming. A failing save is reported through
    ``on_error`` and retried after ``max_delay``.
    """

    def __init__(
        self,
        save: Callable[[], object],
        delay: float = 2.0,
        max_delay: float = 10.0,
        on_error: Callable[[BaseException], None] | None = None,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        self._save = save
        self.delay, self.max_delay = delay, max_delay
        self._on_error, self._on_saved = on_error, on_saved
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()
        self._first_change: float | None = None
        self._last_change = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._detach: Callable[[], None] | None = None

    @classmethod
    def for_project(cls, project: Project, **kwargs: Any) -> Autosaver:
        """An autosaver writing ``project``'s autosave, notified by every store and UI-state change."""
        saver = cls(project.write_autosave, **kwargs)
        detach_store = project.store.add_listener(lambda _change: saver.notify_changed())
        project._meta_listeners.append(saver.notify_changed)

        def detach() -> None:
            detach_store()
            with contextlib.suppress(ValueError):
                project._meta_listeners.remove(saver.notify_changed)

        saver._detach = detach
        return saver

    def notify_changed(self) -> None:
        """Something changed: schedule a save (cheap; call it as often as you like)."""
        with self._cond:
            if self._stopping:
                return
            now = time.monotonic()
            self._last_change = now
            if self._first_change is None:
                self._first_change = now
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="litlora-autosave", daemon=True)
                self._thread.start()
            self._cond.notify()

    @property
    def pending(self) -> bool:
        """True while a change waits to be saved."""
        return self._first_change is not None

    def flush(self) -> None:
        """Save now, in the caller's thread, if a change is pending (e.g. before quitting)."""
        with self._cond:
            pending, self._first_change = self._first_change is not None, None
        if pending:
            self._do_save()

    def stop(self, flush: bool = True) -> None:
        """Stop the thread; by default write what is pending first."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._detach is not None:
            self._detach()
        if flush:
            self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._first_change is None:
                    self._cond.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                due = min(self._last_change + self.delay, self._first_change + self.max_delay)
                if now < due:
                    self._cond.wait(due - now)
                    continue
                self._first_change = None
            self._do_save()

    def _do_save(self) -> None:
        with self._save_lock:
            try:
                self._save()
            except Exception as exc:
                log.exception("autosave failed")
                with self._cond:  # retry later rather than give up on the user's work
                    if self._first_change is None:
                        self._first_change = time.monotonic()
                        self._last_change = self._first_change + self.max_delay - self.delay
                if self._on_error is not None:
                    self._on_error(exc)
                return
        if self._on_saved is not None:
            self._on_saved()
