"""Candidate masks: what each adapter proposes for a tracked frame, and how it compares with SAM2.

Each adapter runs on the decoder inputs captured when SAM2 tracked the frame unprompted, so a
candidate is the mask the adapter would have given *instead of* SAM2's on that frame, by SAM2's own
rule: where the adapter's object score is not positive, its candidate is the empty mask ("the object
is not here"), never a phantom mask that accepting would write into memory. Candidates come
best first by confidence (predicted IoU times the probability that the object is present).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from litlora_desktop.core.lora.adapters import AdapterBank
from litlora_desktop.core.lora.objects import ObjectLoRA
from litlora_desktop.core.sam2.capture import DecoderCapture
from litlora_desktop.core.sam2.preprocess import upsample_logits

__all__ = ["CandidateMask", "propose"]


@dataclass
class CandidateMask:
    """An adapter's proposal for a frame, with how sure it is and how much it differs from SAM2."""

    object_id: int
    frame_index: int
    adapter: str
    mask: np.ndarray  # (H, W) bool
    predicted_iou: float
    object_score: float
    iou_with_sam: float

    @property
    def confidence(self) -> float:
        """Predicted IoU times the probability the object is present, in [0, 1]."""
        return float(self.predicted_iou) / (1.0 + math.exp(-float(self.object_score)))


def propose(bank: AdapterBank, ob: ObjectLoRA, cap: DecoderCapture) -> list[CandidateMask]:
    """One candidate per adapter of ``ob`` on the captured frame, best first.

    The bank must hold the decoder constants (``AdapterBank.keep_constants``).
    """
    src = bank.tracker.source
    s = bank.tracker.image_size
    names = list(ob.adapters)
    out: list[CandidateMask] = []
    if not names:
        return out
    with bank.lock, torch.no_grad():
        sam = None
        if cap.sam_low_res_logits is not None:
            sam = upsample_logits(cap.sam_low_res_logits, s, src.height, src.width)[0] > 0
        # every adapter in one decoder call, the frame's frozen part computed once
        prep = bank.prepare(cap.image_embeddings, list(cap.high_resolution_features))
        low, iou, obj = bank.run(prep.repeat(len(names)), [(n, 1) for n in names])
        masks = upsample_logits(low[:, None], s, src.height, src.width) > 0
        for i, name in enumerate(names):
            mask_t = masks[i]
            if float(obj[i]) <= 0:  # SAM2's rule: a non-positive object score means "not here"
                mask_t = torch.zeros_like(mask_t)
            out.append(
                CandidateMask(
                    object_id=cap.object_id,
                    frame_index=cap.frame_index,
                    adapter=ob.adapters[name].label,
                    mask=mask_t.cpu().numpy(),
                    predicted_iou=float(iou[i]),
                    object_score=float(obj[i]),
                    iou_with_sam=_iou(mask_t, sam) if sam is not None else float("nan"),
                )
            )
    out.sort(key=lambda c: c.confidence, reverse=True)
    return out


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union > 0 else 1.0
