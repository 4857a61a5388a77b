"""Milliseconds per tracked frame, split into decode / preprocess / model / postprocess.

SAM2.1-hiera-tiny architecture (random weights: timing does not depend on them), 1024 input, a
1280x720 mp4 decoded from disk. Prints the ratio (everything but the model) / model; target < 0.05.

    python benchmarks/track_speed.py [--frames 12] [--objects 1] [--device cuda]
"""

from __future__ import annotations

import statistics

from _common import describe, parser, setup

from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.core.sam2.tracker import Tracker

PARTS = ("decode", "preprocess", "model", "postprocess")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--frames", type=int, default=12, help="frames to time after 2 warm-up frames")
    p.add_argument("--objects", type=int, default=1)
    args = p.parse_args()
    model, choice, source, scene = setup(args, args.frames + 3)
    tracker = Tracker(model, source, autocast_dtype=choice.autocast_dtype)
    for oid in scene.object_ids[: args.objects]:
        ys, xs = scene.mask(oid, 0).nonzero()
        tracker.add_object(oid)
        tracker.add_clicks(oid, 0, [Click(float(xs.mean()), float(ys.mean()))])
    per_part: dict[str, list[float]] = {k: [] for k in PARTS}
    for res in tracker.propagate(0, args.frames + 2):
        if res.frame_index <= 2:
            continue  # warm-up: first kernels, caches, allocator
        for k in PARTS:
            per_part[k].append(res.timings[k] * 1000)
    med = {k: statistics.median(v) for k, v in per_part.items()}
    total = sum(med.values())
    print(f"track_speed: {describe(choice)}")
    print(
        f"video {source.width}x{source.height}, {args.objects} object(s), {len(per_part['model'])} frames timed"
    )
    for k in PARTS:
        print(f"  {k:<12} {med[k]:9.2f} ms/frame (median)")
    print(f"  {'total':<12} {total:9.2f} ms/frame  ({1000 / total:.2f} frames/s)")
    overhead = med["decode"] + med["preprocess"] + med["postprocess"]
    print(
        f"ratio (decode + preprocess + postprocess) / model = {overhead / med['model']:.4f}  (target < 0.05)"
    )


if __name__ == "__main__":
    main()
