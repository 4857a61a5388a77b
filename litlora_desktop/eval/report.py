"""CSV and Markdown reports of an evaluation: per sequence, overall, and the paper's hard subset.

Reductions compare each LIT-LoRA run with the SAM2 baseline on the sequences both have finished, so a
partly finished evaluation still compares like with like. J and F are means over objects of each
object's per-frame mean (as DAVIS averages), J&F their mean: of the masks the annotator ends with
(``J``, ``F``, ``J&F``), and of SAM2's tracked masks before the annotator acts on a frame
(``*_tracked``: how well the model alone follows the object, given the corrections so far). "Hard" sequences are those the baseline
needed at least ``hard_min`` corrections on: the paper's table reports corrections per video on those.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litlora_desktop.eval.results import SequenceResult
from litlora_desktop.eval.runs import BASELINE

CSV_COLUMNS = (
    "run",
    "sequence",
    "objects",
    "frames",
    "corrections",
    "corrections_per_sequence",
    "clicks",
    "full_masks",
    "candidates_offered",
    "acceptances",
    "J",
    "F",
    "J&F",
    "J_tracked",
    "F_tracked",
    "J&F_tracked",
    "train_s_per_correction",
    "reduction_pct",
    "seconds",
)
ALL = "ALL"


@dataclass
class Summary:
    """Counts and scores of one run over a set of sequences."""

    run: str
    sequences: int
    objects: int
    frames: int
    corrections: int
    clicks: int
    full_masks: int
    offered: int
    acceptances: int
    j: float
    f: float
    j_tracked: float
    f_tracked: float
    train_s_per_correction: float
    seconds: float
    reduction_pct: float = math.nan

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2

    @property
    def jf_tracked(self) -> float:
        return (self.j_tracked + self.f_tracked) / 2

    @property
    def corrections_per_sequence(self) -> float:
        return self.corrections / self.sequences if self.sequences else math.nan


def summarize(run: str, results: Iterable[SequenceResult]) -> Summary:
    """Add up a run's results (J and F: mean over objects with scored frames)."""
    results = list(results)
    objs = [o for r in results for o in r.objects]
    scored = [o for o in objs if o.frames]
    trainings = sum(o.trainings for o in objs)
    return Summary(
        run=run,
        sequences=len(results),
        objects=len(objs),
        frames=sum(o.frames for o in objs),
        corrections=sum(o.corrections for o in objs),
        clicks=sum(o.clicks for o in objs),
        full_masks=sum(o.full_masks for o in objs),
        offered=sum(o.offered for o in objs),
        acceptances=sum(o.acceptances for o in objs),
        j=_mean([o.j for o in scored]),
        f=_mean([o.f for o in scored]),
        j_tracked=_mean([o.j_tracked for o in scored]),
        f_tracked=_mean([o.f_tracked for o in scored]),
        train_s_per_correction=sum(o.train_seconds for o in objs) / trainings if trainings else math.nan,
        seconds=sum(r.seconds for r in results),
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def reduction(base: int | float, other: int | float) -> float:
    """% fewer corrections than the baseline (NaN when the baseline needed none)."""
    return 100.0 * (base - other) / base if base else math.nan


class Report:
    """Every run's results by sequence, and the comparisons the tables show."""

    def __init__(self, results: Iterable[SequenceResult], hard_min: int = 10) -> None:
        self.by_run: dict[str, dict[str, SequenceResult]] = {}
        for r in results:
            self.by_run.setdefault(r.run, {})[r.sequence] = r
        self.runs = sorted(self.by_run, key=lambda n: (n != BASELINE, n))
        self.hard_min = hard_min
        base = self.by_run.get(BASELINE, {})
        self.hard = sorted(s for s, r in base.items() if r.total("corrections") >= hard_min)

    @property
    def sequences(self) -> list[str]:
        return sorted({s for runs in self.by_run.values() for s in runs})

    def overall(self, only: Sequence[str] | None = None) -> list[Summary]:
        """One summary per run; each LIT-LoRA run's reduction is over the sequences the baseline shares."""
        base = self.by_run.get(BASELINE, {})
        out = []
        for run in self.runs:
            rs = self.by_run[run]
            names = [s for s in rs if only is None or s in only]
            summ = summarize(run, (rs[s] for s in names))
            if run != BASELINE and base:
                common = [s for s in names if s in base]
                b = sum(base[s].total("corrections") for s in common)
                o = sum(rs[s].total("corrections") for s in common)
                summ.reduction_pct = reduction(b, o)
            out.append(summ)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: per (run, sequence), then ALL, then the hard subset."""
        rows = []
        base = self.by_run.get(BASELINE, {})
        for run in self.runs:
            for seq in sorted(self.by_run[run]):
                summ = summarize(run, [self.by_run[run][seq]])
                if run != BASELINE and seq in base:
                    summ.reduction_pct = reduction(base[seq].total("corrections"), summ.corrections)
                rows.append(_row(summ, seq))
        rows += [_row(s, ALL) for s in self.overall()]
        if self.hard:
            rows += [_row(s, f"HARD(>={self.hard_min})") for s in self.overall(self.hard)]
        return rows

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(self.rows())
        os.replace(tmp, path)
        return path

    def markdown(self, meta: dict[str, Any] | None = None) -> str:
        lines = ["# litlora-eval results", ""]
        for k, v in (meta or {}).items():
            lines.append(f"- **{k}**: {v}")
        if meta:
            lines.append("")
        lines += [
            "## Overall",
            "",
            "| run | sequences | objects | corrections | per sequence | clicks | full masks | candidates accepted "
            "| J | F | J&F | J&F tracked | train s / correction | corrections saved |",
            "| --- |" + " ---: |" * 13,
        ]
        for s in self.overall():
            lines.append(
                f"| {s.run} | {s.sequences} | {s.objects} | {s.corrections} | {_f(s.corrections_per_sequence, 2)} "
                f"| {s.clicks} | {s.full_masks} | {s.acceptances} | {_f(s.j, 3)} | {_f(s.f, 3)} | {_f(s.jf, 3)} "
                f"| {_f(s.jf_tracked, 3)} | {_f(s.train_s_per_correction, 2)} | {_pct(s.reduction_pct)} |"
            )
        lines += ["", f"## Videos needing ≥ {self.hard_min} corrections with SAM2 (the paper's table)", ""]
        if self.hard:
            lines += [
                "| run | videos | corrections per video | corrections saved |",
                "| --- | ---: | ---: | ---: |",
            ]
            for s in self.overall(self.hard):
                lines.append(
                    f"| {s.run} | {s.sequences} | {_f(s.corrections_per_sequence, 2)} | {_pct(s.reduction_pct)} |"
                )
        else:
            lines.append(
                f"No sequence needed {self.hard_min} or more corrections with SAM2 (or no baseline run)."
            )
        lines += ["", "## Per sequence: corrections (J&F)", ""]
        lines.append("| sequence | " + " | ".join(self.runs) + " |")
        lines.append("| --- |" + " ---: |" * len(self.runs))
        for seq in self.sequences:
            cells = []
            for run in self.runs:
                r = self.by_run[run].get(seq)
                if r is None:
                    cells.append("–")
                    continue
                s = summarize(run, [r])
                cells.append(f"{s.corrections} ({_f(s.jf, 3)})")
            lines.append(f"| {seq} | " + " | ".join(cells) + " |")
        lines.append("")
        return "\n".join(lines)

    def write_markdown(self, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.markdown(meta))
        os.replace(tmp, path)
        return path


def _row(s: Summary, sequence: str) -> dict[str, Any]:
    return {
        "run": s.run,
        "sequence": sequence,
        "objects": s.objects,
        "frames": s.frames,
        "corrections": s.corrections,
        "corrections_per_sequence": _f(s.corrections_per_sequence, 3),
        "clicks": s.clicks,
        "full_masks": s.full_masks,
        "candidates_offered": s.offered,
        "acceptances": s.acceptances,
        "J": _f(s.j, 4),
        "F": _f(s.f, 4),
        "J&F": _f(s.jf, 4),
        "J_tracked": _f(s.j_tracked, 4),
        "F_tracked": _f(s.f_tracked, 4),
        "J&F_tracked": _f(s.jf_tracked, 4),
        "train_s_per_correction": _f(s.train_s_per_correction, 3),
        "reduction_pct": _f(s.reduction_pct, 2),
        "seconds": _f(s.seconds, 1),
    }


def _f(v: float, digits: int) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.1f} %"
