"""Region similarity J (IoU) and boundary accuracy F, as the DAVIS benchmark defines them.

F compares the two masks' contours: a predicted contour pixel counts as correct when a ground-truth
contour pixel lies within a tolerance of ``bound_th`` times the image diagonal (DAVIS: 0.008, i.e.
about 8 px at 854x480), and the other way round for recall. Written with OpenCV and NumPy only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DEFAULT_BOUND_TH = 0.008


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks agree perfectly (1.0), as in DAVIS."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide inner contour of a mask: foreground pixels with a background 4-neighbour.

    Pixels on the image border count as contour (the frame edge cuts the object there).
    """
    m = np.pad(np.asarray(mask, bool), 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return m[1:-1, 1:-1] & ~inner


def _disk(radius: int) -> np.ndarray:
    """A filled disk (dx^2 + dy^2 <= r^2) as a dilation kernel."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (xx * xx + yy * yy <= radius * radius).astype(np.uint8)


def tolerance_pixels(shape: tuple[int, int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """The contour tolerance in pixels: ``bound_th`` below 1 is a fraction of the image diagonal."""
    if bound_th >= 1:
        return int(bound_th)
    return math.ceil(bound_th * math.hypot(*shape))


def f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = DEFAULT_BOUND_TH) -> float:
    """Boundary F-measure of two boolean masks (harmonic mean of contour precision and recall)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"masks differ in size: {pred.shape} vs {gt.shape}")
    pb, gb = boundary(pred), boundary(gt)
    n_p, n_g = np.count_nonzero(pb), np.count_nonzero(gb)
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    kernel = _disk(tolerance_pixels(pred.shape, bound_th))
    g_dil = cv2.dilate(gb.astype(np.uint8), kernel) > 0
    p_dil = cv2.dilate(pb.astype(np.uint8), kernel) > 0
    precision = np.count_nonzero(pb & g_dil) / n_p
    recall = np.count_nonzero(gb & p_dil) / n_g
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
