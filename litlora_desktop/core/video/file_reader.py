"""Exact random access into a video file through OpenCV's FFmpeg backend.

OpenCV's ``CAP_PROP_POS_FRAMES`` seek converts the index to a timestamp and trusts the container; with
variable frame rates, odd timestamps or a wrong frame count in the header it can land on the wrong
frame. `FileReader` therefore checks every seek against the presentation timestamps (PTS) it saw
while decoding from the start, and decodes forward from a verified point when needed. Decoding from
the start is the ground truth; the index of timestamps grows as frames are decoded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litlora_desktop.core.files import require_regular_file
from litlora_desktop.core.video.errors import VideoError, require_text_name, shown_path
from litlora_desktop.core.video.folder_reader import DEFAULT_FOLDER_FPS

__all__ = ["FileReader", "open_capture", "quiet_video_backends"]

# Beyond this many frames ahead, seeking (one keyframe-to-target decode) beats decoding forward.
_FORWARD_DECODE_LIMIT = 30
_SEEK_ATTEMPTS = 6


def quiet_video_backends() -> None:
    """Keep FFmpeg's and OpenCV's own lines about a file they cannot read ("moov atom not found",
    "[ WARN:0] global cap.cpp ... can't be used to capture by name") off the terminal, where they
    stood beside the one sentence this app says about it. Only fatal ones go through.

    Called by the app and the command lines when they start (and by a Ray task, a process of its
    own), not on import: a program that embeds this package keeps its own settings. Levels the user
    set (``OPENCV_FFMPEG_LOGLEVEL=16`` shows FFmpeg's errors, ``OPENCV_LOG_LEVEL``) win."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL; read when FFmpeg starts
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def open_capture(path: str) -> Any:
    """A capture on a regular file, FFmpeg backend; VideoError for anything else (a pipe, a device)."""
    try:
        require_regular_file(path)  # OpenCV would block for ever on a named pipe
    except OSError as exc:
        name = shown_path(os.path.basename(path))
        raise VideoError(f"'{name}' cannot be opened as a video: {exc.strerror or exc}.") from None
    # FFmpeg explicitly: the generic backend would read '%d' in a file name as an image pattern.
    return cv2.VideoCapture(path, cv2.CAP_FFMPEG)


class FileReader:
    """Exact random access into a video file through OpenCV's FFmpeg backend.

    `_pts[i]` is the timestamp of frame i as found by decoding from the start; it grows as frames
    are decoded and identifies where any seek really landed. `_pos` is the index of the frame last
    grabbed (-1: before the first frame, None: unknown).
    """

    def __init__(self, path: Path, capture_factory: Callable[[str], Any] = open_capture) -> None:
        self.path = path
        self._factory = capture_factory
        require_text_name(path)
        self._cap = self._new_capture()
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FOLDER_FPS
        self._pts: list[float] = []
        self._pts_index: dict[float, int] = {}
        self._pts_reliable = True
        self._pos: int | None = -1
        self.complete = False  # the true end of the stream has been seen
        ok, first = self._cap.read()
        if not ok or first is None or first.ndim != 3:
            self.close()
            raise VideoError(f"The file '{path.name}' contains no video frames that can be decoded.")
        # Size from a decoded frame, not the header: OpenCV may rotate frames per the file's metadata.
        self.height, self.width = first.shape[:2]
        self._pos = 0
        self._record(0)
        try:
            self.num_frames = self._verified_count(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        except BaseException:
            self.close()
            raise

    def _new_capture(self) -> Any:
        cap = self._factory(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise VideoError(
                f"The file '{self.path.name}' is not a video OpenCV can read: it may be damaged, "
                "incomplete, or in a format without a decoder here."
            )
        return cap

    def _verified_count(self, header: float) -> int:
        """The header's frame count if a probe confirms it (frame n-1 decodes, frame n does not);
        otherwise the count found by decoding the whole file once."""
        if math.isfinite(header) and 1 <= header < 1e9:
            n = round(header)
            probe = self._factory(str(self.path))
            try:
                if probe.isOpened() and (n == 1 or probe.set(cv2.CAP_PROP_POS_FRAMES, n - 1)):
                    if probe.grab() and not probe.grab():
                        return n
            finally:
                probe.release()
        self.num_frames = 1 << 62  # no bound while scanning
        self.scan()
        return len(self._pts)

    def scan(self, max_frames: int | None = None) -> bool:
        """Decode forward from the last indexed frame (no colour conversion), up to `max_frames`
        frames; True once every frame is indexed."""
        if len(self._pts) >= self.num_frames:
            return True
        self._goto(len(self._pts) - 1)
        budget = math.inf if max_frames is None else max_frames
        while budget > 0:
            if not self._grab_next():
                return True
            budget -= 1
        return len(self._pts) >= self.num_frames

    @property
    def indexed_frames(self) -> int:
        return len(self._pts)

    def read(self, index: int) -> np.ndarray:
        if self._pos != index:
            self._goto(index)
        ok, bgr = self._cap.retrieve()
        if not ok or bgr is None or bgr.shape[:2] != (self.height, self.width):
            self._pos = None
            raise VideoError(
                f"Frame {index} of '{self.path.name}' could not be decoded: the file may be damaged."
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    # -- positioning ------------------------------------------------------------------------------

    def _goto(self, k: int) -> None:
        """Make frame k the last grabbed frame, exactly."""
        if self._pos == k:
            return
        target = min(k, len(self._pts) - 1)  # the furthest frame whose timestamp is known
        p = self._pos
        if not (p is not None and p < k and target - p <= _FORWARD_DECODE_LIMIT):
            self._seek_at_or_before(target)
        while self._pos is not None and self._pos < k:
            if not self._grab_next():
                raise IndexError(
                    f"frame {k} is out of range: '{self.path.name}' ends after {len(self._pts)} frames "
                    "(its header promised more; the file may be truncated)"
                )
        if self._pos != k:  # a timestamp disagreed with the index: start over from the beginning
            self._rewind()
            self._goto(k)

    def _seek_at_or_before(self, j: int) -> None:
        """Land on a frame i <= j whose index is certain: by seek when timestamps identify frames,
        else by reopening the file (frame -1)."""
        if self._pts_reliable and j > 0:
            guess, back = j, 1
            for _ in range(_SEEK_ATTEMPTS):
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, guess)
                landed = self._pts_index.get(self._cap.get(cv2.CAP_PROP_PTS)) if self._cap.grab() else None
                if landed is not None and landed <= j:
                    self._pos = landed
                    return
                # Overshot, or landed somewhere unknown: aim earlier, further each time.
                guess -= back + (landed - j if landed is not None else 0)
                back *= 2
                if guess < 0:
                    break
        self._rewind()

    def _rewind(self) -> None:
        self._cap.release()
        self._cap = self._new_capture()
        self._pos = -1

    def _grab_next(self) -> bool:
        """Grab the frame after `_pos`, extend or check the timestamp index; False at the end."""
        assert self._pos is not None
        if self._pos + 1 >= self.num_frames:
            return False
        if not self._cap.grab():
            self._found_end(self._pos + 1)
            return False
        self._pos += 1
        if self._pos == len(self._pts):
            self._record(self._pos)
        elif self._pts_reliable and self._cap.get(cv2.CAP_PROP_PTS) != self._pts[self._pos]:
            # The stream disagrees with its own first decode: stop trusting timestamps, and let
            # the caller rewind and decode from the start, which is always right.
            self._pts_reliable = False
            self._pos = None
        return True

    def _record(self, index: int) -> None:
        pts = float(self._cap.get(cv2.CAP_PROP_PTS))
        last = self._pts[-1] if self._pts else -math.inf
        if not math.isfinite(pts) or pts < 0 or pts <= last:
            self._pts_reliable = False  # seeks can no longer be checked; fall back to rewinding
        self._pts.append(pts)
        self._pts_index.setdefault(pts, index)

    def _found_end(self, count: int) -> None:
        self.complete = True
        self._pos = None
        if count < self.num_frames:
            self.num_frames = count

    def close(self) -> None:
        self._cap.release()
