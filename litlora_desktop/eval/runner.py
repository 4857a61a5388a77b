"""The paper's simulated-annotator protocol over a dataset, with LIT-LoRA off or on.

For each sequence and object: the object is initialised from its first non-empty ground-truth mask and
tracked frame by frame. On every later frame with ground truth, a mask whose IoU is below τ is a
*failing frame*:

1. With LIT-LoRA on, the adapters' candidates are offered first. ``oracle`` (the paper's protocol)
   takes the candidate with the best ground-truth IoU, ``confidence`` the most confident one without
   looking at the ground truth (what an auto-apply user gets). If the chosen candidate reaches τ it is
   accepted (it becomes SAM2's memory on that frame) and no correction is needed. A chosen candidate
   below τ is what the user would reject: the frame is then corrected as without LIT-LoRA.
2. Otherwise the annotator corrects (``annotator.correct_frame``): up to 3 clicks into the tracker,
   then the full ground-truth mask if still below τ. One correction per frame, however many clicks.
   With LIT-LoRA on, the corrected mask (the click result, or the ground truth) becomes a training
   sample of the *pre-correction* tracked pass and the object's adapters are trained on it right away
   (blocking, timed), before the next frame is tracked.

J and F are scored on the masks the annotator ends with on every scored frame (tracked, accepted or
corrected), excluding the initialising frame; frames without ground truth (SA-V annotates every 4th
frame) are tracked but neither scored nor corrected.

Several processes (``workers``) share the sequences; each loads the model once. Every finished
(run, sequence) is written as JSON at once, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import RANDOM_DECODER_LORA, LoraSettings
from litlora_desktop.core.sam2.allocator import tune_malloc
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.eval.annotator import correct_frame
from litlora_desktop.eval.dataset import EvalSequence
from litlora_desktop.eval.metrics import DEFAULT_BOUND_TH, f_measure, jaccard

TINY_RANDOM = "tiny-random"
BASELINE = "sam2"
SELECT_MODES = ("oracle", "confidence")
RESULT_VERSION = 1


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

    def __post_init__(self) -> None:
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.max_clicks < 0:
            raise ValueError("max_clicks must be >= 0")
        if self.select not in SELECT_MODES:
            raise ValueError(f"select must be one of {', '.join(SELECT_MODES)}")

    @property
    def name(self) -> str:
        """``sam2`` for the baseline, ``litlora-oracle`` / ``litlora-confidence`` with LIT-LoRA."""
        return f"litlora-{self.select}" if self.lora else BASELINE


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


# ----------------------------------------------------------------------------------------- model
def lora_settings_for(model_spec: str, **overrides: Any) -> LoraSettings:
    """The LoRA settings of a run: the paper's defaults (random-decoder ones for tiny-random) + overrides."""
    base = asdict(LoraSettings())
    if model_spec == TINY_RANDOM:
        base.update(RANDOM_DECODER_LORA)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return LoraSettings(**base)


def load_eval_model(spec: str, device: str | None = None) -> tuple[torch.nn.Module, torch.dtype | None]:
    """(model, autocast dtype) from a hub id, folder, Meta .pt, or ``tiny-random`` (tests, demos)."""
    from litlora_desktop.core.sam2.models import choose_device, load_model, random_model, tiny_config

    if spec == TINY_RANDOM:
        choice = choose_device(device)
        return random_model(tiny_config(64, init_std=0.2), seed=0).to(choice.device), choice.autocast_dtype
    loaded = load_model(spec, device=device)
    return loaded.model, loaded.device.autocast_dtype


# ----------------------------------------------------------------------------------------- protocol
def _choose_candidate(cands: list[Any], gt: np.ndarray, protocol: Protocol) -> tuple[Any, float] | None:
    if not cands:
        return None
    if protocol.select == "oracle":
        scored = [(c, jaccard(c.mask, gt)) for c in cands]
        return max(scored, key=lambda t: t[1])
    top = cands[0]  # sorted by confidence
    if top.confidence < protocol.min_confidence:
        return None
    return top, jaccard(top.mask, gt)


def evaluate_sequence(
    model: torch.nn.Module,
    seq: EvalSequence,
    protocol: Protocol,
    *,
    lora_settings: LoraSettings | None = None,
    autocast_dtype: torch.dtype | None = None,
    settings_record: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SequenceResult:
    """Run the simulated annotator over one sequence (see the module docstring) and count.

    ``progress(n)`` is called after every frame with the number of frames just done (1).
    """
    t_start = time.perf_counter()
    torch.manual_seed(zlib.crc32(seq.name.encode()))  # LoRA init and dropout: same result on any worker
    source = VideoSource.open(seq.image_dir, cache_bytes=64 * 2**20)
    if source.num_frames != seq.num_frames:
        source.close()
        raise EvalError(
            f"'{seq.image_dir}' has {source.num_frames} readable frames, expected {seq.num_frames}."
        )
    shape = (source.height, source.width)
    tracker = Tracker(model, source, autocast_dtype=autocast_dtype, capture_budget_bytes=256 * 2**20)
    engine = LitLoRA(tracker, lora_settings or LoraSettings()) if protocol.lora else None
    results: dict[int, ObjectResult] = {}
    try:
        for f in range(source.num_frames):
            gts = seq.ground_truth(f, shape)
            for oid, res in results.items():
                om = tracker.track(f, object_ids=[oid]).masks[oid]
                gt = gts.get(oid)
                if gt is None:
                    continue  # tracked, but nothing to compare with
                res.jt_sum += jaccard(om.mask, gt)
                res.ft_sum += f_measure(om.mask, gt, protocol.bound_th)
                final = _handle_frame(tracker, engine, protocol, res, f, om.mask, gt)
                res.frames += 1
                res.j_sum += jaccard(final, gt)
                res.f_sum += f_measure(final, gt, protocol.bound_th)
            for oid, gt in gts.items():
                if oid not in results and gt.any():
                    tracker.add_object(oid)
                    tracker.add_mask(oid, f, gt)
                    results[oid] = ObjectResult(object_id=oid, first_frame=f)
            if progress is not None:
                progress(1)
    finally:
        if engine is not None:
            with warnings.catch_warnings():  # PEFT says which adapter becomes active as each is deleted
                warnings.simplefilter("ignore", UserWarning)
                engine.close()
        tracker.close()
        source.close()
    return SequenceResult(
        run=protocol.name,
        sequence=seq.name,
        num_frames=seq.num_frames,
        objects=[results[k] for k in sorted(results)],
        seconds=time.perf_counter() - t_start,
        settings=settings_record or {},
    )


def _handle_frame(
    tracker: Tracker,
    engine: LitLoRA | None,
    protocol: Protocol,
    res: ObjectResult,
    frame: int,
    pred: np.ndarray,
    gt: np.ndarray,
) -> np.ndarray:
    """One object on one tracked frame: pass, accept a candidate, or correct. Returns the final mask."""
    if jaccard(pred, gt) >= protocol.tau:
        return pred
    oid = res.object_id
    if engine is not None:
        cands = engine.candidates(oid, frame)
        if cands:
            res.offered += 1
        chosen = _choose_candidate(cands, gt, protocol)
        if chosen is not None and chosen[1] >= protocol.tau:
            engine.accept(chosen[0])
            res.acceptances += 1
            res.accepted_frames.append(frame)
            return chosen[0].mask
    corr = correct_frame(
        pred,
        gt,
        lambda click: tracker.add_clicks(oid, frame, [click]).mask,
        tau=protocol.tau,
        max_clicks=protocol.max_clicks,
    )
    res.corrections += 1
    res.clicks += corr.num_clicks
    res.corrected_frames.append(frame)
    if engine is not None:
        # the sample pairs the frame's unprompted tracking pass with the mask the user ended with
        engine.add_correction(oid, frame, corr.mask)
    if corr.used_ground_truth:
        res.full_masks += 1
        tracker.add_mask(oid, frame, corr.mask)
    if engine is not None and engine.has_pending(oid):
        t0 = time.perf_counter()
        engine.train(oid)
        if tracker.device.type == "cuda":
            torch.cuda.synchronize(tracker.device)
        res.train_seconds += time.perf_counter() - t0
        res.trainings += 1
    return corr.mask


# ----------------------------------------------------------------------------------------- store
def result_path(out_dir: Path, run: str, sequence: str) -> Path:
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


# ----------------------------------------------------------------------------------------- progress
class ProgressBar:
    """A one-line progress bar on a terminal; one line per finished sequence otherwise (logs, CI)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.done = max(total, 1), 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream is not None
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self._last = 0.0
        self.label = ""

    def update(self, n: int = 1, label: str | None = None, finished: str | None = None) -> None:
        self.done = min(self.total, self.done + n)
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and (now - self._last > 0.2 or self.done == self.total or finished):
            self._last = now
            frac = self.done / self.total
            el = now - self.t0
            eta = el / frac - el if frac > 0 else 0.0
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            self.stream.write(
                f"\r[{bar}] {100 * frac:5.1f}% {self.done}/{self.total} frames "
                f"{_hms(el)} elapsed, {_hms(eta)} left  {self.label[:40]:<40}"
            )
            self.stream.flush()
        if finished and not self.tty:
            self.stream.write(f"[{100 * self.done / self.total:5.1f}%] {finished}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


# ----------------------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class Task:
    protocol: Protocol
    sequence: EvalSequence
    settings: dict[str, Any]


_WORKER: dict[str, Any] = {}


def _init_worker(model_spec: str, devices: Any, threads: int, lora: dict[str, Any]) -> None:
    tune_malloc()  # a spawned worker is a new process: the parent's allocator settings are not inherited
    torch.set_num_threads(max(1, threads))
    device = devices.get()
    _WORKER["lora"] = LoraSettings(**lora)
    try:
        _WORKER["model"], _WORKER["dtype"] = load_eval_model(model_spec, device)
    except Exception as exc:  # reported with every task of this worker, not as a broken pool
        _WORKER["load_error"] = f"the model could not be loaded: {exc}"


def _run_task(task: Task) -> SequenceResult:
    if "load_error" in _WORKER:
        return _failed(task, _WORKER["load_error"])
    try:
        return evaluate_sequence(
            _WORKER["model"],
            task.sequence,
            task.protocol,
            lora_settings=_WORKER["lora"],
            autocast_dtype=_WORKER["dtype"],
            settings_record=task.settings,
        )
    except Exception as exc:  # reported per sequence; the others go on
        return _failed(task, f"{exc.__class__.__name__}: {exc}")


def _failed(task: Task, error: str) -> SequenceResult:
    return SequenceResult(
        task.protocol.name, task.sequence.name, task.sequence.num_frames, [], 0.0, task.settings, error=error
    )


def run_settings(model_spec: str, protocol: Protocol, lora: LoraSettings) -> dict[str, Any]:
    """What a stored result must match to be reused (the device is not part of it)."""
    return {
        "model": model_spec,
        "protocol": asdict(protocol),
        "lora": asdict(lora) if protocol.lora else None,
    }


def plan(
    sequences: Sequence[EvalSequence],
    protocols: Sequence[Protocol],
    out_dir: Path,
    model_spec: str,
    lora: LoraSettings,
    restart: bool = False,
) -> tuple[list[Task], list[SequenceResult]]:
    """Split the work into tasks still to do and results already stored with the same settings.

    A stored result made with other settings stops the evaluation (mixing them would make the
    comparison meaningless) unless ``restart`` is set.
    """
    todo: list[Task] = []
    done: list[SequenceResult] = []
    for protocol in protocols:
        settings = run_settings(model_spec, protocol, lora)
        for seq in sequences:
            path = result_path(out_dir, protocol.name, seq.name)
            old = None if restart else load_result(path)
            if old is not None and old.error is None:
                if old.settings != settings:
                    raise EvalError(
                        f"'{out_dir}' already holds results for run '{protocol.name}' made with other settings "
                        f"(e.g. {path.name}). Choose another --out folder, or pass --restart to redo them."
                    )
                done.append(old)
                continue
            todo.append(Task(protocol, seq, settings))
    return todo, done


def run_tasks(
    tasks: Sequence[Task],
    out_dir: Path,
    model_spec: str,
    lora: LoraSettings,
    *,
    devices: Sequence[str | None] = (None,),
    workers: int = 1,
    progress: ProgressBar | None = None,
    on_error: Callable[[SequenceResult], None] | None = None,
) -> list[SequenceResult]:
    """Run the tasks (in this process, or spread over ``workers`` processes) and store each result."""
    results: list[SequenceResult] = []
    if not tasks:
        return results

    def finish(r: SequenceResult) -> None:
        if r.error is None:
            save_result(out_dir, r)
            results.append(r)
        elif on_error is not None:
            on_error(r)

    devices = list(devices) or [None]
    if workers <= 1:
        model, dtype = load_eval_model(model_spec, devices[0])
        for t in tasks:
            label = f"{t.protocol.name} {t.sequence.name}"
            step = (lambda n, label=label: progress.update(n, label)) if progress else None
            try:
                r = evaluate_sequence(
                    model,
                    t.sequence,
                    t.protocol,
                    lora_settings=lora,
                    autocast_dtype=dtype,
                    settings_record=t.settings,
                    progress=step,
                )
            except Exception as exc:  # reported per sequence; the others go on
                r = _failed(t, f"{exc.__class__.__name__}: {exc}")
            finish(r)
            if progress is not None:
                progress.update(0, finished=f"{label}: {_summary(r)}")
        return results

    ctx = mp.get_context("spawn")  # CUDA cannot be forked; spawn is also the only start method on Windows
    queue = ctx.Queue()
    for i in range(workers):
        queue.put(devices[i % len(devices)])
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(model_spec, queue, threads, asdict(lora)),
    ) as pool:
        pending = {pool.submit(_run_task, t): t for t in tasks}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                t = pending.pop(fut)
                try:
                    r = fut.result()
                except Exception as exc:  # a worker died (out of memory, model failed to load)
                    r = _failed(t, f"worker failed: {exc.__class__.__name__}: {exc}")
                finish(r)
                if progress is not None:
                    progress.update(
                        t.sequence.num_frames,
                        f"{t.protocol.name} {t.sequence.name}",
                        finished=f"{t.protocol.name} {t.sequence.name}: {_summary(r)}",
                    )
    return results


def _summary(r: SequenceResult) -> str:
    if r.error is not None:
        return f"FAILED ({r.error})"
    return f"{int(r.total('corrections'))} corrections, {int(r.total('acceptances'))} accepted, {r.seconds:.1f} s"
