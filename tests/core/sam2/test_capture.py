"""Decoder capture: what the tracker records for LIT-LoRA on unprompted passes, bounded in bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.core.sam2.tracker import Tracker


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


def test_the_objects_of_a_frame_share_its_high_resolution_maps_and_the_budget_counts_them_once(
    tiny_model, clip
):
    """At 1024 px the high-resolution maps are 12 of a capture's 16 MiB and are the frame's, not the
    object's: counted per object, k objects filled the budget k times too early (and every early
    eviction of a cell that waits for LIT-LoRA candidates costs decoder passes)."""
    tr = Tracker(tiny_model, clip)
    a, b = tr.add_object(), tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    tr.add_clicks(b, 0, [Click(40, 30)])
    list(tr.propagate(0, 4))
    ca, cb = tr.capture(a, 3), tr.capture(b, 3)
    ptrs = [[t.untyped_storage().data_ptr() for t in c.high_resolution_features] for c in (ca, cb)]
    assert ptrs[0] == ptrs[1]  # the same tensors
    shared = ca.nbytes - ca.own_nbytes
    assert shared > 0
    frames = 4  # frames 1..4 for both objects
    assert tr.captures.nbytes == frames * (shared + ca.own_nbytes + cb.own_nbytes)
    tr.captures.pop(a, 3)
    assert tr.captures.nbytes == frames * (shared + ca.own_nbytes + cb.own_nbytes) - ca.own_nbytes
    tr.captures.pop(b, 3)  # the last holder of frame 3's maps: they go too
    assert tr.captures.nbytes == (frames - 1) * (shared + ca.own_nbytes + cb.own_nbytes)
    tr.captures.clear()
    assert tr.captures.nbytes == 0 and tr.captures._shared == {}


def _same_capture(x, y) -> bool:
    return (
        torch.equal(x.image_embeddings, y.image_embeddings)
        and all(
            torch.equal(p, q)
            for p, q in zip(x.high_resolution_features, y.high_resolution_features, strict=True)
        )
        and torch.equal(x.sam_low_res_logits, y.sam_low_res_logits)
        and x.sam_score == y.sam_score
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_observe_makes_the_pass_tracking_would_have_made_and_changes_nothing_else(tiny_model, clip, reverse):
    """A frame this tracker never tracked (a reopened project) has no capture to learn a correction
    from; ``observe`` runs SAM2's pass there from the memory the object holds, and only keeps its
    capture. With the same memory, it is the very pass tracking makes (forward or backward, from the
    side of the nearest prompt)."""
    start, done, target = (9, [8, 7], 6) if reverse else (0, [1, 2], 3)
    tracked = Tracker(tiny_model, clip)
    a = tracked.add_object()
    tracked.add_clicks(a, start, [Click(12, 14)])
    for f in [*done, target]:
        tracked.track(f, reverse=reverse)
    tr = Tracker(tiny_model, clip)
    b, c = tr.add_object(), tr.add_object()
    tr.add_clicks(b, start, [Click(12, 14)])
    tr.add_clicks(c, 4, [Click(70, 30)])
    for f in done:
        tr.track(f, reverse=reverse, object_ids=[b])
    frames_before = tr.tracked_frames(b)
    outputs_before = {k: dict(v) for k, v in tr._objects[b].outputs.items()}
    assert tr.capture(b, target) is None
    assert tr.observe(b, target)
    assert _same_capture(tr.capture(b, target), tracked.capture(a, target))
    # the object's tracking state is as it was: the frame is not marked tracked, no output added
    assert tr.tracked_frames(b) == frames_before
    assert {k: dict(v) for k, v in tr._objects[b].outputs.items()} == outputs_before
    assert tr.capture(c, target) is None and tr.tracked_frames(c) == [4]  # another object is untouched


def test_observe_a_frame_whose_capture_was_evicted_keeps_its_tracked_result(tiny_model, clip):
    tr = Tracker(tiny_model, clip, capture_budget_bytes=1)  # one capture held at a time
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 5))
    assert tr.capture(a, 3) is None
    result = tr._objects[a].outputs["non_cond_frame_outputs"][3]
    assert tr.observe(a, 3) and tr.capture(a, 3) is not None
    assert tr._objects[a].outputs["non_cond_frame_outputs"][3] is result
    assert tr.tracked_frames(a) == list(range(6))


def test_observe_needs_a_prompt_elsewhere_and_an_unprompted_frame(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    assert not tr.observe(a, 3)  # no prompt yet: SAM2 has nothing to track from
    tr.add_clicks(a, 0, [Click(12, 14)])
    assert not tr.observe(a, 0)  # the prompted frame: what the user said, no pass of SAM2's own
    assert tr.capture(a, 0) is None


def test_tracking_after_observe_gives_the_masks_it_gives_without(tiny_model, clip):
    def run(observe: bool) -> list:
        tr = Tracker(tiny_model, clip)
        a = tr.add_object()
        tr.add_clicks(a, 0, [Click(12, 14)])
        tr.track(1)
        if observe:
            assert tr.observe(a, 6) and tr.observe(a, 1)  # ahead, and a frame tracked already
        return [r.masks[a].mask for r in tr.propagate(1, 8)]

    for x, y in zip(run(True), run(False), strict=True):
        assert np.array_equal(x, y)
