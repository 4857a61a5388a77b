"""Speed against Meta's own SAM2: ms per frame through Meta's predictor and through ours, and the ratio.

Same weights (Meta's SAM2.1-tiny architecture, seeded random values, converted by
``litlora_desktop.core.meta_checkpoint``), same video and same clicks on frame 0, CPU, float32,
1024-pixel input by default. Three trackers:

- ``meta``: ``sam2.sam2_video_predictor.SAM2VideoPredictor`` (``init_state``, clicks,
  ``propagate_in_video``), the frames handed over as one preprocessed tensor;
- ``transformers``: one ``Sam2VideoInferenceSession`` for all objects and ``model(session, frame_idx)``;
- ``tracker``: the app's ``litlora_desktop.core.tracker.Tracker`` (its own decoding, preprocessing,
  per-object sessions, decoder capture and mask upsampling to video size included).

"prompt" is the first frame (image features, clicks, first masks); "track" is the mean over the
following frames, which is what an annotator waits for while propagating. Meta's preprocessing of
the whole clip happens before its clock starts, so its figures flatter it slightly.

    .venv/bin/python benchmarks/peer_speed.py [--frames 6] [--size 1024] [--objects 1] [--repeats 2]

Needs Meta's ``sam2`` (``scripts/install_meta_sam2.sh .venv``). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.core.meta_checkpoint import load_meta_checkpoint  # noqa: E402
from tests.core.test_meta_checkpoint import (  # noqa: E402  (shared with the parity test)
    CLICKS,
    HAS_SAM2,
    build_meta_predictor,
    model_input,
    run_meta,
    run_transformers,
    synthetic_video,
)

UPSCALE = 5  # the synthetic clip is drawn at 128x96; the benchmark shows it at 640x480


class _Clip:
    """A FrameSource over an in-memory clip, for the app's tracker."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.name = "synthetic"
        self.num_frames, self.height, self.width = frames.shape[:3]
        self.fps = 25.0

    def frame(self, index: int) -> np.ndarray:
        return self.frames[index]


def _timed(run) -> tuple[float, float]:
    """(first-frame ms, mean ms of the following frames) of a tracker run that reports each frame."""
    stamps = [time.perf_counter()]
    run(lambda _frame: stamps.append(time.perf_counter()))
    gaps = [1000 * (b - a) for a, b in itertools.pairwise(stamps)]
    return gaps[0], statistics.mean(gaps[1:])


def _run_tracker(model, frames: np.ndarray, clicks, on_frame) -> None:
    from litlora_desktop.core.tracker import Box, Click, Tracker

    tracker = Tracker(model, _Clip(frames))
    try:
        for obj_id, (points, labels) in clicks.items():
            tracker.add_object(obj_id)
            box = None
            if labels[:2] == [2, 3]:
                (x0, y0), (x1, y1) = points[:2]
                box, points, labels = Box(x0, y0, x1, y1), points[2:], labels[2:]
            marks = [Click(x, y, positive=lab == 1) for (x, y), lab in zip(points, labels, strict=True)]
            tracker.add_clicks(obj_id, 0, marks, box=box)
        on_frame(0)
        for res in tracker.propagate(0):
            on_frame(res.frame_index)
    finally:
        tracker.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=1024, help="model input size (Meta's models: 1024)")
    ap.add_argument("--objects", type=int, default=1, choices=range(1, len(CLICKS) + 1))
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repetitions; the best is kept")
    args = ap.parse_args()
    if not HAS_SAM2:
        sys.exit("Meta's sam2 is not installed: scripts/install_meta_sam2.sh .venv")

    clicks = {k: ([(x * UPSCALE, y * UPSCALE) for x, y in p], lab) for k, (p, lab) in CLICKS.items()}
    clicks = dict(list(clicks.items())[: args.objects])
    small = synthetic_video(args.frames)
    frames = np.stack(
        [cv2.resize(f, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR) for f in small]
    )
    height, width = frames.shape[1:3]
    pixels = model_input(frames, args.size)

    predictor = build_meta_predictor(image_size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sam2.1_hiera_tiny.pt"
        torch.save({"model": predictor.state_dict()}, path)
        model = load_meta_checkpoint(path, image_size=args.size)

    runs = {
        "meta": lambda cb: run_meta(predictor, pixels, height, width, clicks, on_frame=cb),
        "transformers": lambda cb: run_transformers(model, pixels, height, width, clicks, on_frame=cb),
        "tracker": lambda cb: _run_tracker(model, frames, clicks, cb),
    }
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            first, track = _timed(run)
            if name not in best or track < best[name][1]:
                best[name] = (first, track)

    print(
        f"SAM2.1-tiny architecture, random weights, input {args.size}, video {width}x{height}, "
        f"{args.frames} frames, {len(clicks)} object(s), CPU float32, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    print(f"{'tracker':<14}{'prompt ms':>11}{'track ms/frame':>16}{'ours / meta':>13}")
    for name, (first, track) in best.items():
        ratio = "" if name == "meta" else f"{track / best['meta'][1]:.2f}"
        print(f"{name:<14}{first:>11.0f}{track:>16.0f}{ratio:>13}")


if __name__ == "__main__":
    main()
