"""The evaluation's progress on stderr: a live bar on a terminal, one line per sequence in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """A one-line progress bar on a terminal; one line per finished sequence otherwise (logs, CI)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.done = max(total, 1), 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream is not None
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self._last = 0.0
        self.label = ""

    def update(self, n: int = 1, label: str | None = None, finished: str | None = None) -> None:
        self.done = min(self.total, self.done + n)
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and (now - self._last > 0.2 or self.done == self.total or finished):
            self._last = now
            frac = self.done / self.total
            el = now - self.t0
            eta = el / frac - el if frac > 0 else 0.0
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            self.stream.write(
                f"\r[{bar}] {100 * frac:5.1f}% {self.done}/{self.total} frames "
                f"{_hms(el)} elapsed, {_hms(eta)} left  {self.label[:40]:<40}"
            )
            self.stream.flush()
        if finished and not self.tty:
            self.stream.write(f"[{100 * self.done / self.total:5.1f}%] {finished}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"
