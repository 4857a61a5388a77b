"""The simulated annotator of the LIT paper: where it clicks and when it gives up and paints the mask.

On a frame whose mask has IoU below τ with the ground truth, the annotator clicks up to ``max_clicks``
times. Each click is SAM 2's simulated click (``sample_one_point_from_error_center``, the protocol of
its interactive evaluation): the pixel deepest inside all missed foreground (→ positive click) or
deepest inside all false positives (→ negative click), whichever is deeper, which is where a person
aims: the middle of the biggest mistake. After each click the model
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

import numpy as np

from litlora_desktop.core.lora.losses import VOID
from litlora_desktop.core.sam2.error_click import error_centre_click
from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.eval.metrics import jaccard


def next_click(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> Click | None:
    """The click the simulated annotator makes to fix ``pred`` towards ``gt``; None when they agree.

    SAM 2's rule (``core.sam2.error_click``): the deepest point of all missed pixels against the
    deepest of all false positives, the deeper one wins. ``void`` pixels are no error and border the
    errors like the image's edge: a click never lands in void, and keeps away from it.
    """
    return error_centre_click(pred, gt, void)


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
        return training_target(self.mask, self.void)


def training_target(mask: np.ndarray, void: np.ndarray | None) -> np.ndarray:
    """A mask as a LIT-LoRA training target: the bool mask, or uint8 0/1 with 255 (ignore) on void."""
    if void is None or not np.any(void):
        return mask
    return np.where(np.asarray(void, bool), VOID, mask).astype(np.uint8)


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
