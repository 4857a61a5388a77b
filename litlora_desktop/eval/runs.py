"""What one run of the simulated annotator is (``Protocol``), without importing torch.

``litlora-eval``'s driver plans runs, checks stored results against their settings and writes the
report; with ``--ray`` it never tracks, so it should not pay for importing torch and transformers
(about 4 s on a 2-core machine, each time). ``protocol.py`` runs a ``Protocol`` on a sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

from litlora_desktop.eval.metrics import DEFAULT_BOUND_TH

__all__ = ["BASELINE", "SELECT_MODES", "TRAIN_TARGETS", "EvalError", "Protocol"]

BASELINE = "sam2"
SELECT_MODES = ("oracle", "confidence")
TRAIN_TARGETS = ("gt", "final")


class EvalError(Exception):
    """The evaluation cannot go on as asked; the message is meant for the user."""


@dataclass(frozen=True)
class Protocol:
    """One configuration of the simulated annotator (a "run")."""

    tau: float = 0.5
    max_clicks: int = 3
    lora: bool = False
    select: str = "oracle"
    min_confidence: float = 0.0  # confidence mode: no candidate below this confidence
    bound_th: float = DEFAULT_BOUND_TH
    corrections_as_cond: bool = False  # Meta's add_all_frames_to_correct_as_cond (off in the authors' runs)
    train_target: str = "gt"  # what LIT-LoRA learns from a correction: "gt" (the authors) or "final"

    def __post_init__(self) -> None:
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.max_clicks < 0:
            raise ValueError("max_clicks must be >= 0")
        if self.select not in SELECT_MODES:
            raise ValueError(f"select must be one of {', '.join(SELECT_MODES)}")
        if self.train_target not in TRAIN_TARGETS:
            raise ValueError(f"train_target must be one of {', '.join(TRAIN_TARGETS)}")

    @property
    def name(self) -> str:
        """``sam2`` for the baseline, ``litlora-oracle`` / ``litlora-confidence`` with LIT-LoRA."""
        return f"litlora-{self.select}" if self.lora else BASELINE
