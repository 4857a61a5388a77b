"""What the user gives the tracker for an object on a frame: clicks, a box, or a mask.

Coordinates are video pixels; converting them to the model's input is the tracker's job
(``preprocess.points_to_model``), so the UI and the evaluation never see model coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Box", "Click", "FramePrompts"]


@dataclass(frozen=True)
class Click:
    """A click in video pixel coordinates; positive adds to the object, negative removes."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Box:
    """A box in video pixel coordinates (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"a box needs x1 > x0 and y1 > y0, got {self}")


@dataclass
class FramePrompts:
    """What the user gave for one object on one frame: clicks (and a box), or a mask."""

    clicks: list[Click] = field(default_factory=list)
    box: Box | None = None
    mask: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return not self.clicks and self.box is None and self.mask is None
