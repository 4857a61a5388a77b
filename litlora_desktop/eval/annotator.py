"""The simulated annotator of the LIT paper: where it clicks and when it gives up and paints the mask.

On a frame whose mask has IoU below τ with the ground truth, the annotator clicks up to ``max_clicks``
times. Each click goes into the largest connected error region (missed foreground → positive click,
false positive → negative click) at the pixel farthest from that region's boundary (a distance
transform), which is where a person aims: the middle of the biggest mistake. After each click the model
answers with a new mask; when IoU reaches τ the annotator stops. If it is still below τ after the last
click, the annotator supplies the full ground-truth mask. However many clicks it took, that frame is
one correction.

Void pixels (label 255: what the ground truth does not decide) are no one's error: they are left out of
the IoU that is compared with τ and out of the error regions, so a click never lands in void, and the
corrected mask says "ignore" there when it becomes a LIT-LoRA training target (``Correction.target``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from litlora_desktop.core.lora.losses import VOID
from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.eval.metrics import jaccard


def next_click(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> Click | None:
    """The click a careful annotator makes to fix ``pred`` towards ``gt``; None when they agree.

    The largest 8-connected error region wins (ties: the one whose interior point lies deeper). Pixels
    outside the image count as outside the region, so a click never sits on the frame's edge when the
    region has an interior. ``void`` pixels are no error and border the regions like the image's edge:
    a click never lands in void, and keeps away from it.
    """
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    valid = np.ones_like(gt) if void is None else ~np.asarray(void, bool)
    regions = []  # (area, positive, labels, k, error mask)
    for positive, err in ((True, gt & ~pred & valid), (False, pred & ~gt & valid)):
        if err.any():
            n, labels, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
            regions += [(int(stats[k, cv2.CC_STAT_AREA]), positive, labels, k, err) for k in range(1, n)]
    if not regions:
        return None
    largest = max(r[0] for r in regions)
    best: tuple[float, int, int, bool] | None = None  # (depth, x, y, positive)
    for area, positive, labels, k, err in regions:
        if area != largest:
            continue
        dist = cv2.distanceTransform(np.pad(err, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        d = np.where(labels == k, dist[1:-1, 1:-1], -1.0)
        y, x = np.unravel_index(int(np.argmax(d)), d.shape)
        if best is None or d[y, x] > best[0]:
            best = (float(d[y, x]), int(x), int(y), positive)
    assert best is not None
    return Click(x=float(best[1]), y=float(best[2]), positive=best[3])


@dataclass
class Correction:
    """What the simulated annotator did on one frame, and the mask they ended with."""

    mask: np.ndarray
    clicks: list[Click] = field(default_factory=list)
    used_ground_truth: bool = False
    iou: float = 1.0
    void: np.ndarray | None = None

    @property
    def num_clicks(self) -> int:
        return len(self.clicks)

    @property
    def target(self) -> np.ndarray:
        """The mask as a LIT-LoRA training target: the bool mask, or uint8 0/1 with 255 on void pixels
        (``LitLoRA.add_correction`` takes both), so that the adapters are not taught what the ground
        truth leaves undecided."""
        if self.void is None or not np.any(self.void):
            return self.mask
        return np.where(np.asarray(self.void, bool), VOID, self.mask).astype(np.uint8)


def correct_frame(
    pred: np.ndarray,
    gt: np.ndarray,
    apply_click: Callable[[Click], np.ndarray],
    tau: float = 0.5,
    max_clicks: int = 3,
    void: np.ndarray | None = None,
) -> Correction:
    """Click until IoU reaches ``tau`` (at most ``max_clicks``), else fall back to the ground truth.

    ``apply_click`` sends one click to the model (clicks accumulate on the frame) and returns the new
    mask. The caller puts the ground-truth mask into the model when ``used_ground_truth`` is set.
    IoU and clicks ignore ``void`` pixels; the correction carries them for its training ``target``.
    """
    gt = np.asarray(gt, bool)
    mask = np.asarray(pred, bool)
    void = None if void is None else np.asarray(void, bool)
    clicks: list[Click] = []
    iou = jaccard(mask, gt, void)
    while iou < tau and len(clicks) < max_clicks:
        click = next_click(mask, gt, void)
        if click is None:
            break
        clicks.append(click)
        mask = np.asarray(apply_click(click), bool)
        iou = jaccard(mask, gt, void)
    if iou < tau:
        return Correction(mask=gt.copy(), clicks=clicks, used_ground_truth=True, iou=1.0, void=void)
    return Correction(mask=mask, clicks=clicks, used_ground_truth=False, iou=iou, void=void)
