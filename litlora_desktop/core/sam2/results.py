"""What the tracker gives back: one object's mask on a frame, and every object's masks on a frame.

Masks are at video resolution (bool, H x W), so callers never resample; ``kind`` says whether SAM2
tracked the mask, took it from the user's prompt, or reused the stored result of a prompted frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["FrameResult", "MaskKind", "ObjectMask"]

MaskKind = Literal["tracked", "prompted", "reused"]


@dataclass
class ObjectMask:
    """One object's mask on one frame at video resolution."""

    object_id: int
    frame_index: int
    mask: np.ndarray  # (H, W) bool
    score: float  # object score logit: > 0 means SAM2 thinks the object is visible
    kind: MaskKind

    @property
    def present(self) -> bool:
        return self.score > 0


@dataclass
class FrameResult:
    """Every tracked object's mask on one frame, and where the time went (seconds)."""

    frame_index: int
    masks: dict[int, ObjectMask]
    timings: dict[str, float] = field(default_factory=dict)
