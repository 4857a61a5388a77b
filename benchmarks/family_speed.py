"""Milliseconds per tracked frame of each model family's default-size architecture, side by side.

SAM2.1-tiny (the app's default), SAM2-tiny, the SAM 3 tracker (its one size, 1008 px) and EdgeTAM
(RepViT-M1), all with random weights (timing does not depend on them), one object clicked on a
1280x720 mp4 and tracked through the app's ``Tracker``. Each of ``--rounds`` rounds times every
family once, in a rotated order (the machine is shared and noisy); the figure is the median over
rounds of each round's median ms/frame, with the spread (min-max over rounds), and the ratio to
SAM2.1-tiny. Also printed: parameters, and the share of a frame spent getting its image features
(decoding and resizing the frame, then the image encoder; the encoder is nearly all of it).

    python benchmarks/family_speed.py [--rounds 3] [--frames 3] [--families sam2.1 sam3 ...]
"""

from __future__ import annotations

import gc
import statistics
import time

import torch
from _common import describe, parser, setup

from litlora_desktop.core import model_ids
from litlora_desktop.core.sam2.families import default_config
from litlora_desktop.core.sam2.models import random_model
from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.core.sam2.tracker import Tracker

KEYS = [f.key for f in model_ids.FAMILIES]


def build(key: str) -> torch.nn.Module:
    """The family's default-size architecture with random weights (SAM2 = SAM2.1 less two switches)."""
    return random_model(default_config(key), seed=0)


def time_family(model, choice, source, scene, frames: int) -> tuple[float, float]:
    """(median ms per tracked frame, median ms of it in the image encoder) after one warm-up frame."""
    tracker = Tracker(model.to(choice.device), source, autocast_dtype=choice.autocast_dtype)
    oid = scene.object_ids[0]
    ys, xs = scene.mask(oid, 0).nonzero()
    tracker.add_object(oid)
    tracker.add_clicks(oid, 0, [Click(float(xs.mean()), float(ys.mean()))])
    totals, encoder = [], []
    encode = tracker._frame_features

    def timed_encode(f: int):
        t0 = time.perf_counter()
        out = encode(f)
        encoder.append((time.perf_counter() - t0) * 1000)
        return out

    tracker._frame_features = timed_encode
    for f in range(1, frames + 2):
        t0 = time.perf_counter()
        tracker.track(f)
        totals.append((time.perf_counter() - t0) * 1000)
    tracker.close()
    return statistics.median(totals[1:]), statistics.median(encoder[1:])


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--frames", type=int, default=3, help="frames timed per family and round (after 1 warm-up)"
    )
    p.add_argument("--families", nargs="+", default=KEYS, choices=KEYS)
    args = p.parse_args()
    _, choice, source, scene = setup(args, args.frames + 3)
    keys = args.families
    results: dict[str, list[float]] = {k: [] for k in keys}
    enc: dict[str, list[float]] = {k: [] for k in keys}
    params: dict[str, float] = {}
    for r in range(args.rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for key in order:
            model = build(key)
            params[key] = sum(p.numel() for p in model.parameters()) / 1e6
            ms, ms_enc = time_family(model, choice, source, scene, args.frames)
            results[key].append(ms)
            enc[key].append(ms_enc)
            del model
            gc.collect()
            print(f"  round {r + 1}: {key:<8} {ms:9.0f} ms/frame", flush=True)
    print(f"family_speed: {describe(choice)}")
    print(
        f"video {source.width}x{source.height}, 1 object, random weights, {args.rounds} rounds x "
        f"{args.frames} frames, rotated order"
    )
    base = statistics.median(results["sam2.1"]) if "sam2.1" in results else None
    print(
        f"{'family':<16} {'input':>5} {'params':>8} {'ms/frame':>9} {'spread':>17} {'encoder':>8} {'x SAM2.1-t':>10}"
    )
    for key in keys:
        info = model_ids.family_info(key)
        med = statistics.median(results[key])
        spread = f"{min(results[key]):.0f}-{max(results[key]):.0f}"
        ratio = f"{med / base:.2f}" if base else "-"
        share = statistics.median(enc[key]) / med
        name = info.label + (" tiny" if key.startswith("sam2") else "")
        print(
            f"{name:<16} {info.input_size:>5} {params[key]:>7.1f}M {med:>9.0f} {spread:>17} {share:>7.0%} {ratio:>10}"
        )


if __name__ == "__main__":
    main()
