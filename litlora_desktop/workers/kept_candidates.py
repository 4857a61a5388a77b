"""Candidates as the GUI keeps them: the mask packed as RLE, decoded when it is looked at.

With LIT_LoRA on, every tracked cell gets one candidate per adapter, and a propagation now leaves
none without (the ones it deferred arrive afterwards). Kept as dense bool arrays that is 2 MB per
1080p candidate: 3,000 frames x 2 objects x 3 adapters would be 36 GB in the GUI process. As
compressed RLE a blob-shaped mask is a few KB. They are packed on the model thread, where they are
computed (``packed_candidates``), so the GUI thread never encodes; only the shown frame's
candidates (and an accepted one) are decoded, and the last few decoded masks are cached.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.rle import encode_mask

DECODED_KEPT = 32  # decoded masks cached: a frame's candidates for a few objects, across repaints
_decoded: OrderedDict[KeptCandidate, np.ndarray] = OrderedDict()  # identity-hashed keys


class KeptCandidate:
    """A ``CandidateMask`` with its mask packed; the same attributes, ``mask`` decoded on demand."""

    __slots__ = (
        "_counts",
        "_size",
        "adapter",
        "confidence",
        "frame_index",
        "iou_with_sam",
        "object_id",
        "object_score",
        "predicted_iou",
    )

    def __init__(self, cand: Any) -> None:
        self.object_id = int(cand.object_id)
        self.frame_index = int(cand.frame_index)
        self.adapter = str(cand.adapter)
        self.predicted_iou = float(cand.predicted_iou)
        self.object_score = float(cand.object_score)
        self.iou_with_sam = float(cand.iou_with_sam)
        self.confidence = float(cand.confidence)
        h, w, self._counts = encode_mask(cand.mask)
        self._size = [h, w]

    @property
    def nbytes(self) -> int:
        """Bytes the packed mask holds."""
        return len(self._counts)

    @property
    def mask(self) -> np.ndarray:
        """The (H, W) bool mask; read-only, decoded once and cached while recently used."""
        mask = _decoded.get(self)
        if mask is not None:
            _decoded.move_to_end(self)
            return mask
        mask = mask_utils.decode({"size": self._size, "counts": self._counts.encode("ascii")}).astype(bool)
        mask.flags.writeable = False
        _decoded[self] = mask
        while len(_decoded) > DECODED_KEPT:
            _decoded.popitem(last=False)
        return mask


def kept(cands: list[Any]) -> list[KeptCandidate]:
    """Pack a cell's candidates (already packed ones are kept as they are)."""
    return [c if isinstance(c, KeptCandidate) else KeptCandidate(c) for c in cands]


def packed_candidates(state: Any, oid: int, frame: int, capture: Any = None) -> list[KeptCandidate]:
    """The candidates of a tracked cell from the engine's LIT-LoRA (``EngineState``), packed where
    they are computed, on the model thread; [] without LIT-LoRA."""
    return kept(state.lora.candidates(oid, frame, capture)) if state.lora is not None else []
