"""What crosses between the model thread and the GUI thread: a prompt going in, a tracked frame coming
out. Plain values (no torch, no Qt), so either side can hold them and tests can build them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.sam2.results import ObjectMask


@dataclass(frozen=True)
class Prompt:
    """What the user told the tracker on one frame for one object (derived from the store's record)."""

    clicks: tuple[Click, ...] = ()
    box: Box | None = None
    mask: np.ndarray | None = field(default=None, compare=False)
    candidate: Any = field(default=None, compare=False)  # an accepted CandidateMask

    @property
    def kind(self) -> str:
        if self.candidate is not None:
            return "candidate"
        if self.mask is not None:
            return "mask"
        return "clicks" if (self.clicks or self.box is not None) else "none"


@dataclass
class ObjectUpdate:
    """One object's result on a frame, with what LIT-LoRA made of it."""

    mask: ObjectMask
    candidates: list[Any] = field(default_factory=list)
    applied: Any = None  # a CandidateMask auto-applied on this frame
    # LIT-LoRA is on but the candidates were not computed with the frame (a propagation passed it):
    # they wait in ``EngineState.later`` until the frame is shown or the model thread is idle
    candidates_later: bool = False
    # LIT-LoRA is on, but this correction taught nothing, and why (``engine_state.UNLEARNED_*``):
    # LIT-LoRA learns from SAM2's own pass on the frame, and there was none that could be made
    unlearned: str = ""


@dataclass
class TrackOutcome:
    """A tracked frame as the GUI needs it."""

    frame_index: int
    updates: dict[int, ObjectUpdate]
    ms: float
    timings: dict[str, float] = field(default_factory=dict)
    # (frame, object, candidates) of other frames whose candidates had been left for later and whose
    # decoder captures the tracker evicted while tracking this one: computed before they were gone
    late: list[tuple[int, int, list[Any]]] = field(default_factory=list)


def sigmoid(x: float) -> float:
    """SAM2's object-score logit as a probability (the lanes' confidence), safe for any float."""
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))
