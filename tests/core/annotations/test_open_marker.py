"""A project open in one window is marked in its folder, so that another window asks first."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from litlora_desktop.core.annotations.open_marker import MARKER, OpenMark, opened_elsewhere, unmark


def _marker(folder, host, pid):
    (folder / MARKER).write_text(json.dumps({"host": host, "pid": pid, "since": "2026-12-03T10:00:00+00:00"}))


def test_only_a_live_process_elsewhere_counts(tmp_path):
    mark = OpenMark()
    mark.set(tmp_path)
    assert (tmp_path / MARKER).is_file() and opened_elsewhere(tmp_path) is None  # this process's own
    mark.set(None)
    assert not (tmp_path / MARKER).exists()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _marker(tmp_path, socket.gethostname(), int(dead.stdout))
    assert opened_elsewhere(tmp_path) is None  # a window that died here: stale
    _marker(tmp_path, socket.gethostname(), os.getppid())
    other = opened_elsewhere(tmp_path)
    assert other is not None and other.pid == os.getppid()
    unmark(tmp_path)
    assert (tmp_path / MARKER).is_file()  # another's mark is not this process's to take away
    _marker(tmp_path, "another-machine", 1)
    assert opened_elsewhere(tmp_path).host == "another-machine"  # cannot be checked: it counts
    (tmp_path / MARKER).write_text("{torn")
    assert opened_elsewhere(tmp_path) is None
