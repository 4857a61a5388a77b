"""How good is a SAM2 at what the app asks of it: one click, a box, tracking forward and back.

Measured through the app's own `Tracker`, on any frame source with ground truth, so the figures are
those a user gets. The accuracy tests (on the shipped demo model and sample video) and
``benchmarks/demo_quality.py`` use these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.ground_truth import centre_point
from litlora_desktop.eval.metrics import f_measure, jaccard

MaskFn = Callable[[int, int], np.ndarray]
"""``gt(object_id, frame) -> (H, W) bool``."""


def bounding_box(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def click_iou(model: torch.nn.Module, source, gt: MaskFn, obj: int, frame: int = 0) -> float:
    """IoU of the mask one positive click at the object's centre gives."""
    with Tracker(model, source) as tr:
        tr.add_object(1)
        return jaccard(tr.add_clicks(1, frame, [Click(*centre_point(gt(obj, frame)))]).mask, gt(obj, frame))


def box_iou(model: torch.nn.Module, source, gt: MaskFn, obj: int, frame: int = 0) -> float:
    """IoU of the mask the object's bounding box gives."""
    with Tracker(model, source) as tr:
        tr.add_object(1)
        return jaccard(tr.add_clicks(1, frame, [], box=bounding_box(gt(obj, frame))).mask, gt(obj, frame))


@dataclass
class TrackScore:
    """Per-frame J and F of one object tracked from a ground-truth mask (the start frame left out)."""

    j: list[float]
    f: list[float]

    @property
    def mean_j(self) -> float:
        return float(np.mean(self.j)) if self.j else float("nan")

    @property
    def mean_jf(self) -> float:
        return float((np.mean(self.j) + np.mean(self.f)) / 2) if self.j else float("nan")


def track_objects(
    model: torch.nn.Module,
    source,
    gt: MaskFn,
    objects: Sequence[int],
    *,
    reverse: bool = False,
    start: int | None = None,
) -> dict[int, TrackScore]:
    """Track each object from its ground-truth mask on ``start`` (first frame, or last with
    ``reverse``) to the other end of the video, as the app's propagation does; score every frame."""
    n = source.num_frames
    start = (n - 1 if reverse else 0) if start is None else start
    scores = {o: TrackScore([], []) for o in objects}
    with Tracker(model, source) as tr:
        for o in objects:
            tr.add_object(o)
            tr.add_mask(o, start, gt(o, start))
        for res in tr.propagate(start, reverse=reverse):
            for o in objects:
                want, got = gt(o, res.frame_index), res.masks[o].mask
                scores[o].j.append(jaccard(got, want))
                scores[o].f.append(f_measure(got, want))
    return scores
