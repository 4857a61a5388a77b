"""A tiny DAVIS-layout dataset with exact ground truth, made from `SyntheticScene` (tests, demos).

Each sequence is one hard case of the scene generator: ``occlusion`` (the target passes behind a
larger object and reappears), ``split`` (the target comes apart into two halves that drift apart) and
``distractor`` (a look-alike of the target stays near it); ``basic`` and ``mixed`` are available too.
Frames are JPEGs, annotations DAVIS palette PNGs (the exporter's writer and colours) or, with
``per_object``, one folder of binary PNGs per object as in SA-V, optionally only every k-th frame.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.indexed_png import encode_indexed_png, voc_palette
from litlora_desktop.core.scenes.shapes import ShapeScene
from litlora_desktop.core.scenes.synthetic import SCENARIOS, SyntheticScene

DEFAULT_SCENARIOS = ("occlusion", "split", "distractor")


def write_synthetic_dataset(
    root: str | Path,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    *,
    num_frames: int = 24,
    size: tuple[int, int] = (96, 128),
    seed: int = 0,
    per_object: bool = False,
    annotate_every: int = 1,
    jpeg_quality: int = 95,
) -> list[str]:
    """Write one sequence per scenario under ``root`` and return the sequence names.

    ``size`` is (height, width). Names are ``<scenario>-<seed>``; frames ``00000.jpg``, ...
    """
    if annotate_every < 1:
        raise ValueError("annotate_every must be at least 1")
    names = []
    for i, scenario in enumerate(scenarios):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        scene = SyntheticScene(num_frames=num_frames, size=size, seed=seed + i, scenario=scenario)
        name = f"{scenario}-{seed + i}"
        _write_sequence(Path(root), name, scene, per_object, annotate_every, jpeg_quality)
        names.append(name)
    return names


def write_shapes_dataset(
    root: str | Path,
    count: int = 12,
    *,
    num_frames: int = 48,
    size: tuple[int, int] = (240, 320),
    first: int = 0,
    jpeg_quality: int = 95,
) -> list[str]:
    """Write ``count`` hard shape-world sequences (the demo model's world, from the held-out ``eval``
    split): occlusion by objects and bars, a look-alike, an object that leaves and comes back and
    changes colour. Names are ``shapes-<index>``."""
    if count < 1:
        raise ValueError("count must be at least 1")
    names = []
    for i in range(first, first + count):
        scene = ShapeScene(i, split="eval", preset="hard", num_frames=num_frames, size=size)
        name = f"shapes-{i:03d}"
        _write_sequence(Path(root), name, scene, False, 1, jpeg_quality)
        names.append(name)
    return names


def _write_sequence(
    root: Path, name: str, scene: Any, per_object: bool, annotate_every: int, jpeg_quality: int
) -> None:
    palette = voc_palette()
    img_dir = root / "JPEGImages" / name
    ann_dir = root / "Annotations" / name
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    for k in range(scene.num_frames):
        stem = f"{k:05d}"
        ok, jpg = cv2.imencode(
            ".jpg", cv2.cvtColor(scene.frame(k), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        )
        if not ok:
            raise OSError(f"could not encode frame {k} of {name}")
        (img_dir / f"{stem}.jpg").write_bytes(jpg.tobytes())
        if k % annotate_every:
            continue
        labels = scene.label_map(k)
        if per_object:
            for oid in scene.object_ids:
                d = ann_dir / f"{oid:03d}"
                d.mkdir(exist_ok=True)
                ok, png = cv2.imencode(".png", np.where(labels == oid, 255, 0).astype(np.uint8))
                (d / f"{stem}.png").write_bytes(png.tobytes())
        else:
            (ann_dir / f"{stem}.png").write_bytes(encode_indexed_png(labels, palette))


def main(argv: list[str] | None = None) -> int:
    """``litlora-eval make-dataset OUT``: write the synthetic dataset."""
    p = argparse.ArgumentParser(
        prog="litlora-eval make-dataset",
        description="Write a small synthetic DAVIS-layout dataset with hard cases (occlusion, split, look-alike).",
    )
    p.add_argument("out", help="folder to write (JPEGImages/ and Annotations/ go inside)")
    p.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), choices=SCENARIOS)
    p.add_argument(
        "--shapes",
        type=int,
        metavar="N",
        help="instead: N hard sequences of the demo model's shape world (held-out seeds), "
        "e.g. --shapes 12 --frames 48 --size 240x320",
    )
    p.add_argument("--frames", type=int, default=24, help="frames per sequence (default 24)")
    p.add_argument("--size", default="96x128", help="HEIGHTxWIDTH in pixels (default 96x128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--per-object", action="store_true", help="SA-V layout: one folder of binary PNGs per object"
    )
    p.add_argument(
        "--annotate-every", type=int, default=1, help="ground truth on every k-th frame only (SA-V: 4)"
    )
    args = p.parse_args(argv)
    try:
        h, w = (int(v) for v in args.size.lower().split("x"))
        if args.shapes is not None:
            names = write_shapes_dataset(
                args.out, args.shapes, num_frames=args.frames, size=(h, w), first=args.seed
            )
            print(f"wrote {len(names)} sequences to {args.out}: {', '.join(names)}")
            return 0
        names = write_synthetic_dataset(
            args.out,
            args.scenarios,
            num_frames=args.frames,
            size=(h, w),
            seed=args.seed,
            per_object=args.per_object,
            annotate_every=args.annotate_every,
        )
    except (ValueError, OSError) as exc:
        print(f"litlora-eval make-dataset: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(names)} sequences to {args.out}: {', '.join(names)}")
    return 0
