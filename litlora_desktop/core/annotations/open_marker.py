"""Which window has a project open: a small file in its folder, read before another one opens it.

Two windows on one project (on this machine, or on two sharing a network folder) write one autosave
file over each other's, and the saves of each replace the other's (a save asks first since it checks
what is on disk, but the autosave cannot). So a window that opens a project writes ``open-by.json``
there (host, process, time), removes it when it closes the project, and a window about to open a
project that another live process has open asks the user first. A marker left by a process that
died on this host is stale and ignored; one from another host cannot be checked, so it is shown with
its time and the user decides.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from litlora_desktop.core.files import read_regular_file

__all__ = ["MARKER", "OpenBy", "OpenMark", "mark_open", "opened_elsewhere", "unmark"]

MARKER = "open-by.json"


@dataclass(frozen=True)
class OpenBy:
    """Who has a project open: the host, its process id there, and since when (UTC, ISO 8601)."""

    host: str
    pid: int
    since: str


def _me() -> OpenBy:
    return OpenBy(socket.gethostname(), os.getpid(), _dt.datetime.now(_dt.timezone.utc).isoformat())


def _read(folder: Path) -> OpenBy | None:
    try:
        m = json.loads(read_regular_file(Path(folder) / MARKER))
        return OpenBy(str(m["host"]), int(m["pid"]), str(m["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def mark_open(folder: Path) -> None:
    """This process has the project open (best effort: a folder that cannot be written is no error).
    A plain write, no fsync: the GUI thread does it, and a torn marker reads as none."""
    with contextlib.suppress(OSError):
        (Path(folder) / MARKER).write_text(json.dumps(_me().__dict__), encoding="utf-8")


def unmark(folder: Path) -> None:
    """This process no longer has it open; another's marker is left alone."""
    held = _read(folder)
    if held is not None and held.host == socket.gethostname() and held.pid == os.getpid():
        with contextlib.suppress(OSError):
            (Path(folder) / MARKER).unlink()


def opened_elsewhere(folder: Path) -> OpenBy | None:
    """Who else has the project open now (None: nobody, this process, or a process that died here)."""
    held = _read(folder)
    if held is None:
        return None
    if held.host == socket.gethostname() and (held.pid == os.getpid() or not psutil.pid_exists(held.pid)):
        return None
    return held


class OpenMark:
    """The one project folder this window has marked open; ``set`` moves the mark (None: none)."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    def set(self, folder: Path | None) -> None:
        if folder == self.folder:
            return
        if self.folder is not None:
            unmark(self.folder)
        self.folder = folder
        if folder is not None:
            mark_open(folder)
