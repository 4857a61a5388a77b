"""Decoder capture: what the tracker records for LIT-LoRA on unprompted passes, bounded in bytes."""

from __future__ import annotations

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
