"""J and F on hand-made masks whose answers are worked out by hand, and F against a slow,
literal reading of the DAVIS 2017 definition (boundaries, disk tolerance, precision and recall)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from litlora_desktop.eval.metrics import (
    boundary,
    boundary_precision_recall,
    f_measure,
    jaccard,
    tolerance_pixels,
)


def square(shape=(100, 100), top=10, left=10, size=20) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[top : top + size, left : left + size] = True
    return m


def columns(stop: int, shape=(100, 100), start: int = 0) -> np.ndarray:
    """Columns ``start`` .. ``stop - 1`` set, every row: a band whose only boundary is vertical."""
    m = np.zeros(shape, bool)
    m[:, start:stop] = True
    return m


def test_jaccard_known_values():
    a = square(size=10)
    b = square(size=10, left=15)  # overlaps a in 10 x 5 = 50 px; union 150 px
    assert jaccard(a, b) == pytest.approx(1 / 3)
    assert jaccard(a, a) == 1.0
    assert jaccard(a, ~a) == 0.0
    empty = np.zeros_like(a)
    assert jaccard(empty, empty) == 1.0  # nothing to find, nothing found
    assert jaccard(a, empty) == 0.0


def test_jaccard_ignores_void():
    gt = square(size=10)  # 100 px
    void = square(size=10, left=20)  # 100 px right of it
    pred = gt | square(size=10, left=20, top=15)  # 50 of its 100 extra px lie in void, 50 do not
    assert jaccard(pred, gt) == pytest.approx(100 / 200)
    assert jaccard(pred, gt, void) == pytest.approx(100 / 150)
    assert jaccard(gt | void, gt, void) == 1.0  # spilling into void is no error
    assert jaccard(gt & ~square(size=10, left=15), gt, square(size=10, left=15)) == 1.0  # nor missing it
    assert jaccard(void, np.zeros_like(gt), void) == 1.0  # all disagreement in void: both empty elsewhere
    with pytest.raises(ValueError):
        jaccard(gt, gt, void[:50])


def _boundary_by_definition(m: np.ndarray) -> np.ndarray:
    """Pixel by pixel: boundary when the right, bottom or bottom-right neighbour (inside the image) differs."""
    h, w = m.shape
    out = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (1, 1)):
                if y + dy < h and x + dx < w and m[y + dy, x + dx] != m[y, x]:
                    out[y, x] = True
    return out


def test_boundary_of_a_square_is_davis_seg2bmap():
    """A 20x20 square at rows/columns 10..29: its own bottom row (20) and right column (19 more), and
    the background row above it (columns 9..29, 21) and column left of it (rows 10..29, 20): 80 px."""
    b = boundary(square(size=20))
    want = np.zeros_like(b)
    want[29, 10:30] = want[10:30, 29] = True  # inside: bottom row, right column
    want[9, 9:30] = want[10:30, 9] = True  # outside: the row above, the column to the left
    assert np.array_equal(b, want) and b.sum() == 80
    assert not b[10, 10] and not b[30, 30] and not b[15, 15]


def test_the_frame_edge_is_no_boundary():
    assert not boundary(np.ones((5, 6), bool)).any()
    b = boundary(columns(50))  # the left half of a 100x100 frame: only its right edge, column 49
    assert b.sum() == 100 and b[:, 49].all()
    b = boundary(~columns(50))  # the right half: the background column 49 next to it
    assert b.sum() == 100 and b[:, 49].all()


@pytest.mark.parametrize("seed", range(40))
def test_boundary_matches_the_definition_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 12, 2)
    m = rng.random((h, w)) < rng.random()
    assert np.array_equal(boundary(m), _boundary_by_definition(m))


def test_tolerance_is_a_fraction_of_the_diagonal():
    assert tolerance_pixels((100, 100)) == 2  # ceil(0.008 * 141.4)
    assert tolerance_pixels((480, 854)) == 8  # DAVIS 480p
    assert tolerance_pixels((1080, 1920)) == 18  # ceil(0.008 * 2202.9)
    assert tolerance_pixels((100, 100), bound_th=3) == 3  # >= 1: pixels


def test_tolerance_is_a_closed_disk_of_that_radius():
    """Straight vertical boundaries 2 px apart (the tolerance at 100x100) all match; 3 px apart none do.
    A one-pixel mask's boundary is its 2x2 block up and left; one column over they all match, but two
    rows and three columns over the closest pair is (1, 2) apart, sqrt(5) > 2: none match."""
    gt = columns(50)  # boundary: column 49
    assert boundary_precision_recall(columns(52), gt) == (1.0, 1.0)  # boundary column 51
    assert boundary_precision_recall(columns(53), gt) == (0.0, 0.0)  # column 52
    assert f_measure(columns(53), gt) == 0.0
    dot, near = np.zeros((100, 100), bool), np.zeros((100, 100), bool)
    dot[50, 50] = True  # boundary: (49, 49), (49, 50), (50, 49), (50, 50)
    near[50, 51] = True  # boundary: the same shifted one column right
    assert boundary_precision_recall(near, dot) == (1.0, 1.0)
    far = np.roll(dot, (2, 3), axis=(0, 1))  # boundary rows 51..52, columns 52..53
    assert boundary_precision_recall(far, dot) == (0.0, 0.0)


def test_f_is_one_for_equal_masks_and_within_tolerance():
    a = square()
    assert f_measure(a, a) == 1.0
    shifted = np.roll(a, 1, axis=1)  # every boundary pixel moves 1 px < 2 px tolerance: F = 1, J < 1
    assert f_measure(a, shifted) == 1.0 and jaccard(a, shifted) < 1.0
    assert f_measure(a, np.roll(a, 3, axis=1)) < 1.0  # beyond the tolerance


def test_precision_and_recall_differ_when_the_prediction_has_an_extra_blob():
    """The left half (boundary: column 49, 100 px) plus a far 10x10 blob (boundary 4 * 10 = 40 px):
    precision 100/140, recall 1, F = 2 * (5/7) / (12/7) = 5/6; swapped, precision and recall swap."""
    gt = columns(50)
    pred = gt | square(top=40, left=80, size=10)
    assert boundary(square(size=10)).sum() == 40
    p, r = boundary_precision_recall(pred, gt)
    assert p == pytest.approx(100 / 140) and r == 1.0
    assert f_measure(pred, gt) == pytest.approx(5 / 6)
    assert boundary_precision_recall(gt, pred) == (r, p)
    assert f_measure(gt, pred) == pytest.approx(5 / 6)


def test_f_of_a_square_shifted_by_half_its_width():
    """20x20 squares at columns 10..29 and 20..39 (rows 10..29), tolerance 2 px, 80 boundary px each.

    The moved square's boundary near the other's: its bottom row, columns 20..31 (12: up to 2 px past
    (29, 29)); the row above it, columns 19..31 (13); its left column (19) at rows 10, 11 (within 2 of
    (9, 19)) and 27..29 (within 2 of (29, 19)): 5. Total 30. The first square's, near the moved one's:
    bottom row columns 17..29 (13), the row above columns 17..29 (13), its right column at rows 10, 11,
    27, 28 (4): 30. Precision = recall = F = 30/80."""
    a, b = square(), square(left=20)
    assert boundary_precision_recall(b, a) == (30 / 80, 30 / 80)
    assert f_measure(a, b) == pytest.approx(3 / 8)
    assert f_measure(b, a) == pytest.approx(3 / 8)


def test_f_empty_cases_follow_the_toolkit():
    a = square()
    empty = np.zeros_like(a)
    assert boundary_precision_recall(empty, empty) == (1.0, 1.0) and f_measure(empty, empty) == 1.0
    assert boundary_precision_recall(empty, a) == (1.0, 0.0) and f_measure(empty, a) == 0.0
    assert boundary_precision_recall(a, empty) == (0.0, 1.0) and f_measure(a, empty) == 0.0
    full = np.ones_like(a)  # fills the frame: no boundary at all
    assert f_measure(full, full) == 1.0 and f_measure(columns(50), full) == 0.0
    assert f_measure(a, square(top=60, left=60)) == 0.0  # far apart: no boundary pixel matches
    with pytest.raises(ValueError):
        f_measure(a, a[:50])
    with pytest.raises(ValueError):
        f_measure(a, a, void=a[:50])


def test_f_clears_void_from_both_masks():
    gt = columns(50)
    void = columns(60, start=50)  # a void band right of the object
    # spilling 6 px into void: boundary column 55, beyond tolerance; with void it is cut back to 49
    assert f_measure(columns(56), gt) == 0.0
    assert f_measure(columns(56), gt, void=void) == 1.0
    # through the void and out: the cut leaves boundaries at 49 (found), 59 and 69 (not in gt):
    # precision 100/300, recall 1, F = 0.5, as the DAVIS toolkit scores it
    assert boundary_precision_recall(columns(70), gt, void=void) == (pytest.approx(1 / 3), 1.0)
    assert f_measure(columns(70), gt, void=void) == pytest.approx(0.5)


def _f_by_definition(pred, gt, void, radius):
    """Precision/recall/F by pairwise distances between boundary pixels (no dilation)."""
    pred, gt = pred & ~void, gt & ~void
    pb = np.argwhere(_boundary_by_definition(pred))
    gb = np.argwhere(_boundary_by_definition(gt))
    if len(pb) == 0 or len(gb) == 0:
        p, r = (1.0 if len(pb) == 0 else 0.0), (1.0 if len(gb) == 0 else 0.0)
    else:
        d2 = ((pb[:, None, :] - gb[None, :, :]) ** 2).sum(-1)
        p = float((d2.min(1) <= radius * radius).mean())
        r = float((d2.min(0) <= radius * radius).mean())
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@pytest.mark.parametrize("seed", range(30))
def test_f_matches_the_definition_on_random_masks(seed):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
    blobs = [rng.random(shape) < 0.5 for _ in range(3)]
    pred = blobs[0] & (rng.random(shape) < 0.9)  # noisy masks: many small boundary pieces
    gt = blobs[1]
    void = blobs[2] & (rng.random(shape) < 0.2) if seed % 2 else np.zeros(shape, bool)
    th = [0.008, 0.05, 0.1][seed % 3]
    radius = math.ceil(th * math.hypot(*shape))
    assert f_measure(pred, gt, th, void) == pytest.approx(_f_by_definition(pred, gt, void, radius))
