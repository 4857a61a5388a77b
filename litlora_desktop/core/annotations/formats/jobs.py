"""Progress and cancel plumbing shared by every exporter and importer.

Each takes ``progress(done, total)`` and ``should_cancel()`` so that a worker can drive it from a
background thread and the user can stop it; a cancel raises :class:`ExportCancelled` (for imports
too), and what was cancelled leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]


class ExportCancelled(Exception):
    """The user cancelled; nothing was written."""


class Job:
    """Counts the steps of one export or import, reports them, and stops it when the user cancels."""

    def __init__(self, total: int, progress: Progress | None, should_cancel: ShouldCancel | None) -> None:
        self.total, self.done = max(total, 0), 0
        self._progress, self._cancel = progress, should_cancel
        self.check()

    def check(self) -> None:
        """ExportCancelled when the user asked to stop."""
        if self._cancel is not None and self._cancel():
            raise ExportCancelled("cancelled")

    def step(self, n: int = 1) -> None:
        """``n`` more steps done: report them, then stop here if the user cancelled."""
        self.done += n
        if self._progress is not None:
            self._progress(min(self.done, self.total), self.total)
        self.check()
