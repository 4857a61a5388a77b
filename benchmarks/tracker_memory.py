"""Memory over a long video with many objects: does it stay flat after warm-up?

Tracks ``--objects`` objects over ``--frames`` frames of a lazily drawn video (squares drifting over a
textured background) with the app's ``Tracker``, LIT-LoRA's decoder capture on, and a store as the
app keeps it (every tracked mask as RLE), and prints, every ``--every`` frames: the process RSS, what
the tracker says it holds (image features, decoder captures, per-object SAM2 state) and the store's
masks. The figure to read is the growth after warm-up: a tracker that forgets nothing grows by the
size of its memories on every frame (about 4.7 MB per object and frame at 1024 px).

A tiny random SAM2 (64 px input) keeps the run short on a CPU. The tracker's bounds are a memory
window in frames, a feature cache in frames and a capture budget in bytes; the budget is set small
here (``--capture-mib``) so that it fills early, as 512 MiB does after some 30 frames at 1024 px,
and growth is measured from the frame it is full (or ``--warm-up``, whichever comes later). The
store's masks are the user's data and are meant to grow; the table shows them apart.

    .venv/bin/python benchmarks/tracker_memory.py [--frames 10000] [--objects 10] [--every 1000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.core.annotations.store import AnnotationStore  # noqa: E402
from litlora_desktop.core.sam2.allocator import tune_malloc  # noqa: E402
from litlora_desktop.core.sam2.models import random_model, tiny_config  # noqa: E402
from litlora_desktop.core.sam2.prompts import Click  # noqa: E402
from litlora_desktop.core.sam2.tracker import Tracker  # noqa: E402


class DriftingSquares:
    """A lazily drawn video: ``n`` textured squares drifting over a textured background."""

    def __init__(self, num_frames: int, n: int, height: int = 96, width: int = 128) -> None:
        rng = np.random.default_rng(0)
        self.num_frames, self.height, self.width, self.fps, self.name = (
            num_frames,
            height,
            width,
            25.0,
            "drift",
        )
        self._bg = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
        self._tex = rng.integers(150, 255, (n, 10, 10, 3), dtype=np.uint8)
        self.n = n

    def origin(self, obj: int, k: int) -> tuple[int, int]:
        """Top-left corner (y, x) of square ``obj`` on frame ``k``."""
        y = 5 + (obj % 4) * 22 + int(4 * np.sin(k / 25 + obj))
        x = 5 + (obj // 4) * 40 + (k + 7 * obj) % 20
        return y, x

    def frame(self, k: int) -> np.ndarray:
        f = self._bg.copy()
        for o in range(self.n):
            y, x = self.origin(o, k)
            f[y : y + 10, x : x + 10] = self._tex[o]
        return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--every", type=int, default=1000, help="print a row every this many frames")
    ap.add_argument(
        "--warm-up", type=int, default=500, help="growth is measured from this frame at the earliest"
    )
    ap.add_argument("--capture-mib", type=float, default=16.0, help="decoder capture budget")
    args = ap.parse_args()
    tune_malloc()
    src = DriftingSquares(args.frames, args.objects)
    model = random_model(tiny_config(64), seed=0)
    tracker = Tracker(model, src, capture_budget_bytes=int(args.capture_mib * 2**20))
    store = AnnotationStore(src.height, src.width, args.frames)
    for o in range(args.objects):
        oid = tracker.add_object()
        store.add_object(name=f"square {o + 1}", obj_id=oid)
        y, x = src.origin(o, 0)
        tracker.add_clicks(oid, 0, [Click(x + 5, y + 5)])
    proc = psutil.Process()
    print(
        f"tiny random SAM2 (64 px), video {src.width}x{src.height}, {args.frames} frames x {args.objects} "
        f"objects, decoder capture on (budget {tracker.captures.budget_bytes / 2**20:.0f} MiB)"
    )
    print(f"{'frame':>7}{'RSS MiB':>10}{'features':>10}{'captures':>10}{'state':>10}{'store':>10}{'s':>8}")
    t0 = time.perf_counter()
    base, base_frame, base_store = None, 0, 0
    for res in tracker.propagate(0):
        for oid, m in res.masks.items():
            store.set_mask(res.frame_index, oid, m.mask, "sam2", score=m.score)
        f = res.frame_index
        full = tracker.captures.nbytes >= 0.9 * tracker.captures.budget_bytes
        start = base is None and f >= args.warm_up and full
        if start or (f + 1) % args.every == 0:
            gc.collect()
            rss = proc.memory_info().rss / 2**20
            held = {k: v / 2**20 for k, v in tracker.memory_bytes.items()}
            if start:
                base, base_frame, base_store = rss, f, store.mask_count()
            print(
                f"{f + 1:>7}{rss:>10.0f}{held['features']:>10.1f}{held['captures']:>10.1f}{held['state']:>10.1f}"
                f"{store.mask_count():>10}{time.perf_counter() - t0:>8.0f}",
                flush=True,
            )
    gc.collect()
    if base is not None:
        growth = proc.memory_info().rss / 2**20 - base
        masks = store.mask_count() - base_store
        print(
            f"RSS growth from frame {base_frame + 1} (captures full) to the end: {growth:+.0f} MiB over "
            f"{args.frames - base_frame - 1} frames, while the store gained {masks} masks"
        )


if __name__ == "__main__":
    main()
