"""Reading files that the user or another program may have replaced with something else.

A named pipe (FIFO) opened for reading blocks until a writer appears, which can be never: the GUI
or a worker thread froze for good on a ``project.json``, a video or an import file that was one.
Everything the app reads from a user's folder therefore goes through :func:`read_regular_file`
(opens without blocking, then checks the opened file is a regular one) or, where a library opens
the path itself (OpenCV), through :func:`require_regular_file` first.

Everything the app writes into a project folder goes through :func:`atomic_write_bytes`: a reader
sees the old file or the new one, never a mix, and the file gets the user's usual permissions (the
umask decides, as for any file a program writes), so a shared project stays readable by the team.

No Qt here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

__all__ = [
    "NOT_REGULAR",
    "NotRegularFileError",
    "atomic_write_bytes",
    "read_regular_file",
    "require_regular_file",
]

NOT_REGULAR = "it is not a regular file (it is a named pipe, a device or a folder)"


class NotRegularFileError(OSError):
    """The path exists but is not a regular file; ``strerror`` says so in words for the user."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EINVAL, NOT_REGULAR, os.fspath(path))


def read_regular_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``; NotRegularFileError when it is a pipe, device, socket or folder.

    Opened non-blocking, so opening a FIFO returns at once, and checked on the open descriptor, so a
    file swapped for a pipe between a check and the open cannot slip through. Other OSErrors
    (missing, permission) propagate as usual.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        return f.read()


def require_regular_file(path: str | os.PathLike[str]) -> None:
    """NotRegularFileError unless ``path`` (followed through links) is a regular file; for paths
    that a library opens itself."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise NotRegularFileError(path)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; directories cannot be opened this way on Windows, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    The temporary sibling is created with ``open`` (mode 0666 less the umask), not ``mkstemp`` or a
    library's own writer (0600), so the file has the permissions any other file the user saves has.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
