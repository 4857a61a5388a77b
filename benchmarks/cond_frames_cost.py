"""Milliseconds per tracked frame after 0, 10, 50 and 200 conditioning frames (corrections kept as
conditioning memory), with the tracker's limit (attend to the 4 nearest) against no limit (the peer:
what transformers does with its default ``max_cond_frame_num=-1``, and what Meta's predictor does
with its default ``max_cond_frames_in_attn=-1``).

Each of ``--rounds`` rounds times every setting once, in a rotated order (the machine is shared and
noisy); the figure is the median over rounds of each round's median ms/frame, with the spread
(min-max over rounds). Target: with the limit, 200 conditioning frames cost <= 1.2x no conditioning
frame at all.

    python benchmarks/cond_frames_cost.py --model demo [--rounds 3] [--frames 6]
"""

from __future__ import annotations

import statistics
import time

from _common import describe, parser, setup

from litlora_desktop.core.sam2.tracker import MAX_COND_FRAMES, Tracker

COUNTS = (0, 10, 50, 200)


def time_tracking(model, source, scene, choice, n_cond: int, limit: int, frames: int) -> float:
    """Median ms per tracked frame after ``n_cond`` prompted frames before the tracked stretch."""
    oid = scene.object_ids[0]
    start = n_cond + 1
    with Tracker(model, source, autocast_dtype=choice.autocast_dtype, max_cond_frames=limit) as tr:
        tr.add_object(oid)
        tr.add_mask(oid, 0, scene.mask(oid, 0))
        for f in range(1, n_cond + 1):  # every one a conditioning frame, as a kept correction is
            tr.add_mask(oid, f, scene.mask(oid, f))
        tr.track(start)  # warm-up: first kernels, caches
        times = []
        for f in range(start + 1, start + 1 + frames):
            t0 = time.perf_counter()
            tr.track(f)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=6, help="frames timed per setting")
    p.add_argument(
        "--peer-max", type=int, default=50, help="time the unlimited peer only up to this many frames"
    )
    args = p.parse_args()
    model, choice, source, scene = setup(args, max(COUNTS) + args.frames + 3)
    settings = [(n, MAX_COND_FRAMES) for n in COUNTS] + [(n, 0) for n in COUNTS if n <= args.peer_max]
    runs: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    for r in range(args.rounds):
        k = r % len(settings)
        for n, limit in settings[k:] + settings[:k]:
            runs[n, limit].append(time_tracking(model, source, scene, choice, n, limit, args.frames))
    print(f"cond_frames_cost: {describe(choice)}")
    print(
        f"video {source.width}x{source.height}, model input {model.config.image_size}, {args.rounds} rounds"
    )
    base = {lim: statistics.median(runs[0, lim]) for lim in (MAX_COND_FRAMES, 0)}
    print(f"{'conditioning frames':>20} {'limit':>8} {'ms/frame':>9} {'spread':>15} {'x at 0':>7}")
    for (n, limit), v in sorted(runs.items(), key=lambda kv: (kv[0][1] == 0, kv[0][0])):
        med = statistics.median(v)
        name = f"{limit} nearest" if limit else "none"
        print(f"{n:>20} {name:>8} {med:9.1f} {min(v):7.1f}-{max(v):<7.1f} {med / base[limit]:7.2f}")
    worst = statistics.median(runs[max(COUNTS), MAX_COND_FRAMES]) / base[MAX_COND_FRAMES]
    print(f"ratio ms/frame at {max(COUNTS)} / at 0 with the limit = {worst:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
