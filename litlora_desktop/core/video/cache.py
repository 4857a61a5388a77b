"""The decoded-frame cache of a `VideoSource`: an LRU bounded in bytes, safe to share between threads.

Separate from the readers because it is what lets cache hits skip the decoder's lock: a thumbnail
request from the GUI never waits behind a worker's decode.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["FrameCache"]


class FrameCache:
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
