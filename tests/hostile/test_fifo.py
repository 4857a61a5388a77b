"""Named pipes (FIFOs) in place of files: opening one blocks until a writer appears, which froze the
GUI or the model thread forever. Only regular files are read; anything else gets one sentence.

Each open runs in a daemon thread with a deadline; on a hang the test unblocks the reader by
opening the pipe for writing, so a regression fails the test instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from litlora_desktop.core.annotations.formats import AnnotationImportError, import_annotations
from litlora_desktop.core.annotations.manifest import ProjectError
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.errors import VideoError
from litlora_desktop.core.video.sources import VideoSource

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
DEADLINE = 10.0


def _unblock(fifo: Path) -> None:
    """Let a reader stuck in open() or read() on `fifo` go: open the write end, then close it."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _outcome(fn: Callable[[], object], fifo: Path) -> BaseException | None:
    box: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            box.append(exc)
        else:
            box.append(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(DEADLINE)
    if t.is_alive():
        for _ in range(20):
            _unblock(fifo)
            t.join(0.2)
            if not t.is_alive():
                break
        pytest.fail(f"reading the named pipe {fifo.name} blocked for {DEADLINE:g} s (the app would freeze)")
    return box[0]


def _assert_sentence(exc: BaseException | None, kind: type[BaseException], name: str) -> None:
    assert isinstance(exc, kind), f"expected {kind.__name__}, got {exc!r}"
    msg = str(exc)
    assert name in msg and "regular file" in msg, msg
    assert "\n" not in msg and "Errno" not in msg, msg


def test_project_json_as_a_pipe(tmp_path):
    folder = tmp_path / "p.litlora"
    folder.mkdir()
    os.mkfifo(folder / "project.json")
    exc = _outcome(lambda: Project.open(folder), folder / "project.json")
    _assert_sentence(exc, ProjectError, "project.json")


def test_video_as_a_pipe(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    exc = _outcome(lambda: VideoSource.open(fifo), fifo)
    _assert_sentence(exc, VideoError, "clip.mp4")


@pytest.mark.parametrize("name", ["ann.json", "ann.xml"])
def test_import_file_as_a_pipe(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    store = AnnotationStore(48, 64, 10)
    exc = _outcome(lambda: import_annotations(store, fifo), fifo)
    _assert_sentence(exc, AnnotationImportError, name)
    assert not store.objects


def test_davis_mask_as_a_pipe(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    os.mkfifo(folder / "00000.png")
    store = AnnotationStore(48, 64, 10)
    exc = _outcome(lambda: import_annotations(store, folder), folder / "00000.png")
    _assert_sentence(exc, AnnotationImportError, "00000.png")
