"""Samples made from the annotator's corrections: what the decoder saw on a frame, and what it should
have said there.

A sample pairs the mask decoder's inputs captured when SAM2 tracked the frame *unprompted* (so an
adapter learns to give the corrected mask without clicks) with the corrected mask at the model's
square input size. Void pixels (255) stay void through the resize, so the loss ignores them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

from litlora_desktop.core.lora.losses import VOID
from litlora_desktop.core.sam2.capture import DecoderCapture

__all__ = ["CorrectionSample", "stack_samples", "target_from_mask"]


@dataclass
class CorrectionSample:
    """One lesson: decoder inputs of an unprompted pass on a frame, and the mask it should have given."""

    object_id: int
    frame_index: int
    image_embeddings: torch.Tensor  # (1, C, h, w), a normal (autograd-capable) tensor
    high_resolution_features: tuple[torch.Tensor, ...]
    target: torch.Tensor  # (S, S) uint8: 0, 1, or 255 void
    created: float = field(default_factory=time.time)
    adapter: str | None = None
    # "" for a correction made on this video; else the project it came from (its frame_index is that
    # video's, so it never stands for, or is replaced by, a correction of the same frame here)
    origin: str = ""

    @classmethod
    def from_capture(cls, cap: DecoderCapture, target: torch.Tensor) -> CorrectionSample:
        """A sample of a captured pass. Call it outside inference mode: the capture holds inference
        tensors, and the clones must be normal tensors that training can backpropagate through."""
        return cls(
            object_id=cap.object_id,
            frame_index=cap.frame_index,
            image_embeddings=cap.image_embeddings.clone(),
            high_resolution_features=tuple(t.clone() for t in cap.high_resolution_features),
            target=target,
        )

    def to(self, device: torch.device | str) -> CorrectionSample:
        """The same sample with its tensors on ``device`` (a parked object's go to the CPU: a GPU's
        memory is the tracker's)."""
        return replace(
            self,
            image_embeddings=self.image_embeddings.to(device),
            high_resolution_features=tuple(t.to(device) for t in self.high_resolution_features),
            target=self.target.to(device),
        )

    @property
    def nbytes(self) -> int:
        ts = [self.image_embeddings, *self.high_resolution_features, self.target]
        return sum(t.numel() * t.element_size() for t in ts)


def target_from_mask(mask: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """A corrected mask (bool, or uint8 with 255 void) as the (size, size) uint8 target 0/1/255."""
    s = size
    if mask.dtype == bool:
        labels = mask.astype(np.uint8)
    else:
        labels = np.where(mask == VOID, VOID, (mask > 0).astype(np.uint8)).astype(np.uint8)
    fg = cv2.resize((labels == 1).astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) >= 0.5
    void = cv2.resize((labels == VOID).astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) >= 0.5
    out = np.where(void, VOID, fg.astype(np.uint8)).astype(np.uint8)
    return torch.from_numpy(out).to(device)


def stack_samples(samples: list[CorrectionSample]) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Samples as one decoder batch: (embeddings, the two high-resolution maps, targets)."""
    emb = torch.cat([s.image_embeddings for s in samples])
    hires = [torch.cat([s.high_resolution_features[i] for s in samples]) for i in range(2)]
    tgt = torch.stack([s.target for s in samples])
    return emb, hires, tgt
