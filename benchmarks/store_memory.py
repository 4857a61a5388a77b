"""How much memory the annotation store holds for a long video (RLE keeps it small).

Builds a store for 10,000 frames x 5 objects of 1280x720 masks (moving, wobbling ellipses; one
with a hole, one in two parts, one that leaves the frame now and then), as SAM2 would produce
them, then prints the bytes held (tracemalloc and a walk over the store's own objects), bytes per
mask, the ratio to raw bool masks, and what a save costs (JSON size and time).

    .venv/bin/python benchmarks/store_memory.py [--frames 10000] [--objects 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore

W, H = 1280, 720


def _poly(cx: float, cy: float, rx: float, ry: float, phase: float) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = 1 + 0.08 * np.sin(5 * ang + phase)  # a wobbly outline, like a real segmentation boundary
    # (y, x) order: we draw on a transposed canvas, see blob()
    return np.stack([cy + ry * r * np.sin(ang), cx + rx * r * np.cos(ang)], 1).round().astype(np.int32)


def blob(frame: int, obj: int) -> np.ndarray:
    """A realistic-ish object mask: smooth motion, changing size, sometimes holes or two parts.

    Drawn on a (W, H) canvas and returned transposed, i.e. column-major, which is the order
    pycocotools encodes; a C-order mask from a model costs one extra copy per encode.
    """
    t = frame / 90.0 + obj * 1.3
    cx = W / 2 + (W / 2.4) * np.sin(t * (1 + 0.2 * obj))
    cy = H / 2 + (H / 2.6) * np.cos(t * (0.7 + 0.1 * obj))
    rx = 60 + 25 * obj + 20 * np.sin(frame / 17.0)
    ry = 45 + 15 * obj + 15 * np.cos(frame / 23.0)
    canvas = np.zeros((W, H), np.uint8)
    if not (obj == 4 and (frame // 200) % 5 == 4):  # object 4 leaves the frame for a while
        cv2.fillPoly(canvas, [_poly(cx, cy, rx, ry, frame / 7.0)], 1)
        if obj == 1:  # a ring: an object with a hole
            cv2.fillPoly(canvas, [_poly(cx, cy, rx * 0.4, ry * 0.4, frame / 5.0)], 0)
        if obj == 2:  # two parts (a person behind a pole)
            x = int(np.clip(cx, 0, W - 1))
            canvas[max(x - 6, 0) : x + 6] = 0
    return canvas.T.view(bool)


def store_bytes(store: AnnotationStore) -> int:
    """Bytes of the store's own containers and records (shared objects counted once)."""
    seen: set[int] = set()
    total = 0

    def add(o: object) -> None:
        nonlocal total
        if id(o) not in seen:
            seen.add(id(o))
            total += sys.getsizeof(o)

    add(store._masks)
    for oid, frames in store._masks.items():
        add(oid)
        add(frames)
        for f, rec in frames.items():
            add(f)
            add(rec)
            add(rec.counts)
            add(rec.provenance)
            add(rec.clicks)
            for c in rec.clicks:
                add(c)
                add(c.x)
                add(c.y)
            if rec.score is not None:
                add(rec.score)
            add(rec.area)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--objects", type=int, default=5)
    args = ap.parse_args()
    n, k = args.frames, args.objects

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    store = AnnotationStore(H, W, num_frames=n, history_limit=0)
    objs = [store.add_object(f"object {i}") for i in range(k)]
    for f in range(n):
        for i, o in enumerate(objs):
            clicks = [(640.0, 360.0, True)] if f % 500 == 0 else ()
            prov = "user" if clicks else ("lora:adapter-0" if f % 50 == 0 else "sam2")
            store.set_record(f, o.id, MaskRecord.from_mask(blob(f, i), prov, clicks, score=0.9))
        if f and f % 2000 == 0:
            print(f"  built {f}/{n} frames ...", file=sys.stderr, flush=True)
    build_s = time.perf_counter() - t0
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()

    masks = store.mask_count()
    walked = store_bytes(store)
    counts_bytes = sum(len(r.counts) for _, _, r in store.iter_records())
    raw = masks * H * W  # numpy bool: one byte per pixel
    t1 = time.perf_counter()
    payload = json.dumps(store.snapshot().to_json(), separators=(",", ":")).encode()
    save_s = time.perf_counter() - t1

    print(f"store: {n} frames x {k} objects = {masks} masks of {W}x{H} (built in {build_s:.1f} s)")
    print(f"bytes held (tracemalloc): {held:,} ({held / 2**20:.1f} MiB), {held / masks:,.0f} bytes/mask")
    print(
        f"bytes held (store walk):  {walked:,} ({walked / 2**20:.1f} MiB), {walked / masks:,.0f} bytes/mask"
    )
    print(f"  of which RLE counts:    {counts_bytes:,} ({counts_bytes / masks:,.0f} bytes/mask)")
    print(f"raw bool masks would be:  {raw:,} ({raw / 2**30:.1f} GiB)")
    print(f"ratio raw / held:         {raw / held:,.0f}x smaller")
    print(f"serialized (project data): {len(payload):,} bytes, JSON in {save_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
