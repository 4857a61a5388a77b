"""LIT-LoRA costs against the path before issue 15, in one run: seconds of training per correction,
ms per candidate, memory per adapter.

Two engines share one tracker (and so one model and the same captured frames): "old" trains through
the whole transformers decoder every epoch with the loss at S x S (``Trainer.reference``) and scores candidates one adapter per decoder call; "new" is the app's path. Each
round times one correction on each, in rotated order, with a fresh adapter; the ratio new/old is
taken per round, so a load that changes during the run weighs on both sides alike.

A correction is timed at a fixed number of epochs (``--epochs``, default 20: a typical early stop;
random weights make early stopping fire at other times), on ``--samples`` samples: 1 is a new
adapter learning one correction, 6 a fine-tune with the 5 replayed samples of the defaults (6 steps
an epoch). Otherwise the default settings: rank 4, dropout 0.1, one step per sample.

    python benchmarks/lora_speed.py [--rounds 5] [--samples 1] [--model demo] [--device cuda]

Default model: SAM2.1-hiera-tiny's architecture with random weights, 1024 input.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import psutil
import torch
from _common import describe, parser, setup

from litlora_desktop.core.lora.candidates import propose
from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.preprocess import upsample_logits
from litlora_desktop.core.sam2.tracker import Tracker

PATHS = ("old", "new")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=5, help="rounds; each times one correction per path")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--samples", type=int, default=1, help="1: a new adapter; 6: a fine-tune with replay")
    p.add_argument("--adapters", type=int, default=3, help="adapters scored per candidate call")
    p.add_argument(
        "--low-res-loss", action="store_true", help="new path with the loss at S/4 (loss_full_res=False)"
    )
    args = p.parse_args()
    model, choice, source, scene = setup(args, args.samples + 2)
    tracker = Tracker(model, source, autocast_dtype=choice.autocast_dtype)
    oid = scene.object_ids[0]
    tracker.add_object(oid)
    tracker.add_mask(oid, 0, scene.mask(oid, 0))
    for f in range(1, args.samples + 1):
        tracker.track(f)
    base = LoraSettings()
    fixed = {"max_epochs_new": args.epochs, "max_epochs_finetune": args.epochs, "patience": 10**6}
    fixed |= {"give_up_epoch": 10**6, "zero_iou_epoch": 10**6}
    engines = {
        "old": LitLoRA(tracker, replace(base, loss_full_res=True, **fixed)),
        "new": LitLoRA(tracker, replace(base, loss_full_res=not args.low_res_loss, **fixed)),
    }
    engines["old"].trainer.reference = True
    for eng in engines.values():
        for f in range(1, args.samples + 1):
            eng.add_correction(oid, f, scene.mask(oid, f))
        eng._objects[oid].pending.clear()
    cuda = choice.device.type == "cuda"
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss

    def correction(path: str) -> float:
        eng = engines[path]
        ob = eng._objects[oid]
        for name in list(ob.adapters):
            eng.bank.delete(name)
            ob.adapters.pop(name)
        name = eng.bank.new_adapter(ob, oid, eng.settings).name
        s = eng.settings
        new = args.samples == 1
        sync()
        t0 = time.perf_counter()
        steps = list(
            eng.trainer.fit(
                oid,
                name,
                list(ob.samples),
                new=new,
                lr=s.lr_new if new else s.lr_finetune,
                max_epochs=args.epochs,
                should_cancel=None,
            )
        )
        sync()
        assert steps[-2].epoch == args.epochs, "a fixed number of epochs was asked"
        return time.perf_counter() - t0

    def candidates(path: str) -> float:
        eng = engines[path]
        ob = eng._objects[oid]
        while len(ob.adapters) < args.adapters:
            eng.bank.new_adapter(ob, oid, eng.settings)
        cap = tracker.capture(oid, 1)
        sync()
        t0 = time.perf_counter()
        for _ in range(3):
            if path == "new":
                propose(eng.bank, ob, cap)
            else:
                _old_candidates(eng, ob, cap)
        sync()
        return (time.perf_counter() - t0) / (3 * len(ob.adapters))

    correction("old"), correction("new")  # warm-up: first calls allocate
    secs: dict[str, list[float]] = {k: [] for k in PATHS}
    cand: dict[str, list[float]] = {k: [] for k in PATHS}
    for r in range(args.rounds):
        order = PATHS if r % 2 == 0 else PATHS[::-1]
        for path in order:
            secs[path].append(correction(path))
        for path in order:
            cand[path].append(candidates(path))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {secs[k][-1]:.2f} s" for k in order), flush=True)

    loss = "S/4" if args.low_res_loss else "S x S"
    print(f"lora_speed: {describe(choice)}, input {tracker.image_size}, new path's loss at {loss}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {args.rounds} rounds in rotated order; load average at the end {load}")
    what = "a new adapter, 1 sample" if args.samples == 1 else f"a fine-tune on {args.samples} samples"
    print(f"training per correction ({what}, {args.epochs} epochs), median (min-max) over rounds:")
    for k in PATHS:
        v = secs[k]
        print(
            f"  {k}: {statistics.median(v):.2f} s ({min(v):.2f}-{max(v):.2f}); per epoch {_ms(v, args.epochs)}"
        )
    _ratio("  new/old", secs)
    print("  paper (GPU): ~0.5 s per correction")
    print(
        f"candidate, decoder alone, single-mask, at video size, {args.adapters} adapters per frame, ms each:"
    )
    for k in PATHS:
        v = [x * 1000 for x in cand[k]]
        print(f"  {k}: {statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})")
    _ratio("  new/old", cand)
    eng = engines["new"]
    name = next(iter(eng._objects[oid].adapters))
    kib = sum(p.numel() * p.element_size() for p in eng.bank.params(name)) / 1024
    print(
        f"adapter: {kib:.0f} KiB of parameters, ~{4 * kib:.0f} KiB while training (+ grads, 2 AdamW moments)"
    )
    print(
        f"samples held per engine: {eng.memory_bytes / 2**20:.0f} MiB for {eng.num_samples(oid)} corrections"
    )
    if cuda:
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"process RSS growth during the run: {(proc.memory_info().rss - rss0) / 2**20:.0f} MiB")


def _old_candidates(eng: LitLoRA, ob, cap) -> None:
    """The candidates as computed before issue 15: one transformers decoder call per adapter."""
    bank, src, s = eng.bank, eng.tracker.source, eng.tracker.image_size
    with bank.lock, torch.no_grad():
        hires = list(cap.high_resolution_features)
        for name in ob.adapters:
            with bank.active(name):
                logits, _, _ = bank.forward(cap.image_embeddings, hires)
            (upsample_logits(logits[:, None], s, src.height, src.width)[0] > 0).cpu().numpy()


def _ms(v: list[float], epochs: int) -> str:
    return f"{statistics.median(v) / epochs * 1000:.0f} ms"


def _ratio(label: str, d: dict[str, list[float]]) -> None:
    r = [n / o for n, o in zip(d["new"], d["old"], strict=True)]
    print(f"{label}: {statistics.median(r):.2f}x (rounds {min(r):.2f}-{max(r):.2f})")


if __name__ == "__main__":
    main()
