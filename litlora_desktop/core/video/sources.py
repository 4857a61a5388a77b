"""Frames by index, exactly, with a bounded cache: the `FrameSource` everything reads frames through.

Annotations are stored per frame index, so frame k must be the same picture however it was reached:
by playing forward, by a jump on the timeline, or by the tracker's worker. `VideoSource` puts one
reader behind a lock and a byte-bounded cache: a `FileReader` for video files (exact seeks, see
``file_reader``) or a `FolderReader` for image folders. `ArrayVideoSource` serves frames held in memory.

No Qt here: the UI and the workers both use this module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from litlora_desktop.core.video.cache import FrameCache
from litlora_desktop.core.video.errors import VideoError, shown_path
from litlora_desktop.core.video.file_reader import FileReader
from litlora_desktop.core.video.folder_reader import IMAGE_EXTENSIONS, FolderReader

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "ArrayVideoSource",
    "FrameSource",
    "VideoSource",
    "check_index",
]

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
_SCAN_CHUNK = 200  # frames decoded per hold of the decoder lock in build_index


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


def check_index(index: int, num_frames: int, name: str) -> int:
    """``index`` as an int, or the TypeError/IndexError every source gives for a bad frame index."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, got {type(index).__name__}")
    if not 0 <= index < num_frames:
        raise IndexError(f"frame {index} is out of range: '{name}' has frames 0..{num_frames - 1}")
    return int(index)


class VideoSource(FrameSource):
    """A video file or an image folder with exact random access and a byte-bounded LRU cache.

    Thread-safe: one lock guards the decoder (a worker may decode while the GUI asks for a
    thumbnail); cache hits do not wait for it. Returned frames are read-only views of cached
    arrays: copy before drawing on one.
    """

    def __init__(self, reader: FileReader | FolderReader, name: str, cache_bytes: int) -> None:
        self._reader = reader
        self._name = name
        self._cache = FrameCache(cache_bytes)
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
                reader: FileReader | FolderReader = FolderReader(p, fps)
            elif p.suffix.lower() in IMAGE_EXTENSIONS:
                raise VideoError(
                    f"'{p.name}' is a single image, not a video: open the folder that holds all the frames."
                )
            else:
                reader = FileReader(p)
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
        return isinstance(self._reader, FolderReader)

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
        return self._reader.indexed_frames if isinstance(self._reader, FileReader) else self.num_frames

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
        if not isinstance(self._reader, FileReader):
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
