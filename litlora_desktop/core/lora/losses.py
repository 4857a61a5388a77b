"""Losses and scores for training LoRA adapters on mask logits (README, "LIT-LoRA": early stopping).

Targets are uint8 label maps: 0 background, 1 foreground, 255 void. Void pixels take no part in a
loss or a score: they are "don't know", not foreground.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

VOID = 255


def _split(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(foreground as float, valid-pixel weight as float) from a uint8 label map."""
    valid = (target != VOID).float()
    fg = (target == 1).float()
    return fg, valid


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss averaged over valid pixels of each sample, then over the batch.

    logits and target are (B, H, W). Focal loss keeps the huge number of easy background pixels from
    drowning the few boundary pixels a correction is about.
    """
    fg, valid = _split(target)
    ce = F.binary_cross_entropy_with_logits(logits, fg, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * fg + (1 - p) * (1 - fg)
    alpha_t = alpha * fg + (1 - alpha) * (1 - fg)
    loss = alpha_t * ce * (1 - p_t) ** gamma
    per_sample = (loss * valid).flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
    return per_sample.mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft dice loss over valid pixels, per sample then averaged; it rewards overlap, not pixel counts."""
    fg, valid = _split(target)
    p = torch.sigmoid(logits) * valid
    fg = fg * valid
    inter = (p * fg).flatten(1).sum(1)
    denom = p.flatten(1).sum(1) + fg.flatten(1).sum(1)
    return (1 - (2 * inter + eps) / (denom + eps)).mean()


def mask_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    focal_weight: float = 20.0,
    dice_weight: float = 1.0,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> torch.Tensor:
    """SAM's mask loss: ``focal_weight * focal + dice_weight * dice``."""
    return focal_weight * focal_loss(logits, target, alpha, gamma) + dice_weight * dice_loss(logits, target)


def score_loss(object_scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the object-score logits (B,) against "the target has foreground".

    SAM2 empties a mask whose object score is not positive, and so do candidates. An adapter taught
    only the mask would keep SAM2's verdict on presence: on a frame where SAM2 lost the object
    (score negative) the lesson would never show. SAM 2's own training loss has this term.
    """
    present = (target == 1).flatten(1).any(1).float()
    return F.binary_cross_entropy_with_logits(object_scores, present)


def downsample_target(target: torch.Tensor, size: int) -> torch.Tensor:
    """(B, S, S) uint8 targets at (B, size, size), the decoder's own mask resolution.

    By the rule ``samples.target_from_mask`` resizes a mask with: a pixel is void where at least half
    of the area it covers is void, else foreground where at least half is foreground. The loss at
    the decoder's resolution needs no upsampling of the logits and has 1/16 of the pixels.
    """
    if target.shape[-1] == size:
        return target
    fg = F.interpolate((target == 1).float()[:, None], size=(size, size), mode="area")[:, 0] >= 0.5
    void = F.interpolate((target == VOID).float()[:, None], size=(size, size), mode="area")[:, 0] >= 0.5
    return torch.where(void, torch.full_like(fg, VOID, dtype=torch.uint8), fg.to(torch.uint8))


def gate(logits: torch.Tensor, object_scores: torch.Tensor) -> torch.Tensor:
    """(B, H, W) logits with frames whose object score is not positive made "no object" (SAM2's rule)."""
    return torch.where(object_scores.reshape(-1, 1, 1) > 0, logits, torch.full_like(logits, -1024.0))


@torch.no_grad()
def iou_scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of ``logits > 0`` with the foreground of each (B, H, W) target, over valid pixels.

    Two empty masks agree perfectly (IoU 1): an object correctly predicted absent is a success.
    """
    fg, valid = _split(target)
    pred = (logits > 0).float() * valid
    fg = fg * valid
    inter = (pred * fg).flatten(1).sum(1)
    union = ((pred + fg) > 0).float().flatten(1).sum(1)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
