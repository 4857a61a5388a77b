"""What every generated video shares: frame-source attributes and rendering on demand, cached.

A scene renders frame k and its label map from its seed only when asked, and keeps the last few, so
``frame(k)`` followed by ``mask(id, k)`` for each object renders frame k once, and a 2,000-frame scene
costs a few hundred kilobytes. Subclasses say what is drawn (``_draw``) and which ids are objects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

_RENDER_CACHE_FRAMES = 4


class RenderedScene:
    """Base of the synthetic scenes: ``num_frames``, ``height``, ``width``, ``fps``, ``frame(k)``,
    ``mask(obj_id, k)`` and ``label_map(k)``, as `FrameSource` readers and the evaluation use them."""

    def __init__(self, num_frames: int, height: int, width: int, fps: float) -> None:
        self._num_frames, self._height, self._width, self._fps = (
            int(num_frames),
            int(height),
            int(width),
            float(fps),
        )
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def height(self) -> int:
        return self._height

    @property
    def width(self) -> int:
        return self._width

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def object_ids(self) -> list[int]:
        raise NotImplementedError

    def frame(self, k: int) -> np.ndarray:
        """Frame k as (H, W, 3) uint8 RGB; a fresh array the caller may modify."""
        return self._render(k)[0].copy()

    def mask(self, obj_id: int, k: int) -> np.ndarray:
        """Visible ground-truth mask of object ``obj_id`` in frame k, (H, W) bool."""
        if obj_id not in self.object_ids:
            raise KeyError(f"no object {obj_id} in this scene; objects are {self.object_ids}")
        return self._render(k)[1] == obj_id

    def label_map(self, k: int) -> np.ndarray:
        """(H, W) uint8: the id of the object seen at each pixel, 0 for background."""
        return self._render(k)[1].copy()

    def _draw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _render(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = int(k)
        if not 0 <= k < self._num_frames:
            raise IndexError(f"frame {k} is out of range: this scene has frames 0..{self._num_frames - 1}")
        with self._lock:
            hit = self._cache.get(k)
            if hit is not None:
                self._cache.move_to_end(k)
                return hit
        out = self._draw(k)
        for a in out:
            a.flags.writeable = False
        with self._lock:
            self._cache[k] = out
            while len(self._cache) > _RENDER_CACHE_FRAMES:
                self._cache.popitem(last=False)
        return out


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with features about ``cell`` pixels wide."""
    gh, gw = max(2, round(h / cell) + 2), max(2, round(w / cell) + 2)
    return cv2.resize(rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def fractal_noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Octaves of value noise, rescaled to [0, 1]: the grain of every generated texture."""
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += amp * smooth_noise(rng, h, w, max(cell, 1.5))
        norm += amp
        amp, cell = amp * 0.5, cell / 2
    total /= norm
    return (total - total.min()) / max(float(total.max() - total.min()), 1e-6)
