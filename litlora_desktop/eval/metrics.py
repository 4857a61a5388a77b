"""Region similarity J (IoU) and boundary accuracy F, as the DAVIS 2017 toolkit computes them.

F compares the two masks' boundaries. A boundary pixel is one that differs from its right, bottom or
bottom-right neighbour (the toolkit's ``seg2bmap``: the contour sits half a pixel towards the origin,
and the image's own edge is no boundary). A predicted boundary pixel is correct when a ground-truth
boundary pixel lies within a disk of radius ``ceil(bound_th * diagonal)`` (DAVIS: 0.008, i.e. 8 px at
854x480), and the other way round for recall.

Void pixels (label 255 in VOS datasets, e.g. VOST) are nobody's: J counts neither agreement nor
disagreement there, and F clears them from both masks before taking the boundaries, as the toolkit
does. Written with OpenCV and NumPy only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DEFAULT_BOUND_TH = 0.008


def _void(void: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``void`` as a boolean mask of ``shape``, or None when there is nothing to ignore."""
    if void is None:
        return None
    void = np.asarray(void, bool)
    if void.shape != shape:
        raise ValueError(f"void mask is {void.shape} but the masks are {shape}")
    return void if void.any() else None


def jaccard(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """IoU of two boolean masks over the pixels that are not void.

    Two masks that agree everywhere outside void (empty there too) agree perfectly (1.0), as in DAVIS.
    """
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    v = _void(void, pred.shape)
    if v is not None:
        pred, gt = pred & ~v, gt & ~v
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def boundary(mask: np.ndarray) -> np.ndarray:
    """DAVIS's boundary map of a mask: pixels that differ from their right, bottom or bottom-right
    neighbour, at the mask's own resolution.

    A neighbour beyond the image does not count, so an object cut by the frame's edge has no boundary
    along that edge (a mask filling the frame has none at all).
    """
    m = np.asarray(mask, bool)
    b = np.zeros_like(m)
    b[:, :-1] |= m[:, :-1] ^ m[:, 1:]  # right
    b[:-1, :] |= m[:-1, :] ^ m[1:, :]  # bottom
    b[:-1, :-1] |= m[:-1, :-1] ^ m[1:, 1:]  # bottom-right
    return b


def _disk(radius: int) -> np.ndarray:
    """A filled disk (dx^2 + dy^2 <= r^2) as a dilation kernel."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (xx * xx + yy * yy <= radius * radius).astype(np.uint8)


def tolerance_pixels(shape: tuple[int, int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """The boundary tolerance in pixels: ``bound_th`` below 1 is a fraction of the image diagonal."""
    if bound_th >= 1:
        return int(bound_th)
    return math.ceil(bound_th * math.hypot(*shape))


def boundary_precision_recall(
    pred: np.ndarray,
    gt: np.ndarray,
    bound_th: float = DEFAULT_BOUND_TH,
    void: np.ndarray | None = None,
) -> tuple[float, float]:
    """Boundary precision and recall of ``pred`` against ``gt``, so that F's parts can be checked.

    An empty boundary on one side only gives precision 1, recall 0 (nothing predicted) or precision 0,
    recall 1 (nothing to find); both empty gives 1, 1. These are the toolkit's conventions.
    """
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"masks differ in size: {pred.shape} vs {gt.shape}")
    v = _void(void, pred.shape)
    if v is not None:
        pred, gt = pred & ~v, gt & ~v
    pb, gb = boundary(pred), boundary(gt)
    n_p, n_g = np.count_nonzero(pb), np.count_nonzero(gb)
    if n_p == 0 or n_g == 0:
        return (1.0 if n_p == 0 else 0.0), (1.0 if n_g == 0 else 0.0)
    kernel = _disk(tolerance_pixels(pred.shape, bound_th))
    g_dil = cv2.dilate(gb.astype(np.uint8), kernel) > 0
    p_dil = cv2.dilate(pb.astype(np.uint8), kernel) > 0
    return np.count_nonzero(pb & g_dil) / n_p, np.count_nonzero(gb & p_dil) / n_g


def f_measure(
    pred: np.ndarray,
    gt: np.ndarray,
    bound_th: float = DEFAULT_BOUND_TH,
    void: np.ndarray | None = None,
) -> float:
    """Boundary F-measure of two boolean masks (harmonic mean of boundary precision and recall)."""
    precision, recall = boundary_precision_recall(pred, gt, bound_th, void)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
