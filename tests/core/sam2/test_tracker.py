"""Tracker behaviour with a tiny random SAM2: the mechanics, not mask quality (weights are random)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.tracker import Box, Click, Tracker, TrackerError
from tests.model_fixtures import ClipSource, moving_squares


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


def test_correction_drops_stale_later_results_of_that_object_only(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a, b = tr.add_object(), tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    tr.add_clicks(b, 0, [Click(70, 30)])
    list(tr.propagate(0, 9))
    assert tr.tracked_frames(a) == list(range(10))
    tr.add_clicks(a, 5, [Click(16, 16)])
    assert tr.tracked_frames(a) == list(range(6))
    assert tr.tracked_frames(b) == list(range(10))
    assert 5 in tr.prompts(a)
    # re-tracking goes on from the corrected frame and reuses its prompted result there
    res = tr.track(5)
    assert res.masks[a].kind == "reused" and res.masks[b].kind == "tracked"


def test_propagate_backward_from_a_middle_keyframe_and_correct_there(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 6, [Click(20, 14)], box=Box(10, 6, 34, 26))
    back = list(tr.propagate(6, reverse=True))
    assert [r.frame_index for r in back] == [5, 4, 3, 2, 1, 0]
    fwd = list(tr.propagate(6, 9))
    assert [r.frame_index for r in fwd] == [7, 8, 9]
    assert tr.tracked_frames(a) == list(range(10))
    # a correction on a frame reached backwards makes the *earlier* frames stale, not the later ones
    tr.add_clicks(a, 3, [Click(14, 12)])
    assert tr.tracked_frames(a) == list(range(3, 10))


def test_staleness_stops_at_the_next_prompted_frame(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 9))
    tr.add_clicks(a, 6, [Click(22, 14)])  # a correction: 7..9 become stale
    assert tr.tracked_frames(a) == list(range(7))
    list(tr.propagate(6, 9))
    tr.add_clicks(a, 2, [Click(12, 16)])  # 3..5 are stale; 6 was prompted, 7..9 were tracked from it
    assert tr.tracked_frames(a) == [0, 1, 2, 6, 7, 8, 9]


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


def test_capture_holds_the_real_decoder_inputs(tiny_model, clip):
    """Re-running the decoder on a capture reproduces exactly what tracking produced on that frame."""
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 4))
    assert tr.capture(a, 0) is None  # a prompted frame is not an unprompted tracking pass
    cap = tr.capture(a, 3)
    assert cap is not None and cap.frame_index == 3 and cap.multimask_output
    k = tr.decoder_constants
    with torch.inference_mode():
        masks, iou, _, obj = tiny_model.mask_decoder(
            image_embeddings=cap.image_embeddings,
            image_positional_embeddings=k.image_positional_embeddings,
            sparse_prompt_embeddings=k.sparse_prompt_embeddings,
            dense_prompt_embeddings=k.dense_prompt_embeddings,
            multimask_output=True,
            high_resolution_features=list(cap.high_resolution_features),
        )
    best = masks[0, 0, int(iou[0, 0].argmax())]
    if float(obj.reshape(-1)[0]) <= 0:
        best = torch.full_like(best, -1024.0)
    assert torch.equal(best, cap.sam_low_res_logits[0, 0])
    assert cap.sam_score == pytest.approx(float(obj.reshape(-1)[0]))


def test_capture_store_is_bounded_in_bytes(tiny_model, clip):
    tr = Tracker(tiny_model, clip, capture_budget_bytes=1)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 9))
    assert len(tr.captures) == 1 and tr.capture(a, 9) is not None
    one = tr.capture(a, 9).nbytes
    tr2 = Tracker(tiny_model, clip, capture_budget_bytes=3 * one)
    b = tr2.add_object()
    tr2.add_clicks(b, 0, [Click(12, 14)])
    list(tr2.propagate(0, 9))
    assert tr2.captures.frames(b) == [7, 8, 9] and tr2.captures.nbytes <= 3 * one


def test_state_outside_the_memory_window_is_evicted(tiny_model):
    src = ClipSource(moving_squares(60))
    tr = Tracker(tiny_model, src)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 59))
    st = tr._objects[a]
    held = sorted(st.outputs["non_cond_frame_outputs"])
    assert held[0] >= 59 - tr.memory_window and held[-1] == 59
    assert 0 in st.outputs["cond_frame_outputs"]  # the user's prompt is never evicted
    assert all("high_res_masks" not in o for b in st.outputs.values() for o in b.values())
    assert tr.tracked_frames(a) == list(range(60))  # eviction forgets memory, not which frames are done


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
