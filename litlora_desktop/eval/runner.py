"""Running the evaluation: the model and LoRA settings of a run, which (run, sequence) tasks are
still to do, and doing them in this process or spread over several.

Several processes (``workers``) share the sequences; each loads the model once. Every finished
(run, sequence) is stored at once (``results.save_result``), so an interrupted evaluation resumes
where it stopped; a stored result made with other settings stops the evaluation instead of mixing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litlora_desktop.core.lora.settings import LoraSettings, preset_for
from litlora_desktop.core.model_ids import TINY_RANDOM
from litlora_desktop.core.sam2.allocator import tune_malloc
from litlora_desktop.eval.dataset import EvalSequence
from litlora_desktop.eval.progress import ProgressBar
from litlora_desktop.eval.results import SequenceResult, load_result, result_path, save_result
from litlora_desktop.eval.runs import EvalError, Protocol

if TYPE_CHECKING:
    import torch

    from litlora_desktop.cluster.ray_pool import RayOptions

__all__ = ["TINY_RANDOM", "Task", "load_eval_model", "lora_settings_for", "plan", "run_settings", "run_tasks"]


def lora_settings_for(model_spec: str, **overrides: Any) -> LoraSettings:
    """The LoRA settings of a run: the paper's defaults (the model's preset for tiny-random and the demo
    model, as the app uses) + overrides."""
    base = asdict(LoraSettings())
    base.update(preset_for(model_spec))
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


@dataclass(frozen=True)
class Task:
    protocol: Protocol
    sequence: EvalSequence
    settings: dict[str, Any]


_WORKER: dict[str, Any] = {}


def _init_worker(model_spec: str, devices: Any, threads: int, lora: dict[str, Any]) -> None:
    _load_worker(model_spec, devices.get(), threads, lora)


def _load_worker(model_spec: str, device: str | None, threads: int, lora: dict[str, Any]) -> None:
    tune_malloc()  # a spawned worker is a new process: the parent's allocator settings are not inherited
    import torch

    torch.set_num_threads(max(1, threads))
    _WORKER.clear()
    _WORKER["lora"] = LoraSettings(**lora)
    try:
        _WORKER["model"], _WORKER["dtype"] = load_eval_model(model_spec, device)
    except Exception as exc:  # reported with every task of this worker, not as a broken pool
        _WORKER["load_error"] = f"the model could not be loaded: {exc}"


def ray_task(
    task: Task, gpus: float, model_spec: str, device: str | None, threads: int, lora: dict[str, Any]
) -> SequenceResult:
    """One (run, sequence) as a Ray task: the worker process loads the model with its first task and
    keeps it for the next ones (``cluster.ray_pool``)."""
    from litlora_desktop.cluster.ray_pool import task_device, worker_cache

    device = task_device(device, gpus)
    worker_cache(
        ("eval", model_spec, device, threads, repr(sorted(lora.items()))),
        lambda: _load_worker(model_spec, device, threads, lora),
    )
    return _run_task(task)


def _run_task(task: Task) -> SequenceResult:
    from litlora_desktop.eval.protocol import evaluate_sequence  # torch: in the worker only

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
    ray: RayOptions | None = None,
) -> list[SequenceResult]:
    """Run the tasks (in this process, spread over ``workers`` processes, or as Ray tasks) and store
    each result as it finishes."""
    results: list[SequenceResult] = []
    if not tasks:
        return results

    def finish(t: Task, r: SequenceResult, frames: int) -> None:
        if r.error is None:
            save_result(out_dir, r)
            results.append(r)
        elif on_error is not None:
            on_error(r)
        if progress is not None:
            label = f"{t.protocol.name} {t.sequence.name}"
            progress.update(frames, label, finished=f"{label}: {_summary(r)}")

    devices = list(devices) or [None]
    if ray is not None:
        from litlora_desktop.cluster.ray_pool import run_on_ray, task_threads

        run_on_ray(
            ray_task,
            tasks,
            ray,
            args=(model_spec, devices[0], task_threads(ray), asdict(lora)),
            on_result=lambda t, r: finish(t, r, t.sequence.num_frames),
            on_failure=lambda t, msg: finish(t, _failed(t, msg), t.sequence.num_frames),
        )
        return results
    if workers <= 1:
        from litlora_desktop.eval.protocol import evaluate_sequence

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
            finish(t, r, 0)
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
                finish(t, r, t.sequence.num_frames)
    return results


def _summary(r: SequenceResult) -> str:
    if r.error is not None:
        return f"FAILED ({r.error})"
    return f"{int(r.total('corrections'))} corrections, {int(r.total('acceptances'))} accepted, {r.seconds:.1f} s"
