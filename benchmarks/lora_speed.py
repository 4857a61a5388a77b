"""LIT-LoRA costs: seconds of training per correction, ms per candidate, memory per adapter.

SAM2.1-hiera-tiny architecture, 1024 input, default LIT-LoRA settings (rank 4, early stopping as
configured). Weights are random, so early stopping fires differently than with real weights: the
per-epoch time is printed too, and "seconds per correction" is reported both as measured and as
per-epoch time x the epochs a real correction typically takes (--typical-epochs).

    python benchmarks/lora_speed.py [--corrections 10] [--device cuda]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import psutil
import torch
from _common import describe, parser, setup

from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--corrections", type=int, default=10)
    p.add_argument("--typical-epochs", type=int, default=20)
    args = p.parse_args()
    n = args.corrections
    model, choice, source, scene = setup(args, n + 2)
    tracker = Tracker(model, source, autocast_dtype=choice.autocast_dtype)
    engine = LitLoRA(tracker, LoraSettings())
    oid = scene.object_ids[0]
    tracker.add_object(oid)
    tracker.add_mask(oid, 0, scene.mask(oid, 0))
    proc = psutil.Process()
    if choice.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    per_correction, per_epoch, epochs, adapter_bytes = [], [], [], []
    rss0 = proc.memory_info().rss
    for f in range(1, n + 1):
        tracker.track(f)
        engine.add_correction(oid, f, scene.mask(oid, f))
        t0 = time.perf_counter()
        steps = list(engine.train_steps(oid))
        dt = time.perf_counter() - t0
        done = [s for s in steps if not s.finished]
        per_correction.append(dt)
        if done:
            per_epoch.append(dt / len(done))
            epochs.append(len(done))
        print(f"  correction {f:2d}: {dt:7.2f} s, {len(done):3d} epochs, outcome {steps[-1].outcome}")
    ob = engine._objects[oid]
    note = ""
    if not ob.adapters:  # random weights: every adapter may give up; time an untrained one instead
        engine.bank.new_adapter(ob, oid, engine.settings)
        note = " (an untrained adapter: every trained one gave up on random weights)"
    for name in ob.adapters:
        adapter_bytes.append(sum(p.numel() * p.element_size() for p in engine.bank.params(name)))
    cands_ms = []
    for f in range(1, n + 1):
        t0 = time.perf_counter()
        cs = engine.candidates(oid, f)
        if cs:
            cands_ms.append((time.perf_counter() - t0) * 1000 / len(cs))
    print(f"lora_speed: {describe(choice)}")
    print(f"training per correction (median of {n}): {statistics.median(per_correction):.2f} s measured")
    if per_epoch:
        ep = statistics.median(per_epoch)
        print(f"  per epoch: {ep * 1000:.1f} ms; median epochs run {statistics.median(epochs):.0f}")
        print(
            f"  at {args.typical_epochs} epochs (a typical early-stopped correction): {ep * args.typical_epochs:.2f} s"
        )
    print("paper (GPU): ~0.5 s per correction")
    if cands_ms:
        print(
            f"candidate: {statistics.median(cands_ms):.1f} ms each{note} (decoder only, single-mask, at video size)"
        )
    if adapter_bytes:
        kib = np.mean(adapter_bytes) / 1024
        print(
            f"adapter: {kib:.0f} KiB of parameters, ~{4 * kib:.0f} KiB while training (+ grads, 2 AdamW moments)"
        )
    print(f"samples held: {engine.memory_bytes / 2**20:.0f} MiB for {engine.num_samples(oid)} corrections")
    if choice.device.type == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"process RSS growth during the run: {(proc.memory_info().rss - rss0) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
