"""Frames from a video file or an image folder, by index, exactly, with a bounded cache.

Annotations are stored per frame index, so frame k must be the same picture however it was reached:
by playing forward, by a jump on the timeline, or by the tracker's worker. OpenCV's
``CAP_PROP_POS_FRAMES`` seek converts the index to a timestamp and trusts the container; with
variable frame rates, odd timestamps or a wrong frame count in the header it can land on the wrong
frame. `VideoSource` therefore checks every seek against the presentation timestamps (PTS) it saw
while decoding from the start, and decodes forward from a verified point when needed. Decoding from
the start is the ground truth; the index of timestamps grows as frames are decoded.

No Qt here: the UI and the workers both use this module.
"""

from __future__ import annotations

import math
import os
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from litlora_desktop.core.files import require_regular_file

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "IMAGE_EXTENSIONS",
    "ArrayVideoSource",
    "FrameSource",
    "VideoError",
    "VideoSource",
    "natural_sort_key",
    "shown_path",
]

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
DEFAULT_FOLDER_FPS = 24.0  # an image folder has no frame rate of its own

# Beyond this many frames ahead, seeking (one keyframe-to-target decode) beats decoding forward.
_FORWARD_DECODE_LIMIT = 30
_SEEK_ATTEMPTS = 6
_SCAN_CHUNK = 200  # frames decoded per hold of the decoder lock in build_index


class VideoError(Exception):
    """A video cannot be opened or read; the message names the file and says why, for the user."""


@runtime_checkable
class FrameSource(Protocol):
    """What the tracker and the UI need from a video: size, length, rate and frames by index."""

    @property
    def name(self) -> str: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def fps(self) -> float: ...

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 RGB."""
        ...


def natural_sort_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders 'frame_2' before 'frame_10', as a person would."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name.casefold()))


def check_index(index: int, num_frames: int, name: str) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, got {type(index).__name__}")
    if not 0 <= index < num_frames:
        raise IndexError(f"frame {index} is out of range: '{name}' has frames 0..{num_frames - 1}")
    return int(index)


class _FrameCache:
    """LRU of frames bounded in bytes; frames are stored read-only so that no caller can alter them."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = max(0, int(limit_bytes))
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self.nbytes = 0
        self._lock = threading.Lock()

    def get(self, index: int) -> np.ndarray | None:
        with self._lock:
            arr = self._frames.get(index)
            if arr is not None:
                self._frames.move_to_end(index)
            return arr

    def put(self, index: int, arr: np.ndarray) -> None:
        if arr.nbytes > self.limit_bytes:
            return
        with self._lock:
            old = self._frames.pop(index, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._frames[index] = arr
            self.nbytes += arr.nbytes
            while self.nbytes > self.limit_bytes:
                _, evicted = self._frames.popitem(last=False)
                self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._frames)


# -- readers: one per kind of input, each used under VideoSource's I/O lock -----------------------


class _FolderReader:
    """Frames stored as numbered images; all must share one size."""

    def __init__(self, folder: Path, fps: float | None) -> None:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if not entries:
            raise VideoError(f"The folder '{shown_path(folder)}' is empty: it holds no frames to open.")
        files = sorted(
            (p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: natural_sort_key(p.name),
        )
        if not files:
            raise VideoError(
                f"The folder '{shown_path(folder)}' contains no images: expected frames as .jpg, .jpeg or .png files."
            )
        self.files = files
        self.width, self.height = _image_size(files[0])
        for p in files[1:]:
            w, h = _image_size(p)
            if (w, h) != (self.width, self.height):
                raise VideoError(
                    f"The image '{shown_path(p.name)}' in '{shown_path(folder)}' is {w}x{h} pixels, but '{shown_path(files[0].name)}' is "
                    f"{self.width}x{self.height}: all frames of a video must have the same size."
                )
        self.num_frames = len(files)
        self.fps = float(fps) if fps else DEFAULT_FOLDER_FPS

    def read(self, index: int) -> np.ndarray:
        p = self.files[index]
        try:
            data = np.fromfile(p, dtype=np.uint8)  # imread cannot open non-ASCII paths on Windows
        except OSError as exc:
            raise VideoError(f"Could not read the image '{shown_path(p)}': {exc.strerror or exc}.") from exc
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
        if bgr is None:
            raise VideoError(f"The image '{shown_path(p)}' is damaged or not a JPEG/PNG image.")
        if bgr.shape[:2] != (self.height, self.width):
            raise VideoError(
                f"The image '{shown_path(p.name)}' decodes to {bgr.shape[1]}x{bgr.shape[0]} pixels, not the "
                f"{self.width}x{self.height} of the other frames."
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        pass


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels; decodes as a fallback."""
    try:
        with open(path, "rb") as f:
            head = f.read(256 * 1024)
    except OSError as exc:
        raise VideoError(f"Could not read the image '{shown_path(path)}': {exc.strerror or exc}.") from exc
    size = _png_size(head) or _jpeg_size(head)
    if size is None:
        bgr = cv2.imdecode(np.frombuffer(head, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None and len(head) == 256 * 1024:
            bgr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None:
            raise VideoError(f"The image '{shown_path(path)}' is damaged or not a JPEG/PNG image.")
        size = (bgr.shape[1], bgr.shape[0])
    return size


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return (w, h) if w and h else None
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            if i + 9 > len(head):
                return None
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return (w, h) if w and h else None
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        i += 2 + length
    return None


def shown_path(path: str | os.PathLike[str] | bytes) -> str:
    """A path as text that can always be shown and logged: bytes that are not UTF-8 (a name made on
    another system) appear as ``\\xff`` escapes instead of lone surrogates that break printing."""
    text = os.fsdecode(os.fspath(path))
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_decoder_can_read_name(path: Path) -> None:
    """OpenCV's FFmpeg backend takes the path as UTF-8 text and crashes the process (a segfault in
    cv2.VideoCapture) on a name that is not: refuse such a name before OpenCV ever sees it."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise VideoError(
            f"The name of '{shown_path(path)}' contains bytes that are not valid text (UTF-8), which the "
            "video decoder cannot read: rename the file (and its folder, if that is the one) and open it again."
        ) from None


def _open_capture(path: str) -> Any:
    try:
        require_regular_file(path)  # OpenCV would block for ever on a named pipe
    except OSError as exc:
        name = shown_path(os.path.basename(path))
        raise VideoError(f"'{name}' cannot be opened as a video: {exc.strerror or exc}.") from None
    # FFmpeg explicitly: the generic backend would read '%d' in a file name as an image pattern.
    return cv2.VideoCapture(path, cv2.CAP_FFMPEG)


class _FileReader:
    """Exact random access into a video file through OpenCV's FFmpeg backend.

    `_pts[i]` is the timestamp of frame i as found by decoding from the start; it grows as frames
    are decoded and identifies where any seek really landed. `_pos` is the index of the frame last
    grabbed (-1: before the first frame, None: unknown).
    """

    def __init__(self, path: Path, capture_factory: Callable[[str], Any] = _open_capture) -> None:
        self.path = path
        self._factory = capture_factory
        _check_decoder_can_read_name(path)
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


# -- public sources ---------------------------------------------------------------------------------


class VideoSource(FrameSource):
    """A video file or an image folder with exact random access and a byte-bounded LRU cache.

    Thread-safe: one lock guards the decoder (a worker may decode while the GUI asks for a
    thumbnail); cache hits do not wait for it. Returned frames are read-only views of cached
    arrays: copy before drawing on one.
    """

    def __init__(self, reader: _FileReader | _FolderReader, name: str, cache_bytes: int) -> None:
        self._reader = reader
        self._name = name
        self._cache = _FrameCache(cache_bytes)
        self._io_lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], cache_bytes: int = DEFAULT_CACHE_BYTES, fps: float | None = None
    ) -> VideoSource:
        """Open a video file (anything OpenCV's FFmpeg reads: mp4, avi, mov, mkv, ...) or a folder of
        .jpg/.jpeg/.png frames in natural order. `fps` is used for folders (default 24).

        Raises VideoError, naming the file, when the input is missing or unusable.
        """
        p = Path(os.fsdecode(path)).expanduser()
        if not p.exists():
            raise VideoError(f"'{shown_path(p)}' does not exist: it may have been moved, renamed or deleted.")
        try:
            if p.is_dir():
                reader: _FileReader | _FolderReader = _FolderReader(p, fps)
            elif p.suffix.lower() in IMAGE_EXTENSIONS:
                raise VideoError(
                    f"'{p.name}' is a single image, not a video: open the folder that holds all the frames."
                )
            else:
                reader = _FileReader(p)
        except PermissionError as exc:
            raise VideoError(f"'{shown_path(p)}' cannot be read: permission denied.") from exc
        return cls(reader, shown_path(p.name), cache_bytes)

    # -- FrameSource ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_frames(self) -> int:
        """Frame count; checked against the file at open, lowered if the file turns out to end early."""
        return self._reader.num_frames

    @property
    def width(self) -> int:
        return self._reader.width

    @property
    def height(self) -> int:
        return self._reader.height

    @property
    def fps(self) -> float:
        return self._reader.fps

    @property
    def is_folder(self) -> bool:
        return isinstance(self._reader, _FolderReader)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as read-only (H, W, 3) uint8 RGB; the same pixels however it is reached.

        Raises IndexError outside 0..num_frames-1 and VideoError when the data cannot be decoded.
        """
        index = check_index(index, self.num_frames, self._name)
        hit = self._cache.get(index)
        if hit is not None:
            return hit
        with self._io_lock:
            if self._closed:
                raise VideoError(f"'{self._name}' has been closed.")
            hit = self._cache.get(index)  # another thread may have decoded it meanwhile
            if hit is not None:
                return hit
            arr = self._reader.read(index)
        arr.flags.writeable = False
        self._cache.put(index, arr)
        return arr

    # -- cache ----------------------------------------------------------------------------------

    @property
    def cache_bytes(self) -> int:
        """Bytes of decoded frames held now (for the UI's memory gauge)."""
        return self._cache.nbytes

    @property
    def cache_limit_bytes(self) -> int:
        return self._cache.limit_bytes

    @property
    def cached_frames(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- whole-file pass and lifetime -----------------------------------------------------------

    @property
    def indexed_frames(self) -> int:
        """Frames 0..n-1 whose positions are verified; a jump beyond them decodes the gap once."""
        return self._reader.indexed_frames if isinstance(self._reader, _FileReader) else self.num_frames

    def build_index(
        self,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Decode the whole file once (no colour conversion) and return the exact frame count.

        Optional: frames are indexed as they are first decoded anyway. A worker can call this after
        opening a long video so that the first jump far into it is as fast as any other. It works in
        chunks and releases the decoder in between, so frame() calls from other threads still get
        through; `progress(indexed, num_frames)` runs between chunks and `should_stop()` can end it.
        """
        if not isinstance(self._reader, _FileReader):
            return self.num_frames
        done = False
        while not done:
            with self._io_lock:
                if self._closed:
                    raise VideoError(f"'{self._name}' has been closed.")
                done = self._reader.scan(max_frames=_SCAN_CHUNK)
            if progress is not None:
                progress(self.indexed_frames, self.num_frames)
            if should_stop is not None and should_stop():
                break
        return self.num_frames

    def close(self) -> None:
        """Release the decoder and the cache; further reads raise VideoError."""
        with self._io_lock:
            if not self._closed:
                self._closed = True
                self._reader.close()
        self._cache.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        size = f"{self.width}x{self.height}"
        return f"VideoSource({self._name!r}, {self.num_frames} frames, {size}, {self.fps:g} fps)"


class ArrayVideoSource(FrameSource):
    """An in-memory (T, H, W, 3) uint8 RGB array as a FrameSource, for tests and benchmarks."""

    def __init__(self, frames: np.ndarray, fps: float = 24.0, name: str = "array") -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] < 1:
            raise ValueError(
                f"frames must be a (T, H, W, 3) uint8 array with T >= 1, got {frames.shape} {frames.dtype}"
            )
        self._frames = frames.view()
        self._frames.flags.writeable = False
        self._fps, self._name = float(fps), name

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_frames(self) -> int:
        return self._frames.shape[0]

    @property
    def width(self) -> int:
        return self._frames.shape[2]

    @property
    def height(self) -> int:
        return self._frames.shape[1]

    @property
    def fps(self) -> float:
        return self._fps

    def frame(self, index: int) -> np.ndarray:
        """Read-only view of frame `index`."""
        return self._frames[check_index(index, self.num_frames, self._name)]
