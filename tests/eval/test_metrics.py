"""J and F on hand-made masks whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.eval.metrics import boundary, f_measure, jaccard, tolerance_pixels


def square(shape=(100, 100), top=10, left=10, size=20) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[top : top + size, left : left + size] = True
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


def test_boundary_is_the_one_pixel_inner_contour():
    b = boundary(square(size=20))
    assert b.sum() == 4 * 20 - 4
    assert not b[15, 15] and b[10, 15] and b[29, 29]
    edge = np.ones((5, 6), bool)  # an object filling the frame is cut by the frame's edge
    assert boundary(edge).sum() == 2 * 5 + 2 * 6 - 4


def test_tolerance_is_a_fraction_of_the_diagonal():
    assert tolerance_pixels((100, 100)) == 2  # ceil(0.008 * 141.4)
    assert tolerance_pixels((480, 854)) == 8  # DAVIS 480p
    assert tolerance_pixels((100, 100), bound_th=3) == 3  # >= 1: pixels


def test_f_is_one_for_equal_masks_and_within_tolerance():
    a = square()
    assert f_measure(a, a) == 1.0
    # a 1-pixel shift moves every contour pixel by at most 1 < 2 px tolerance: F = 1 while J < 1
    shifted = np.roll(a, 1, axis=1)
    assert f_measure(a, shifted) == 1.0 and jaccard(a, shifted) < 1.0
    assert f_measure(a, np.roll(a, 3, axis=1)) < 1.0  # beyond the tolerance


def test_f_of_a_square_shifted_by_half_its_width():
    """20x20 squares 10 px apart, tolerance 2 px. Each contour has 76 px; of the moved square's contour,
    12 px of its top row and 12 of its bottom row lie within 2 px of the other's, plus 4 px of its left
    side near the other's top and bottom rows: 28 px. By symmetry recall is the same: F = 28/76."""
    a = square()
    b = square(left=20)
    assert f_measure(a, b) == pytest.approx(28 / 76)
    assert f_measure(b, a) == pytest.approx(28 / 76)


def test_f_empty_cases():
    a = square()
    empty = np.zeros_like(a)
    assert f_measure(empty, empty) == 1.0
    assert f_measure(a, empty) == 0.0
    assert f_measure(empty, a) == 0.0
    assert f_measure(a, square(top=60, left=60)) == 0.0  # far apart: no contour pixel matches
    with pytest.raises(ValueError):
        f_measure(a, a[:50])
