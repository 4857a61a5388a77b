"""SAM 2's training loss for one frame of a batch.

Per frame: 20 x focal + 1 x dice on the mask, 1 x L1 between the predicted and the actual IoU of
every offered mask, and 1 x binary cross-entropy on the object score. When the decoder offers several
masks (an ambiguous prompt), only the one with the lowest focal + dice is trained, so the model may
keep different readings of a click in its different outputs. Mask and IoU terms count only on frames
where the target is visible; the object score is trained everywhere (it is what says "gone").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from litlora_desktop.training.forward import DecoderOut

W_FOCAL, W_DICE, W_IOU, W_SCORE = 20.0, 1.0, 1.0, 1.0
W_NORM = 0.01
LOSS_SIZE = 128
"""Masks are compared at 128 x 128 (half the 256-pixel input; the decoder's logits are 64 x 64): on a
CPU the loss at full input size cost as much as the decoder itself, for boundaries the logits cannot
draw finer anyway."""


def mask_weights(progress: float, dice_first: float) -> tuple[float, float]:
    """(focal, dice) weights at a point of training: SAM 2's 20 : 1, after a dice-heavy start.

    SAM 2 starts from a trained image encoder. From scratch, 20 x focal (which weighs background
    pixels 3 : 1) first teaches "no object anywhere", and the model sits there for hundreds of steps;
    1 : 5 gets it out about 2.5 x faster (measured on a fixed batch of the tiny model: click IoU 0.34 vs
    0.14 after 50 steps). Until ``dice_first`` of the run it is 1 : 5, then it moves to 20 : 1 over a
    further 0.2 of the run, so the model ends on SAM 2's recipe.
    """
    if dice_first <= 0 or progress >= dice_first + 0.2:
        return W_FOCAL, W_DICE
    a = max(0.0, (progress - dice_first) / 0.2)
    return 1.0 + a * (W_FOCAL - 1.0), 5.0 + a * (W_DICE - 5.0)


def _focal(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean focal loss over pixels, per mask: (..., H, W) -> (...)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.flatten(-2).mean(-1)


def _dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits).flatten(-2)
    t = target.flatten(-2)
    return 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)


def frame_loss(
    out: DecoderOut,
    target: torch.Tensor,
    present: torch.Tensor,
    w_focal: float = W_FOCAL,
    w_dice: float = W_DICE,
    best_only: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one decoder pass, averaged over the batch, and the IoU of the best mask (B,).

    ``best_only=False`` trains every offered mask on the target instead of the lowest-loss one. From
    scratch this matters: with the minimum, a decoder that ignores the click and spreads its three
    masks over three salient objects scores well, and it stays there (measured: outputs for clicks on
    two different objects of one image differed by 2e-4 in logit after 400 steps). Trained on all
    three, it must read the click (a fixed batch: IoU 0.79 after 100 steps). Our targets are whole
    objects, so nothing is lost by it while the model learns to use prompts.

    ``target`` is (B, S, S) float {0, 1} at model resolution; both go to ``LOSS_SIZE`` (the target by
    area, then a 0.5 threshold, so it stays binary).
    """
    b, m = out.multimask_logits.shape[:2]
    size = (min(LOSS_SIZE, target.shape[-2]), min(LOSS_SIZE, target.shape[-1]))
    if target.shape[-2:] != size:
        target = (F.interpolate(target[:, None].float(), size=size, mode="area")[:, 0] > 0.5).float()
    logits = F.interpolate(out.multimask_logits.float(), size=size, mode="bilinear", align_corners=False)
    tgt = target[:, None].expand(b, m, *size)
    combo = w_focal * _focal(logits, tgt) + w_dice * _dice(logits, tgt)  # (B, M)
    best = combo.detach().argmin(1)
    rows = torch.arange(b)
    with torch.no_grad():
        pred = logits > 0
        inter = (pred & (tgt > 0.5)).flatten(2).sum(-1).float()
        union = (pred | (tgt > 0.5)).flatten(2).sum(-1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    pres = present.float()
    mask_loss = (combo[rows, best] if best_only else combo.mean(1)) * pres
    iou_loss = W_IOU * (out.iou_scores.float() - iou).abs().mean(1) * pres
    score_loss = W_SCORE * F.binary_cross_entropy_with_logits(
        out.object_score_logits.float(), pres, reduction="none"
    )
    total = (mask_loss + iou_loss + score_loss).mean()
    return total, iou[rows, best]


def embedding_norm_penalty(features: torch.Tensor) -> torch.Tensor:
    """Keeps the image embedding's per-token norm near that of the positional encoding.

    The mask decoder finds the clicked place by matching the click's positional encoding (norm
    sqrt(C / 2), sin and cos of C / 2 frequencies) with the one added to every image token. From
    scratch the embedding grows to 8x that norm within minutes (a trained SAM2 starts from features
    that do not), the position drowns in it, and the decoder learns to segment whatever is salient,
    whatever was clicked: measured, the logits for clicks on two different objects differed by 0.01
    after 370 steps without this term and by 5 with it. ``features``: (..., C), C last.
    """
    limit = (features.shape[-1] / 2) ** 0.5
    return W_NORM * torch.relu(features.float().norm(dim=-1) - limit).pow(2).mean()
