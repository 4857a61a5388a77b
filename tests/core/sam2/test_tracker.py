"""Tracker behaviour with a tiny random SAM2: the mechanics, not mask quality (weights are random)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.sam2.tracker import Tracker, TrackerError
from tests.model_fixtures import FAMILY_KEYS, ClipSource, moving_squares, tiny_family_model


@pytest.fixture(scope="module", params=FAMILY_KEYS)
def tiny_model(request):
    """Every test here runs on a tiny model of each family (SAM2.1, SAM2, SAM 3 tracker, EdgeTAM)."""
    return tiny_family_model(request.param)


def _masks(results):
    return {r.frame_index: {o: m.mask.copy() for o, m in r.masks.items()} for r in results}


def test_masks_come_back_at_video_resolution(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    m = tr.add_clicks(a, 0, [Click(12, 14)])
    assert m.mask.shape == (clip.height, clip.width) and m.mask.dtype == bool
    assert m.kind == "prompted" and isinstance(m.score, float)
    res = tr.step()
    assert res.frame_index == 1 and set(res.masks) == {a}
    assert res.masks[a].mask.shape == (clip.height, clip.width)
    assert res.masks[a].kind == "tracked"
    assert set(res.timings) == {"decode", "preprocess", "model", "postprocess"}
    tr.close()


def test_objects_do_not_disturb_each_other(tiny_model):
    """Correcting, adding or removing object A leaves object B's masks bit-identical, ids unchanged."""
    frames = moving_squares(10)

    def run(correct_a: bool, remove_a: bool, late_c: bool):
        tr = Tracker(tiny_model, ClipSource(frames))
        a, b = tr.add_object(1), tr.add_object(2)
        tr.add_clicks(a, 0, [Click(12, 14)])
        tr.add_clicks(b, 0, [Click(70, 30)])
        first = list(tr.propagate(0, 4))
        if correct_a:
            tr.add_clicks(a, 4, [Click(20, 16, positive=False)])
        if late_c:
            c = tr.add_object(7)
            tr.add_clicks(c, 4, [Click(40, 10)])
        if remove_a:
            tr.remove_object(a)
        rest = list(tr.propagate(4, 9))
        ids = tr.object_ids
        tr.close()
        return _masks(first + rest), ids

    base, _ = run(False, False, False)
    for variant in [(True, False, False), (False, True, False), (False, False, True), (True, True, True)]:
        other, ids = run(*variant)
        for f, objs in base.items():
            assert np.array_equal(objs[2], other[f][2]), f"object 2 changed on frame {f} with {variant}"
        if variant[1]:
            assert 1 not in ids and 2 in ids


def test_propagate_reports_progress_and_cancels(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    seen = []
    stop_after = 3
    out = list(
        tr.propagate(
            0, progress=lambda d, t: seen.append((d, t)), should_cancel=lambda: len(seen) >= stop_after
        )
    )
    assert [r.frame_index for r in out] == [1, 2, 3]
    assert seen == [(1, 11), (2, 11), (3, 11)]


def test_clear_prompts_and_reset(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a, b = tr.add_object(), tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    tr.add_clicks(b, 0, [Click(70, 30)])
    list(tr.propagate(0, 3))
    stale = tr.clear_prompts(a, 0)
    assert stale == [0, 1, 2, 3]
    assert tr.prompts(a) == {} and tr.tracked_frames(a) == []
    res = tr.track(4)
    assert set(res.masks) == {b}
    assert tr.captures.frames(a) == []
    tr.reset()
    assert tr.object_ids == [] and len(tr.captures) == 0


def test_clicks_accumulate_and_box_replaces(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 2, [Click(12, 14)])
    tr.add_clicks(a, 2, [Click(18, 14, positive=False)])
    assert tr.prompts(a)[2].clicks == [Click(12, 14), Click(18, 14, positive=False)]
    tr.add_clicks(a, 2, [Click(15, 15)], box=Box(5, 5, 30, 30))
    p = tr.prompts(a)[2]
    assert p.box == Box(5, 5, 30, 30) and p.clicks == [Click(15, 15)]
    m = tr.add_mask(a, 2, np.zeros((clip.height, clip.width), bool) | (np.arange(clip.width) < 20)[None])
    assert tr.prompts(a)[2].mask is not None and tr.prompts(a)[2].clicks == []
    # a mask prompt is taken as given: SAM2 returns it (up to resampling) as the frame's mask
    assert m.mask[:, :18].all() and not m.mask[:, 22:].any()


def test_bad_requests_get_clear_errors(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    with pytest.raises(TrackerError, match="outside the video"):
        tr.add_clicks(a, 99, [Click(1, 1)])
    with pytest.raises(TrackerError, match="no object"):
        tr.add_clicks(42, 0, [Click(1, 1)])
    with pytest.raises(TrackerError, match="already exists"):
        tr.add_object(a)
    with pytest.raises(TrackerError, match="mask is"):
        tr.add_mask(a, 0, np.zeros((5, 5), bool))
    with pytest.raises(TrackerError, match="at least one click"):
        tr.add_clicks(a, 0, [])
    with pytest.raises(ValueError):
        Box(10, 10, 5, 20)
    with pytest.raises(TrackerError, match="last frame"):
        tr.current_frame = clip.num_frames - 1
        tr.step()


def test_each_frame_is_decoded_and_encoded_once_for_all_objects(tiny_model):
    src = ClipSource(moving_squares(8))
    tr = Tracker(tiny_model, src, feature_cache_frames=1)
    ids = [tr.add_object() for _ in range(3)]
    for i, oid in enumerate(ids):
        tr.add_clicks(oid, 0, [Click(10 + 20 * i, 20)])
    src.reads = 0
    list(tr.propagate(0, 7))
    assert src.reads == 7
    src.reads = 0
    res = tr.track(0)  # every object reuses its prompted result: nothing to decode or encode
    assert src.reads == 0 and {m.kind for m in res.masks.values()} == {"reused"}


def test_tracking_is_deterministic(tiny_model):
    frames = moving_squares(6)

    def run():
        tr = Tracker(tiny_model, ClipSource(frames))
        a = tr.add_object()
        tr.add_clicks(a, 0, [Click(12, 14)])
        return _masks(list(tr.propagate(0)))

    one, two = run(), run()
    assert all(np.array_equal(one[f][1], two[f][1]) for f in one)


def test_correcting_a_tracked_frame_twice_equals_correcting_it_once(tiny_model, clip):
    """A second correction must not condition on the stale result of the first one on that frame."""

    def run(batches):
        tr = Tracker(tiny_model, clip)
        a = tr.add_object()
        tr.add_clicks(a, 0, [Click(12, 14)])
        list(tr.propagate(0, 5))
        for clicks in batches:
            m = tr.add_clicks(a, 5, clicks)
        return m, tr.track(6).masks[a]

    once = run([[Click(20, 16), Click(30, 20, positive=False)]])
    twice = run([[Click(20, 16)], [Click(30, 20, positive=False)]])
    for x, y in zip(once, twice, strict=True):
        assert np.array_equal(x.mask, y.mask) and x.score == y.score


def _box_mask(h: int, w: int, t: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[8 + t % 6 : 22 + t % 6, 6 + 2 * t % (w - 20) : 20 + 2 * t % (w - 20)] = True
    return m


@pytest.mark.parametrize("as_cond", [False, True], ids=["meta-default", "corrections-as-cond"])
def test_a_correction_on_a_tracked_frame_is_conditioning_memory_only_when_asked(tiny_model, clip, as_cond):
    """Meta's predictor keeps a correction of a tracked frame as ordinary (recent) memory unless
    ``add_all_frames_to_correct_as_cond``; the tracker's setting is that flag, off by default."""
    tr = Tracker(tiny_model, clip, corrections_as_conditioning=as_cond)
    assert Tracker(tiny_model, clip).corrections_as_conditioning is False
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    tr.track(1)
    tr.track(2)
    tr.add_clicks(a, 2, [Click(16, 15)])
    outs = tr._state(a).outputs
    assert (2 in outs["cond_frame_outputs"]) is as_cond
    assert (2 in outs["non_cond_frame_outputs"]) is not as_cond
    assert 0 in outs["cond_frame_outputs"]  # a first prompt is conditioning either way
    tr.close()


def test_a_step_attends_only_to_the_nearest_conditioning_frames_memories_and_pointers(tiny_model):
    """With a limit of 2, prompts far back (outside the memory window) are not read at all, object
    pointers included: the memory-conditioned features are those of a tracker that never had them.
    transformers' own ``max_cond_frame_num`` limits memories but still reads every earlier pointer."""
    frames = moving_squares(30)
    h, w = frames.shape[1:3]

    def run(prompted: list[int], limit: int) -> list[torch.Tensor]:
        with Tracker(tiny_model, ClipSource(frames), max_cond_frames=limit) as tr:
            a = tr.add_object()
            for f in prompted:
                tr.add_mask(a, f, _box_mask(h, w, f))
            assert sorted(tr._state(a).outputs["cond_frame_outputs"]) == prompted
            feats = []
            for f in range(23, 27):
                tr.track(f)
                feats.append(tr.capture(a, f).image_embeddings.clone())
            assert sorted(tr._state(a).outputs["cond_frame_outputs"]) == prompted  # all kept
            return feats

    limited = run([0, 2, 4, 20, 22], limit=2)
    never = run([20, 22], limit=0)
    unlimited = run([0, 2, 4, 20, 22], limit=0)
    scale = max(float(x.abs().max()) for x in never)
    # equal up to summation order (the nearest frames come first in the selection, as in Meta's)
    same = max(float((a - b).abs().max()) for a, b in zip(limited, never, strict=True))
    assert same < 1e-6 * scale, same
    far_read = max(float((a - b).abs().max()) for a, b in zip(limited, unlimited, strict=True))
    assert far_read > 1e-4 * scale, far_read
