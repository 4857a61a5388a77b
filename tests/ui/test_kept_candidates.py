"""The GUI keeps every tracked cell's candidates: packed, or a long 1080p propagation would hold tens
of GB of dense masks (3,000 frames x 2 objects x 3 adapters x 2 MB)."""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.core.lora.candidates import CandidateMask
from litlora_desktop.workers import kept_candidates
from litlora_desktop.workers.kept_candidates import KeptCandidate, kept


def blob(h: int = 1080, w: int = 1920) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - 0.46 * h) / (0.28 * h)) ** 2 + ((xx - 0.47 * w) / (0.22 * w)) ** 2 + 0.05 * np.sin(
        xx / 9.0
    ) < 1


def candidate(mask: np.ndarray) -> CandidateMask:
    return CandidateMask(1, 7, "A", mask, predicted_iou=0.8, object_score=2.0, iou_with_sam=0.6)


def test_a_kept_candidate_is_small_and_gives_back_the_same_mask_and_figures():
    dense = candidate(blob())
    k = KeptCandidate(dense)
    assert k.nbytes < dense.mask.nbytes / 100  # 2 MB dense, a few KB packed
    assert np.array_equal(k.mask, dense.mask) and k.mask.dtype == bool
    assert (k.object_id, k.frame_index, k.adapter) == (1, 7, "A")
    assert k.confidence == pytest.approx(dense.confidence) and k.iou_with_sam == pytest.approx(0.6)
    with pytest.raises(ValueError):
        k.mask[0, 0] = True  # shared by repaints: never written through


def test_decoded_masks_are_cached_for_a_few_candidates_only():
    ks = kept([candidate(blob(60, 80)) for _ in range(kept_candidates.DECODED_KEPT + 10)])
    assert kept(ks)[0] is ks[0]  # packing twice changes nothing
    for k in ks:
        assert k.mask.any()
    assert ks[-1].mask is ks[-1].mask  # a repaint does not decode again
    assert len(kept_candidates._decoded) <= kept_candidates.DECODED_KEPT
