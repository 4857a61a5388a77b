"""Where a simulated annotator clicks to fix a mask: SAM 2's rule, shared by training and evaluation.

SAM 2 trains and evaluates its interactive mode with a click at the centre of the error: the pixel
of all false negatives that lies deepest inside them (distance transform, with the image's edge as a
border) against the deepest of all false positives; the deeper wins, positive when it is a missed
part (a tie is negative). Not the largest connected error region: a thin but long miss loses to a
compact one, as in SAM 2's own ``sample_one_point_from_error_center``, which a test compares with.
"""

from __future__ import annotations

import cv2
import numpy as np

from litlora_desktop.core.sam2.prompts import Click

__all__ = ["error_centre_click"]


def _depth(region: np.ndarray) -> np.ndarray:
    """Distance of every pixel of ``region`` to its border, the image's edge counting as border."""
    padded = np.pad(region.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def error_centre_click(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> Click | None:
    """The click at the centre of the error of ``pred`` against ``gt`` (both (H, W) bool); None when
    they agree. ``void`` pixels are no error and border the errors like the image's edge, so a
    click never lands in void."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    valid = np.ones_like(gt) if void is None else ~np.asarray(void, bool)
    fn, fp = gt & ~pred & valid, pred & ~gt & valid
    if not fn.any() and not fp.any():
        return None
    d_fn, d_fp = _depth(fn), _depth(fp)
    i_fn, i_fp = int(np.argmax(d_fn)), int(np.argmax(d_fp))  # first in row-major order, as SAM 2
    positive = bool(d_fn.flat[i_fn] > d_fp.flat[i_fp])
    y, x = divmod(i_fn if positive else i_fp, gt.shape[1])
    return Click(x=float(x), y=float(y), positive=positive)
