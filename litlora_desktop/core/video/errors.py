"""The one error every video reader raises, and the path text its messages show.

Kept apart from the readers so that each of them, and `VideoSource` above them, can raise the same
error without importing one another.
"""

from __future__ import annotations

import os

__all__ = ["VideoError", "shown_path"]


class VideoError(Exception):
    """A video cannot be opened or read; the message names the file and says why, for the user."""


def shown_path(path: str | os.PathLike[str] | bytes) -> str:
    """A path as text that can always be shown and logged: bytes that are not UTF-8 (a name made on
    another system) appear as ``\\xff`` escapes instead of lone surrogates that break printing."""
    text = os.fsdecode(os.fspath(path))
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
