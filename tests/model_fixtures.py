"""Tiny random-initialised SAM2 models and small moving-texture clips, built in code in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.core.sam2.families import tiny_config as family_tiny_config
from litlora_desktop.core.sam2.models import random_model, tiny_config

FAMILY_KEYS = ("sam2.1", "sam2", "sam3", "edgetam")
"""Every model family (``core.model_ids.FAMILIES``); the tracker suite runs on each, the LIT-LoRA
suite on ``LORA_FAMILY_KEYS`` (SAM2's decoder is SAM2.1's)."""


def tiny_family_model(key: str, init_std: float = 0.02, seed: int = 0):
    """A tiny random model of a family (64 px input; SAM 3's 14-px patches make it 56)."""
    return random_model(family_tiny_config(key, 64, init_std), seed=seed)


class ClipSource:
    """A minimal in-memory FrameSource for tracker tests (independent of the video module)."""

    def __init__(self, frames: np.ndarray, fps: float = 24.0, name: str = "clip") -> None:
        self.frames = frames
        self.num_frames, self.height, self.width = frames.shape[:3]
        self.fps = fps
        self.name = name
        self.reads = 0

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(index)
        self.reads += 1
        return self.frames[index]


def moving_squares(num_frames: int = 12, height: int = 48, width: int = 80, seed: int = 0) -> np.ndarray:
    """Two textured squares drifting over a textured background; deterministic."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 90, size=(height, width, 3), dtype=np.uint8)
    tex_a = rng.integers(150, 255, size=(14, 14, 3), dtype=np.uint8)
    tex_b = rng.integers(100, 200, size=(10, 10, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], num_frames, axis=0).copy()
    for t in range(num_frames):
        ya, xa = 8 + t % 6, 6 + 2 * t % (width - 20)
        frames[t, ya : ya + 14, xa : xa + 14] = tex_a
        yb, xb = 26, width - 16 - (t % (width - 20))
        frames[t, yb : yb + 10, xb : xb + 10] = tex_b
    return frames


@pytest.fixture(scope="session")
def tiny_model():
    """One tiny SAM2 (64 px input) shared by the session; tests must not change its weights."""
    return random_model(tiny_config(64), seed=0)


@pytest.fixture
def clip() -> ClipSource:
    return ClipSource(moving_squares())
