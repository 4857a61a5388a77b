"""LIT-LoRA engine: it learns from corrections, samples need a tracked frame, undo withdraws a sample, cleanup frees everything."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.core.lora.conftest import RANDOM_DECODER, mask_iou, setup_engine

per_family = pytest.mark.usefixtures("each_family")  # the test runs on every model family


@per_family
@pytest.mark.parametrize("each_family", ["sam3", "edgetam"], indirect=True)
def test_every_family_learns_its_corrections(scene):
    """On every family, adapters trained on three corrections give candidates that match them.

    SAM2.1 is asked the same, and more, by the test after this one (five corrections, the same bar
    on the corrected frames, then frames never corrected), so this one runs on the other families.
    Whether the lesson also transfers to frames never corrected depends on the image encoder's
    features; on tiny random SAM 3 and EdgeTAM encoders the held-out IoU came out at 0.06-0.12,
    below that test's 0.15 bar (see the issue 17 note).
    """
    _, tr, eng, obj = setup_engine(scene, RANDOM_DECODER, upto=1)
    corrected, base = [3, 6, 9], {}
    for f in range(1, 10):
        base[f] = tr.track(f).masks[obj].mask
        if f in corrected:
            assert eng.add_correction(obj, f, scene.mask(obj, f)) is not None
            assert eng.train(obj)[-1].finished
            tr.add_mask(obj, f, scene.mask(obj, f))
    best = [max(mask_iou(c.mask, scene.mask(obj, f)) for c in eng.candidates(obj, f)) for f in corrected]
    sam = [mask_iou(base[f], scene.mask(obj, f)) for f in corrected]
    assert np.mean(best) > 0.6 and np.mean(best) > np.mean(sam) + 0.4, (sam, best)


@pytest.mark.slow
def test_it_learns_from_corrections_and_generalises_to_later_frames(scene):
    """Corrections on frames 3..15 teach an adapter; it must then segment frames 18..29 it never saw.

    Fairness: the target keeps its texture and shape but moves, rotates and scales over the video, so
    the held-out frames show it at positions the corrections never covered (checked below: the
    held-out masks overlap the union of the corrected masks by less than half). Only the appearance
    lesson transfers; a memorised position would score ~0. The random base model's SAM2 masks are the
    baseline (they are empty: a random object-score head says "absent"). As in the paper's protocol,
    the best of the (up to 3) candidates is the one accepted. SAM2.1 only (see the test above).
    Training draws dropout masks from torch's global generator, so it is seeded here: the figures
    then no longer depend on which tests ran before (0.143 against the 0.15 bar in one order).
    """
    torch.manual_seed(0)
    _, tr, eng, obj = setup_engine(scene, RANDOM_DECODER, upto=1)
    corrected, held = [3, 6, 9, 12, 15], list(range(18, 30))
    base: dict[int, np.ndarray] = {}
    for f in range(1, 30):
        base[f] = tr.track(f).masks[obj].mask
        if f in corrected:
            assert eng.add_correction(obj, f, scene.mask(obj, f)) is not None
            reports = eng.train(obj)
            assert reports and reports[-1].finished
            tr.add_mask(obj, f, scene.mask(obj, f))  # the correction also goes into SAM2's memory
    union = np.any([scene.mask(obj, f) for f in corrected], axis=0)
    assert np.mean([mask_iou(scene.mask(obj, f), union) for f in held]) < 0.5

    def mean_iou(frames, masks):
        return float(np.mean([mask_iou(masks(f), scene.mask(obj, f)) for f in frames]))

    def cand(f):  # the paper's protocol: the annotator picks the best candidate (an oracle here)
        cs = eng.candidates(obj, f)
        assert cs, f"no candidate on frame {f}"
        return max(cs, key=lambda c: mask_iou(c.mask, scene.mask(obj, f))).mask

    base_corr, cand_corr = mean_iou(corrected, base.__getitem__), mean_iou(corrected, cand)
    base_held, cand_held = mean_iou(held, base.__getitem__), mean_iou(held, cand)
    assert cand_corr > 0.6 and cand_corr > base_corr + 0.4, (base_corr, cand_corr)
    assert cand_held > 0.15 and cand_held > base_held + 0.1, (base_held, cand_held)


@per_family
def test_no_candidates_before_training_and_none_for_untracked_frames(scene):
    _, tr, eng, obj = setup_engine(scene)
    assert eng.candidates(obj, 3) == []
    assert eng.add_correction(obj, 0, scene.mask(obj, 0)) is None  # prompted, never tracked
    assert eng.add_correction(obj, 20, scene.mask(obj, 20)) is None  # not tracked yet
    assert eng.num_samples(obj) == 0


@per_family
def test_deleting_an_object_and_closing_free_everything(scene):
    model, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=5), upto=6)
    eng.add_correction(obj, 3, scene.mask(obj, 3))
    eng.train(obj)
    sample_ref = weakref.ref(eng._objects[obj].samples[0].image_embeddings)
    assert eng.memory_bytes > 0 and any("lora_A" in n for n, _ in model.mask_decoder.named_parameters())
    eng.drop_object(obj)
    tr.remove_object(obj)
    gc.collect()
    assert sample_ref() is None and eng.memory_bytes == 0 and len(tr.captures) == 0
    assert not any("lora_A" in n for n, _ in model.mask_decoder.named_parameters())
    eng.close()
    tr.close()
    assert eng.num_adapters(obj) == 0 and tr.memory_bytes["features"] == 0


@per_family
def test_an_undone_correction_is_withdrawn(scene):
    _, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=5), upto=6)
    eng.add_correction(obj, 3, scene.mask(obj, 3))
    eng.add_correction(obj, 4, scene.mask(obj, 4))
    assert eng.remove_correction(obj, 4) and not eng.remove_correction(obj, 4)
    assert [s.frame_index for s in eng._objects[obj].samples] == [3]
    assert [s.frame_index for s in eng._objects[obj].pending] == [3]
    eng.train(obj)
    assert eng.remove_correction(obj, 3) and eng.num_samples(obj) == 0 and not eng.has_pending(obj)
