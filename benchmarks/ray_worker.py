"""Is work slower inside a Ray worker? The same evaluation sequences timed in three places, in one run.

``ray_overhead.py`` times whole ``litlora-eval`` runs, where Ray's start-up, its shutdown and a new
worker's imports are part of the wall time. This script takes those out: one fresh process per
place and round, the model loaded first, then the demo model's baseline and LIT-LoRA runs on the
same synthetic sequences, timed per run:

- ``main``: in the process itself, as ``litlora-eval --workers 1`` runs its tasks;
- ``spawn``: in a spawned child process, as ``--workers 2`` does;
- ``ray``: in the worker of a local Ray started as ``--ray`` starts it (workers at the driver's
  priority), with the task's CPU request equal to its torch threads.

Rounds rotate the order; the ratio ray/main is taken per round. Last, it reports how much CPU a
local Ray's own processes use over 20 s with nothing to do, as a share of the machine.

    python benchmarks/ray_worker.py [--rounds 3] [--scenarios 3] [--frames 48]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLACES = ("main", "spawn", "ray")
CORES = os.cpu_count() or 1


def _sequences(data: str, threads: int) -> dict[str, float]:
    """Seconds per run ("sam2", "litlora-oracle") over every sequence, in the calling process."""
    import torch

    from litlora_desktop.core.lora.settings import LoraSettings
    from litlora_desktop.core.sam2.allocator import tune_malloc
    from litlora_desktop.eval.dataset import open_dataset
    from litlora_desktop.eval.protocol import Protocol, evaluate_sequence
    from litlora_desktop.eval.runner import load_eval_model

    tune_malloc()
    torch.set_num_threads(threads)
    model, dtype = load_eval_model("demo", "cpu")
    lora = LoraSettings(max_epochs_new=10, max_epochs_finetune=5)  # ray_overhead.py's defaults
    out: dict[str, float] = {}
    for seq in open_dataset(Path(data)):
        for protocol in (Protocol(lora=False), Protocol(lora=True)):
            t0 = time.perf_counter()
            evaluate_sequence(
                model, seq, protocol, lora_settings=lora, autocast_dtype=dtype, settings_record={}
            )
            out[protocol.name] = out.get(protocol.name, 0.0) + time.perf_counter() - t0
    return out


def _ray_idle_share() -> float:
    """CPU used by a local Ray's processes over 20 s idle, as a share of the machine's cores."""
    import psutil
    import ray

    from litlora_desktop.cluster.options import RayOptions
    from litlora_desktop.cluster.ray_pool import _connect

    _connect(ray, RayOptions(local_slots=CORES))
    ray.get(ray.remote(lambda: 0).remote())  # a worker up, as during a run
    time.sleep(3)

    def used() -> float:
        total = 0.0
        for p in psutil.Process().children(recursive=True):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    before = used()
    time.sleep(20)
    share = (used() - before) / (20 * CORES)
    ray.shutdown()
    return share


def _child(place: str, data: str) -> None:
    """One place, in a fresh process: prints its seconds per run as JSON on the last line."""
    if place == "main":
        result = _sequences(data, CORES)
    elif place == "spawn":
        with mp.get_context("spawn").Pool(1) as pool:
            result = pool.apply(_sequences, (data, CORES))
    elif place == "ray":
        import ray

        from litlora_desktop.cluster.options import RayOptions
        from litlora_desktop.cluster.ray_pool import _connect

        _connect(ray, RayOptions(local_slots=1, cpus_per_task=CORES))
        result = ray.get(ray.remote(num_cpus=CORES)(_sequences).remote(data, CORES))
        ray.shutdown()
    else:
        result = {"idle": _ray_idle_share()}
    print(json.dumps(result))


def _run(place: str, data: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", place, str(data)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"the {place} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rounds", type=int, default=3, help="a multiple of 3 puts each place first equally often"
    )
    p.add_argument("--scenarios", type=int, default=3)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(*args.child)
        return
    from litlora_desktop.eval.synthetic_dataset import DEFAULT_SCENARIOS, write_synthetic_dataset

    with tempfile.TemporaryDirectory(prefix="litlora-ray-worker-") as tmp:
        data = Path(tmp) / "data"
        scenarios = [DEFAULT_SCENARIOS[i % len(DEFAULT_SCENARIOS)] for i in range(args.scenarios)]
        write_synthetic_dataset(data, scenarios, num_frames=args.frames, size=(96, 128))
        print(
            f"{args.scenarios} sequences x {args.frames} frames, demo model, {CORES} torch threads everywhere"
        )
        secs: dict[str, list[dict[str, float]]] = {k: [] for k in PLACES}
        for r in range(args.rounds):
            order = PLACES[r % 3 :] + PLACES[: r % 3]
            for place in order:
                secs[place].append(_run(place, data))
            print(
                f"round {r + 1}: " + ", ".join(f"{k} {sum(secs[k][-1].values()):.1f} s" for k in order),
                flush=True,
            )
        print("\nseconds per run, median (min-max) over rounds; ray / main per round")
        for run in ("sam2", "litlora-oracle"):
            for place in PLACES:
                v = [s[run] for s in secs[place]]
                line = f"  {run:15s} {place:6s} {statistics.median(v):6.1f} ({min(v):.1f}-{max(v):.1f})"
                if place == "ray":
                    r = [a[run] / b[run] for a, b in zip(secs["ray"], secs["main"], strict=True)]
                    line += f"   ray/main {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"
                print(line)
        idle = _run("idle", data)["idle"]
        print(f"\na local Ray's own processes, idle for 20 s: {100 * idle:.1f} % of the machine's CPU")


if __name__ == "__main__":
    main()
