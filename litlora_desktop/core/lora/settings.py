"""Every knob of LIT-LoRA, and the presets that let small decoders (tiny-random, the demo model) learn."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from litlora_desktop.core.model_ids import DEMO_MODEL, TINY_RANDOM  # not models: no torch
from litlora_desktop.core.resources import demo_model_dir

__all__ = ["DEMO_MODEL_LORA", "RANDOM_DECODER_LORA", "LoraSettings", "preset_for"]


@dataclass
class LoraSettings:
    """Every knob of the method; defaults are the authors' code (rank 4, alpha 4, dropout 0.1)."""

    rank: int = 4
    alpha: float = 4.0
    dropout: float = 0.1
    lr_new: float = 1e-4
    lr_finetune: float = 5e-5
    max_epochs_new: int = 100
    max_epochs_finetune: int = 20
    patience: int = 10  # stop after this many epochs without gain ...
    converged_iou: float = 0.6  # ... once the best IoU is above this
    give_up_epoch: int = 50  # give up at this epoch ...
    give_up_iou: float = 0.2  # ... if the best IoU is still below this
    zero_iou_epoch: int = 10  # give up at this epoch if the best IoU is 0
    max_adapters: int = 3
    new_adapter_iou: float = 0.4  # a correction the best adapter scores <= this starts a new adapter
    replay: int = 5
    max_samples_per_object: int = 32  # bounded replay memory (oldest dropped first)
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    score_weight: float = 1.0  # BCE on the object score (losses.score_loss): candidates obey it
    weight_decay: float = 0.0  # AdamW without weight decay, as the authors' code
    per_sample_steps: bool = True  # one optimiser step per sample per epoch, as the authors' code
    # the mask loss on the logits upsampled to S x S; False: on the decoder's own logits (S/4: 256²
    # at 1024 px, 1/16 of the pixels) against the target resized to them. Measured on the demo model
    # (64² against 256², litlora-eval, six hard sequences): 394 corrections against 361 (README), not the default
    loss_full_res: bool = True
    keep_failed_new: bool = False  # keep a new adapter that gave up (the authors' code keeps it)
    auto_apply: bool = False
    auto_apply_threshold: float = 0.9

    def __post_init__(self) -> None:
        if self.rank < 1 or self.max_adapters < 1:
            raise ValueError("rank and max_adapters must be at least 1")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoraSettings:
        """Build from saved settings, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# A tiny *random* decoder must learn spatial selection from scratch: the paper's defaults (rank 4,
# lr 1e-4, 20 focal + 1 dice) are for a pretrained SAM2, whose unprompted output is already close to
# the object, and make no visible progress on a random one. This preset (more capacity, a larger step,
# a dice-heavy loss so a small object cannot collapse to "all background") is for random test and
# developer models only: the tests, ``--model tiny-random`` and ``litlora-eval --model tiny-random``.
RANDOM_DECODER_LORA: dict[str, Any] = {
    "rank": 16,
    "alpha": 16,
    "lr_new": 3e-3,
    "lr_finetune": 1e-3,
    "focal_weight": 1.0,
    "dice_weight": 5.0,
    "score_weight": 0.2,  # a random score head starts near -10: at 1-5 the score term drowned the mask's
    # one full-batch step per epoch: with one step per sample, the engine test's adapters (5
    # corrections, replay) reached held-out IoU 0.13 instead of 0.30 (tests/core/lora/test_litlora.py)
    "per_sample_steps": False,
    "focal_alpha": 0.75,
    "max_epochs_new": 300,
    "max_epochs_finetune": 100,
    "give_up_epoch": 250,
}

# The demo SAM2 (``--model demo``) has a decoder half SAM2.1's width, trained for an hour, not weeks.
# At the paper's settings its adapters give up on the corrections where it matters: measured on
# held-out hard shape scenes, the best adapter IoU on the corrected frame stayed at 0.01-0.04 in
# 4 cases of 4. With the random-decoder preset's capacity, step and loss, 3 of 4 adapters were kept
# and their candidates beat SAM2 on the next 8 frames (mean IoU 0.63 vs 0.47, 0.13 vs 0.04, 0.39 vs
# 0.00). Fewer epochs than that preset: this decoder starts near the answer, and a CPU should finish
# a correction in seconds.
DEMO_MODEL_LORA: dict[str, Any] = RANDOM_DECODER_LORA | {
    "max_epochs_new": 60,
    "max_epochs_finetune": 30,
    "give_up_epoch": 50,
}


def preset_for(model_source: str) -> dict[str, Any]:
    """The settings a model needs beyond the paper's defaults ({} for SAM2.1 and other real models).

    The demo model's folder, named by its path, is the demo model: the same weights get the same
    preset (``litlora-eval --model resources/models/sam2-demo`` ran with the paper's settings).
    """
    if model_source not in (TINY_RANDOM, DEMO_MODEL) and _is_demo_folder(model_source):
        model_source = DEMO_MODEL
    return {TINY_RANDOM: RANDOM_DECODER_LORA, DEMO_MODEL: DEMO_MODEL_LORA}.get(model_source, {})


def _is_demo_folder(source: str) -> bool:
    try:
        return Path(source).expanduser().resolve() == demo_model_dir().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
