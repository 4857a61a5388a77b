"""How well the demo SAM2 segments and tracks: one-click IoU, box IoU and J&F on held-out shape worlds.

A synthetic model organism, not a real-footage figure: the sequences come from the shape world the
demo model was trained on, from the ``benchmark`` split that training never sees. Each object of each
sequence is clicked once at its centre and boxed on the first frame; then all objects are tracked
from their first-frame masks to the end. The same figures for a model with random weights show what
the training bought.

    python benchmarks/demo_quality.py [--model demo] [--sequences 20] [--frames 24] [--preset sample]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from litlora_desktop.core.sam2.models import load_model
from litlora_desktop.core.scenes.shapes import PRESETS, ShapeScene
from litlora_desktop.eval.quality import box_iou, click_iou, track_objects


def measure(model: torch.nn.Module, scenes: list[ShapeScene]) -> dict[str, float]:
    clicks, boxes, j, jf = [], [], [], []
    for sc in scenes:
        objs = [o for o in sc.object_ids if sc.mask(o, 0).sum() >= 20]
        for o in objs:
            clicks.append(click_iou(model, sc, sc.mask, o))
            boxes.append(box_iou(model, sc, sc.mask, o))
        for score in track_objects(model, sc, sc.mask, objs).values():
            j.append(score.mean_j)
            jf.append(score.mean_jf)
    return {
        "objects": len(clicks),
        "click_iou_median": float(np.median(clicks)),
        "click_iou_mean": float(np.mean(clicks)),
        "box_iou_median": float(np.median(boxes)),
        "box_iou_mean": float(np.mean(boxes)),
        "track_J": float(np.mean(j)),
        "track_J&F": float(np.mean(jf)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="demo", help="model to measure (default: the shipped demo model)")
    p.add_argument("--sequences", type=int, default=20)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", default="240x320", help="HEIGHTxWIDTH")
    p.add_argument("--preset", choices=PRESETS, default="sample", help="sample: calm; hard: occlusion etc.")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-peer", action="store_true", help="skip the random-weights reference")
    args = p.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    scenes = [
        ShapeScene(i, split="benchmark", preset=args.preset, num_frames=args.frames, size=(h, w))
        for i in range(args.sequences)
    ]
    loaded = load_model(args.model, device=args.device)
    rows = [("demo" if args.model == "demo" else args.model, loaded.model)]
    if not args.no_peer:
        random = type(loaded.model)(loaded.model.config).to(loaded.device.device).eval()
        rows.append(("same architecture, random weights", random))
    print(
        f"{args.sequences} held-out sequences ({args.preset}, {args.frames} frames, {w}x{h}); "
        f"synthetic shapes, not real footage"
    )
    for name, model in rows:
        t0 = time.perf_counter()
        r = measure(model, scenes)
        print(
            f"{name}: {r['objects']} objects | one click IoU median {r['click_iou_median']:.3f} "
            f"(mean {r['click_iou_mean']:.3f}) | box IoU median {r['box_iou_median']:.3f} "
            f"(mean {r['box_iou_mean']:.3f}) | tracking J {r['track_J']:.3f}, J&F {r['track_J&F']:.3f} "
            f"| {time.perf_counter() - t0:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
