"""Accuracy is a tested property: the shipped demo SAM2 on the shipped sample video (and on held-out
shape worlds for LIT-LoRA), measured through the app's own Tracker and LIT-LoRA engine.

These are figures of a synthetic model organism (a small SAM2 trained here on shapes), not of SAM2.1
on real footage. A change that makes clicking, tracking or LIT-LoRA worse fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.core.ground_truth import GroundTruth, centre_point
from litlora_desktop.core.litlora import LitLoRA, LoraSettings
from litlora_desktop.core.model import DEMO_MODEL, load_model
from litlora_desktop.core.resources import resources_dir
from litlora_desktop.core.shapes import ShapeScene
from litlora_desktop.core.synthetic import ensure_sample_video
from litlora_desktop.core.tracker import Click, Tracker
from litlora_desktop.core.video import VideoSource
from litlora_desktop.eval.metrics import jaccard
from litlora_desktop.eval.quality import bounding_box, track_objects

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo():
    return load_model(DEMO_MODEL, device="cpu").model


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample video as the app reads it (decoded mp4), and its kept ground truth."""
    path = ensure_sample_video(tmp_path_factory.mktemp("sample") / "sample.mp4")
    gt = GroundTruth.read(resources_dir() / "sample" / "ground_truth.json")
    with VideoSource.open(path) as src:
        yield src, gt


def test_one_click_at_the_centre_of_each_object_gives_its_mask(demo, sample):
    src, gt = sample
    ious = []
    for o in gt.object_ids:
        with Tracker(demo, src) as tr:
            tr.add_object(o)
            ious.append(
                jaccard(tr.add_clicks(o, 0, [Click(*centre_point(gt.mask(o, 0)))]).mask, gt.mask(o, 0))
            )
    assert np.median(ious) >= 0.80, ious


def test_a_box_around_each_object_gives_its_mask(demo, sample):
    src, gt = sample
    ious = []
    for o in gt.object_ids:
        with Tracker(demo, src) as tr:
            tr.add_object(o)
            ious.append(jaccard(tr.add_clicks(o, 0, [], box=bounding_box(gt.mask(o, 0))).mask, gt.mask(o, 0)))
    assert np.median(ious) >= 0.85, ious


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "backward"])
def test_tracking_from_one_mask_follows_every_object_through_the_video(demo, sample, reverse):
    src, gt = sample
    scores = track_objects(demo, src, gt.mask, gt.object_ids, reverse=reverse)
    j = [s.mean_j for s in scores.values()]
    assert np.mean(j) >= 0.80, j


def test_adding_a_second_object_mid_video_leaves_the_first_ones_masks_identical(demo, sample):
    src, gt = sample

    def run(with_second: bool) -> list[np.ndarray]:
        out = []
        with Tracker(demo, src) as tr:
            tr.add_object(1)
            tr.add_mask(1, 0, gt.mask(1, 0))
            for f in range(1, 40):
                if with_second and f == 20:
                    tr.add_object(2)
                    tr.add_clicks(2, 20, [Click(*centre_point(gt.mask(2, 20)))])
                out.append(tr.track(f).masks[1].mask)
        return out

    alone, together = run(False), run(True)
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
    assert np.mean([jaccard(m, gt.mask(1, f + 1)) for f, m in enumerate(alone)]) > 0.5, "it tracked something"


# -- LIT-LoRA ----------------------------------------------------------------------------------------

LORA_SCENE = dict(index=0, split="tests", preset="hard", num_frames=36, size=(240, 320))
"""A held-out hard scene where SAM2 alone loses the object somewhere (checked below)."""
AFTER = 8  # frames after the correction over which candidates and SAM2 are compared


def _track_until_wrong(demo, scene, obj: int):
    """Track from the first-frame mask until SAM2's IoU drops below 0.5; (tracker, frame, ious)."""
    tr = Tracker(demo, scene)
    tr.add_object(obj)
    tr.add_mask(obj, 0, scene.mask(obj, 0))
    for f in range(1, scene.num_frames - AFTER):
        iou = jaccard(tr.track(f).masks[obj].mask, scene.mask(obj, f))
        if iou < 0.5 and scene.mask(obj, f).any():
            return tr, f
    tr.close()
    return None, None


@pytest.fixture(scope="module")
def corrected(demo):
    return lora_case(demo, LORA_SCENE)


def lora_case(demo, scene_args: dict):
    """The first frame where SAM2 fails, corrected with the true mask; one adapter trained on it; then
    SAM2's masks and the adapter's top candidates on the frames after it, with their IoUs."""
    scene = ShapeScene(**scene_args)
    tr, bad = _track_until_wrong(demo, scene, 1)
    assert tr is not None, "the chosen scene must have a frame where SAM2 alone is below IoU 0.5"
    lora = LitLoRA(tr, LoraSettings())
    try:
        assert lora.add_correction(1, bad, scene.mask(1, bad)) is not None
        reports = lora.train(1)
        assert reports and reports[-1].finished and lora.num_adapters(1) == 1
        tr.add_mask(1, bad, scene.mask(1, bad))  # the correction enters SAM2's memory too
        sam, cand, first_candidate = [], [], None
        for f in range(bad + 1, bad + 1 + AFTER):
            res = tr.track(f)
            cands = lora.candidates(1, f)
            assert cands, f"no candidate on frame {f}"
            first_candidate = cands[0].mask if first_candidate is None else first_candidate
            sam.append(jaccard(res.masks[1].mask, scene.mask(1, f)))
            cand.append(jaccard(cands[0].mask, scene.mask(1, f)))
    finally:
        lora.close()
        tr.close()
    return scene, bad, sam, cand, first_candidate


def test_after_one_correction_the_adapters_candidate_beats_sam2_on_the_next_frames(corrected):
    _, _, sam, cand, _ = corrected
    assert np.mean(cand) > np.mean(sam), (cand, sam)


def test_accepting_a_candidate_tracks_later_frames_at_least_as_well(demo, corrected):
    scene, bad, _, _, candidate = corrected
    first = bad + 1

    def later_j(accept: bool) -> float:
        with Tracker(demo, scene) as tr:  # the same state as when the candidate was offered
            tr.add_object(1)
            tr.add_mask(1, 0, scene.mask(1, 0))
            for f in range(1, bad + 1):
                tr.track(f)
            tr.add_mask(1, bad, scene.mask(1, bad))
            tr.track(first)
            if accept:
                tr.add_mask(1, first, candidate)  # what accepting does (LitLoRA.accept)
            return float(
                np.mean(
                    [
                        jaccard(tr.track(f).masks[1].mask, scene.mask(1, f))
                        for f in range(first + 1, first + AFTER)
                    ]
                )
            )

    assert later_j(True) >= later_j(False) - 1e-9
