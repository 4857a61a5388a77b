"""What an evaluation counts, per object and per (run, sequence), and the store that makes it resumable.

Every finished (run, sequence) is written as one JSON file at once (atomically), so an interrupted
evaluation resumes where it stopped and the reports read results back from the same files.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["RESULT_VERSION", "ObjectResult", "SequenceResult", "load_result", "result_path", "save_result"]

RESULT_VERSION = 1


@dataclass
class ObjectResult:
    """One object's counts over a sequence."""

    object_id: int
    first_frame: int
    frames: int = 0  # scored frames (ground truth, after the first)
    corrections: int = 0
    clicks: int = 0
    full_masks: int = 0  # corrections that needed the ground-truth mask
    offered: int = 0  # failing frames on which LIT-LoRA had candidates
    acceptances: int = 0
    trainings: int = 0
    train_seconds: float = 0.0
    j_sum: float = 0.0  # of the masks the annotator ends with
    f_sum: float = 0.0
    jt_sum: float = 0.0  # of SAM2's tracked masks, before the annotator acts
    ft_sum: float = 0.0
    corrected_frames: list[int] = field(default_factory=list)
    accepted_frames: list[int] = field(default_factory=list)

    @property
    def j(self) -> float:
        return self.j_sum / self.frames if self.frames else math.nan

    @property
    def f(self) -> float:
        return self.f_sum / self.frames if self.frames else math.nan

    @property
    def j_tracked(self) -> float:
        return self.jt_sum / self.frames if self.frames else math.nan

    @property
    def f_tracked(self) -> float:
        return self.ft_sum / self.frames if self.frames else math.nan


@dataclass
class SequenceResult:
    """A (run, sequence) result: what the resumable store keeps and the reports read."""

    run: str
    sequence: str
    num_frames: int
    objects: list[ObjectResult]
    seconds: float
    settings: dict[str, Any]
    error: str | None = None

    def total(self, name: str) -> float:
        return sum(getattr(o, name) for o in self.objects)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["version"] = RESULT_VERSION
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SequenceResult:
        known = {f.name for f in fields(ObjectResult)}
        objs = [ObjectResult(**{k: v for k, v in o.items() if k in known}) for o in d["objects"]]
        return cls(
            run=d["run"],
            sequence=d["sequence"],
            num_frames=int(d["num_frames"]),
            objects=objs,
            seconds=float(d["seconds"]),
            settings=d["settings"],
            error=d.get("error"),
        )


def result_path(out_dir: Path, run: str, sequence: str) -> Path:
    """Where a (run, sequence) result is stored: one file each, so every pair resumes on its own."""
    return out_dir / "runs" / run / f"{sequence}.json"


def load_result(path: Path) -> SequenceResult | None:
    """A stored result, or None when the file is missing or unreadable (it is then recomputed)."""
    try:
        return SequenceResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_result(out_dir: Path, result: SequenceResult) -> Path:
    """Write atomically (temporary file, then rename): a kill never leaves a half result."""
    path = result_path(out_dir, result.run, result.sequence)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    os.replace(tmp, path)
    return path
