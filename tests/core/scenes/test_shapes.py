"""The shape world: deterministic, split by purpose, masks that are exactly what is visible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from litlora_desktop.core.resources import resources_dir
from litlora_desktop.core.scenes.ground_truth import GroundTruth
from litlora_desktop.core.scenes.sample import sample_scene
from litlora_desktop.core.scenes.shapes import SPLITS, ShapeScene


def test_a_scene_is_the_same_every_time_and_differs_between_splits():
    a = ShapeScene(3, split="train", num_frames=6, size=(96, 128))
    b = ShapeScene(3, split="train", num_frames=6, size=(96, 128))
    assert np.array_equal(a.frame(5), b.frame(5)) and np.array_equal(a.label_map(5), b.label_map(5))
    others = [ShapeScene(3, split=s, num_frames=6, size=(96, 128)).frame(0) for s in SPLITS if s != "train"]
    assert all(np.abs(o.astype(int) - a.frame(0)).mean() > 5 for o in others), "a split is its own world"


def test_masks_are_the_visible_pixels_of_each_object_and_bars_are_not_objects():
    found_bar = False
    for i in range(40):
        sc = ShapeScene(i, split="tests", preset="train", num_frames=8, size=(120, 160))
        for k in (0, 7):
            lab = sc.label_map(k)
            masks = [sc.mask(o, k) for o in sc.object_ids]
            assert sum(m.astype(int) for m in masks).max() <= 1, "one owner per pixel"
            assert set(np.unique(lab)) <= {0, *sc.object_ids}
        found_bar |= any(t.obj_id == 0 for t in sc._things)
    assert found_bar, "the training preset puts foreground bars in some scenes"


def test_hard_scenes_hide_and_bring_back_their_first_object():
    hidden_and_back = 0
    for i in range(6):
        sc = ShapeScene(i, split="eval", preset="hard", num_frames=48, size=(120, 160))
        area = np.array([sc.mask(1, k).sum() for k in range(48)])
        assert area[0] > 0
        gone = np.nonzero(area < 0.2 * area[0])[0]
        hidden_and_back += bool(len(gone)) and area[gone[-1] + 1 :].max(initial=0) > 0.5 * area[0]
    assert hidden_and_back >= 3


def test_the_kept_sample_ground_truth_is_what_the_generator_makes():
    """If the generator changes, the accuracy figures would silently move: this says so instead."""
    gt = GroundTruth.read(resources_dir() / "sample" / "ground_truth.json")
    sc = sample_scene()
    assert gt.scene == repr(sc) and gt.object_ids == sc.object_ids == [1, 2, 3]
    for k in (0, 37, 119):
        for o in gt.object_ids:
            assert np.array_equal(gt.mask(o, k), sc.mask(o, k))


@pytest.mark.parametrize(
    "bad", [{"split": "nope"}, {"preset": "nope"}, {"num_frames": 0}, {"size": (10, 10)}]
)
def test_bad_arguments_say_what_is_wrong(bad):
    with pytest.raises(ValueError):
        ShapeScene(0, **bad)


def test_ground_truth_round_trips(tmp_path: Path):
    sc = ShapeScene(0, split="tests", num_frames=3, size=(40, 60))
    gt = GroundTruth.read(GroundTruth.write(sc, tmp_path / "gt.json"))
    assert all(np.array_equal(gt.mask(o, k), sc.mask(o, k)) for o in sc.object_ids for k in range(3))
