"""The one error every video reader raises, and the path text its messages show.

Kept apart from the readers so that each of them, and `VideoSource` above them, can raise the same
error without importing one another.
"""

from __future__ import annotations

import os

__all__ = ["VideoError", "require_text_name", "shown_path"]


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


def require_text_name(path: str | os.PathLike[str], action: str = "read") -> None:
    """OpenCV's FFmpeg backend takes a path as UTF-8 text and crashes the process (a segfault in
    ``cv2.VideoCapture`` and ``cv2.VideoWriter`` alike) on a name that is not: refuse such a name before
    OpenCV ever sees it. ``action``: "read" or "write", for the message."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        who = "video decoder cannot read" if action == "read" else "video encoder cannot write"
        raise VideoError(
            f"The name of '{shown_path(path)}' contains bytes that are not valid text (UTF-8), which the "
            f"{who}: rename the file (and its folder, if that is the one) and try again."
        ) from None
