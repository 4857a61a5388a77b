"""What LIT-LoRA keeps per object: its samples, the corrections still to learn, its adapters' records
and the candidates the annotator accepted.

The adapters' weights live in the shared decoder (``adapters.AdapterBank``); these are the plain
records the engine, the trainer and the adapter files agree on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from litlora_desktop.core.lora.samples import CorrectionSample

__all__ = ["AdapterRecord", "ObjectLoRA"]


@dataclass
class AdapterRecord:
    """One adapter of an object: its PEFT name in the decoder, and the label the user sees."""

    name: str
    label: str  # what the user sees, e.g. "A1"
    created: float = field(default_factory=time.time)
    trained_on: list[int] = field(default_factory=list)  # frames


@dataclass
class ObjectLoRA:
    """One object's samples (the replay pool), pending corrections, adapters and accepted frames."""

    samples: list[CorrectionSample] = field(default_factory=list)
    pending: list[CorrectionSample] = field(default_factory=list)
    adapters: dict[str, AdapterRecord] = field(default_factory=dict)
    accepted: dict[int, str] = field(default_factory=dict)  # frame -> adapter label
    corrections: int = 0
    next_label: int = 1

    def add_sample(self, sample: CorrectionSample, max_samples: int) -> None:
        """Queue a correction to learn and keep it for replay; a frame's newer correction replaces its
        older one, and the replay memory stays bounded (oldest dropped first)."""

        def other(s: CorrectionSample) -> bool:
            return s.frame_index != sample.frame_index or s.origin != sample.origin

        self.samples = [s for s in self.samples if other(s)]
        self.pending = [s for s in self.pending if other(s)]
        self.samples.append(sample)
        self.pending.append(sample)
        self.corrections += 1
        while len(self.samples) > max_samples:
            old = self.samples.pop(0)
            if old in self.pending:
                self.pending.remove(old)

    def remove_frame(self, frame_index: int) -> bool:
        """Withdraw a frame's correction from the queue and the replay pool; False if it held none."""
        before = len(self.samples) + len(self.pending)
        self.samples = [s for s in self.samples if s.frame_index != frame_index or s.origin]
        self.pending = [s for s in self.pending if s.frame_index != frame_index or s.origin]
        removed = len(self.samples) + len(self.pending) < before
        if removed:
            self.corrections = max(0, self.corrections - 1)
        return removed

    def new_label(self) -> str:
        """The next adapter label (A1, A2, ...): never reused, even after an adapter is deleted."""
        label = f"A{self.next_label}"
        self.next_label += 1
        return label

    def label_of(self, name: str) -> str:
        """The user's label of an adapter, also for one already deleted (taken from its name)."""
        ad = self.adapters.get(name)
        return ad.label if ad is not None else name.rsplit("_", 1)[-1]
