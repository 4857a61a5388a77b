"""The simulated annotator: where it clicks, how often, and when it paints the ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.eval.annotator import correct_frame, next_click


def blank(shape=(60, 80)) -> np.ndarray:
    return np.zeros(shape, bool)


def rect(m: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
    m = m.copy()
    m[top : top + h, left : left + w] = True
    return m


def test_positive_click_in_the_middle_of_the_largest_missed_region():
    gt = rect(rect(blank(), 10, 10, 21, 21), 40, 60, 6, 6)  # a 21x21 square and a 6x6 one, both missed
    c = next_click(blank(), gt)
    assert c == Click(20.0, 20.0, True)  # the square's centre: farthest from its boundary


def test_negative_click_for_a_false_positive_larger_than_the_miss():
    gt = rect(blank(), 5, 5, 20, 20)
    pred = rect(gt, 35, 50, 15, 15)  # gt found, plus a 15x15 false region...
    pred[5:11, 5:11] = False  # ...and a 6x6 miss
    c = next_click(pred, gt)
    assert not c.positive
    assert (c.x, c.y) == (57.0, 42.0)


def test_the_deepest_error_wins_not_the_largest_region():
    """SAM 2's rule: a long thin miss (3x70 = 210 px) loses to a compact one (12x12 = 144 px)."""
    gt = rect(rect(blank(), 2, 2, 3, 70), 30, 30, 12, 12)
    c = next_click(blank(), gt)
    assert c.positive and 30 <= c.x < 42 and 30 <= c.y < 42  # in the square


@pytest.mark.parametrize("seed", range(20))
def test_clicks_are_sam2s_own_simulated_clicks(seed):
    """Meta's ``sample_one_point_from_error_center`` on random blobby masks: the same point and label."""
    torch = pytest.importorskip("torch")
    utils = pytest.importorskip("sam2.modeling.sam2_utils")
    rng = np.random.default_rng(seed)
    gt = cv2.GaussianBlur(rng.random((60, 80)), (0, 0), 4) > 0.5
    pred = cv2.GaussianBlur(rng.random((60, 80)), (0, 0), 4) > 0.5
    points, labels = utils.sample_one_point_from_error_center(
        torch.from_numpy(gt)[None, None], torch.from_numpy(pred)[None, None]
    )
    c = next_click(pred, gt)
    assert (c.x, c.y, c.positive) == (float(points[0, 0, 0]), float(points[0, 0, 1]), bool(labels[0, 0]))


def test_click_stays_off_the_frame_edge():
    gt = rect(blank(), 0, 0, 9, 80)  # a band along the top edge: the edge counts as the region's boundary
    c = next_click(blank(), gt)
    assert c.y == 4.0


def test_no_click_when_masks_agree():
    gt = rect(blank(), 5, 5, 10, 10)
    assert next_click(gt, gt) is None


def _fill_component(gt: np.ndarray):
    """A fake model: a click adds (positive) or removes (negative) the ground-truth part it lands in."""
    n, labels = cv2.connectedComponents(gt.astype(np.uint8))
    state = {"mask": np.zeros_like(gt), "clicks": []}

    def apply(click: Click) -> np.ndarray:
        state["clicks"].append(click)
        part = labels == labels[int(click.y), int(click.x)]
        state["mask"] = state["mask"] | part if click.positive else state["mask"] & ~part
        return state["mask"]

    return apply, state


def test_clicks_until_tau_then_stop():
    gt = rect(rect(rect(blank(), 2, 2, 20, 20), 30, 40, 10, 10), 50, 5, 5, 5)  # 400, 100, 25 px
    apply, state = _fill_component(gt)
    corr = correct_frame(blank(), gt, apply, tau=0.5, max_clicks=3)
    assert corr.num_clicks == 1 and not corr.used_ground_truth  # the big square alone: IoU 400/525 >= 0.5
    assert corr.iou == pytest.approx(400 / 525)
    assert np.array_equal(corr.mask, state["mask"])


def test_each_click_aims_at_what_is_still_wrong():
    gt = rect(rect(rect(blank(), 2, 2, 20, 20), 30, 40, 10, 10), 50, 5, 5, 5)
    apply, state = _fill_component(gt)
    corr = correct_frame(blank(), gt, apply, tau=0.99, max_clicks=3)
    assert corr.num_clicks == 3 and not corr.used_ground_truth and corr.iou == 1.0
    # biggest first, then the next biggest: each click looks at the model's latest answer
    assert [(c.x, c.y) for c in corr.clicks] == [(11.0, 11.0), (44.0, 34.0), (7.0, 52.0)]


def test_at_most_max_clicks_then_the_ground_truth():
    gt = rect(blank(), 10, 10, 20, 20)
    calls = []

    def useless(click: Click) -> np.ndarray:  # a model that ignores clicks
        calls.append(click)
        return blank()

    corr = correct_frame(blank(), gt, useless, tau=0.5, max_clicks=3)
    assert len(calls) == 3 and corr.num_clicks == 3
    assert corr.used_ground_truth and np.array_equal(corr.mask, gt) and corr.iou == 1.0
    corr0 = correct_frame(blank(), gt, useless, tau=0.5, max_clicks=0)
    assert corr0.num_clicks == 0 and corr0.used_ground_truth


def test_a_frame_already_good_enough_needs_no_click():
    gt = rect(blank(), 10, 10, 20, 20)

    def fail(click: Click) -> np.ndarray:
        raise AssertionError("no click expected")

    corr = correct_frame(gt, gt, fail, tau=0.5)
    assert corr.num_clicks == 0 and not corr.used_ground_truth


# ------------------------------------------------------------------ void (label 255): nobody's error


def test_a_click_never_lands_in_void_and_keeps_away_from_it():
    gt = rect(blank(), 10, 10, 21, 21)  # missed; its centre (20, 20) is void
    void = rect(blank(), 15, 15, 11, 11)
    c = next_click(blank(), gt, void)
    assert c is not None and c.positive and gt[int(c.y), int(c.x)] and not void[int(c.y), int(c.x)]
    assert next_click(blank(), gt) == Click(20.0, 20.0, True)  # without void: the centre
    # the void hole is a boundary like the frame's edge: the click sits in the middle of the 5-px ring
    assert min(int(c.x) - 10, 30 - int(c.x), int(c.y) - 10, 30 - int(c.y)) == 2


def test_an_error_inside_void_is_no_error():
    gt = rect(blank(), 5, 5, 6, 6)  # a small miss...
    pred = rect(blank(), 30, 30, 20, 40)  # ...and a big false positive, all of it void
    void = rect(blank(), 28, 28, 25, 45)
    c = next_click(pred, gt, void)
    assert c is not None and c.positive and gt[int(c.y), int(c.x)]  # the small miss is what is left
    assert not next_click(pred, gt).positive  # without void the big false positive wins
    assert next_click(pred | gt, gt, void) is None  # nothing wrong outside void


@pytest.mark.parametrize("seed", range(25))
def test_clicks_never_land_in_void_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    gt = cv2.blur(rng.random((60, 80)), (9, 9)) > 0.5
    pred = cv2.blur(rng.random((60, 80)), (9, 9)) > 0.5
    void = cv2.blur(rng.random((60, 80)), (7, 7)) > 0.55
    c = next_click(pred, gt, void)
    if c is not None:
        x, y = int(c.x), int(c.y)
        assert not void[y, x] and gt[y, x] == c.positive and pred[y, x] != c.positive
    else:
        assert not ((pred ^ gt) & ~void).any()


def test_the_tau_test_ignores_void():
    gt = rect(blank(), 10, 10, 10, 10)  # 100 px
    void = rect(blank(), 10, 20, 20, 40)  # 800 px beside it
    pred = gt | void  # IoU 100/900 counting void, 1.0 without

    def fail(click: Click) -> np.ndarray:
        raise AssertionError("no click expected")

    corr = correct_frame(pred, gt, fail, tau=0.5, void=void)
    assert corr.num_clicks == 0 and not corr.used_ground_truth and corr.iou == 1.0
    calls = []
    corr = correct_frame(pred, gt, lambda c: calls.append(c) or pred, tau=0.5, max_clicks=1)
    assert len(calls) == 1 and calls[0].positive is False and corr.used_ground_truth  # void counted: fails


def test_the_correction_marks_void_as_ignore_for_lora():
    gt = rect(blank(), 10, 10, 20, 20)
    void = rect(blank(), 0, 0, 12, 12)  # overlaps the object's top-left corner

    def useless(click: Click) -> np.ndarray:
        return blank()

    corr = correct_frame(blank(), gt, useless, tau=0.5, void=void)
    assert corr.used_ground_truth and np.array_equal(corr.mask, gt)
    t = corr.target
    assert t.dtype == np.uint8 and t.shape == gt.shape
    assert (t[void] == 255).all() and (t[~void] == gt[~void]).all()
    # no void: the mask itself, as before
    plain = correct_frame(blank(), gt, useless, tau=0.5)
    assert plain.target is plain.mask
    assert correct_frame(blank(), gt, useless, tau=0.5, void=blank()).target.dtype == bool
