"""Wall time of ``litlora-eval`` on Ray against its own process pool, in one run.

Four ways to run the same evaluation on this machine: ``--workers 1`` and ``--workers 2`` (the
home-made process pool), and ``--ray --workers 1`` / ``--ray --workers 2`` (a local Ray started for
the run with that many task slots), each worker with the same torch threads both ways (the cores
divided by the workers; more threads than cores is several times slower on a busy machine). Each round runs all four in a rotated order, each into a fresh
results folder (nothing resumed), as a separate process timed from start to exit, so Ray's start-up
and shut-down are in the figure, as a user pays them. Printed per configuration: the median wall time
over rounds with the spread (min-max), and the ratio of Ray to the pool with the same workers
(median of the per-round ratios, and its spread).

    python benchmarks/ray_overhead.py [--rounds 3] [--model demo] [--scenarios 6] [--frames 12]

Needs the [cluster] extra (Ray). The results of all four must agree: the script checks that every
configuration wrote the same corrections per (run, sequence).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litlora_desktop.eval.synthetic_dataset import DEFAULT_SCENARIOS, write_synthetic_dataset

CORES = os.cpu_count() or 1
# the same torch threads per worker both ways: the pool gives each process cores // workers threads
CONFIGS = {
    "pool x1": ["--workers", "1"],
    "pool x2": ["--workers", "2"],
    "ray x1": ["--ray", "--workers", "1", "--cpus-per-task", str(max(1, CORES))],
    "ray x2": ["--ray", "--workers", "2", "--cpus-per-task", str(max(1, CORES // 2))],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", default="demo")
    p.add_argument("--scenarios", type=int, default=6, help="sequences in the synthetic dataset")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--size", default="96x128")
    p.add_argument(
        "--epochs",
        default="10,5",
        help="LIT-LoRA's max epochs new,fine-tune (default 10,5: shorter than the app's, so a round takes "
        "minutes on a 2-core CPU; the overhead is Ray's, not the training's)",
    )
    args = p.parse_args()
    h, w = (int(x) for x in args.size.split("x"))
    epochs_new, epochs_ft = args.epochs.split(",")
    work = Path(tempfile.mkdtemp(prefix="litlora-ray-bench-"))
    scenarios = [DEFAULT_SCENARIOS[i % len(DEFAULT_SCENARIOS)] for i in range(args.scenarios)]
    names = write_synthetic_dataset(work / "data", scenarios, num_frames=args.frames, size=(h, w))
    print(
        f"{len(names)} sequences x {args.frames} frames of {w}x{h}, model {args.model}, both runs (SAM2, LIT-LoRA)"
    )
    exe = Path(sys.executable).with_name("litlora-eval")
    times: dict[str, list[float]] = {k: [] for k in CONFIGS}
    counts: dict[str, list] = {}
    keys = list(CONFIGS)
    for r in range(args.rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for name in order:
            out = work / f"out-{name.replace(' ', '')}-{r}"
            cmd = [str(exe), str(work / "data"), "--out", str(out), "--model", args.model, "--device", "cpu"]
            cmd += ["--epochs-new", epochs_new, "--epochs-finetune", epochs_ft]
            t0 = time.perf_counter()
            subprocess.run([*cmd, *CONFIGS[name], "--no-progress"], check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
            with (out / "results.csv").open() as fh:
                counts[name] = [
                    (row["run"], row["sequence"], row["corrections"]) for row in csv.DictReader(fh)
                ]
            shutil.rmtree(out)
        print(f"round {r + 1}: " + ", ".join(f"{k} {times[k][-1]:.1f} s" for k in keys), flush=True)
    if len({tuple(v) for v in counts.values()}) != 1:
        raise SystemExit("the configurations disagree on the corrections: a bug, not a speed difference")
    print("\nconfiguration   wall s (median, min-max)   Ray / pool (median, min-max)")
    for name in keys:
        ts = times[name]
        line = f"{name:<15} {statistics.median(ts):7.1f}  ({min(ts):.1f}-{max(ts):.1f})"
        if name.startswith("ray"):
            pool = times[name.replace("ray", "pool")]
            ratios = [a / b for a, b in zip(ts, pool, strict=True)]
            line += f"        {statistics.median(ratios):.3f}  ({min(ratios):.3f}-{max(ratios):.3f})"
        print(line)
    one, two = statistics.median(times["ray x1"]), statistics.median(times["ray x2"])
    print(f"\nRay with 2 workers against 1: {two / one:.2f}x the wall time")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
