"""Speed against Meta's own SAM2: ms per frame through Meta's predictor and through ours, and the ratio.

Same weights (Meta's SAM2.1-tiny architecture, seeded random values, converted by
``litlora_desktop.core.sam2.meta_checkpoint``), same video and same clicks on frame 0, CPU, float32,
1024-pixel input by default. The video is a folder of JPEG frames, the input Meta's predictor takes,
and each side reads it with its own loader. Three trackers:

- ``meta``: ``sam2.sam2_video_predictor.SAM2VideoPredictor``: ``init_state(folder)`` (which decodes
  and preprocesses every frame up front), the clicks, ``propagate_in_video``;
- ``tracker``: the app's ``litlora_desktop.core.sam2.tracker.Tracker`` over ``VideoSource.open(folder)``
  (it decodes and preprocesses each frame when it reaches it; per-object sessions, decoder capture
  and mask upsampling to video size included);
- ``transformers``: one ``Sam2VideoInferenceSession`` for all objects and ``model(session, frame_idx)``
  on frames preprocessed before the clock starts, on the same model object as the tracker (so with
  its encoder caches, ``core/sam2/encoder_cache.py``): a reference for the model alone, not a peer.

Columns: "start ms" is everything up to the first frame's masks (Meta's includes loading the whole
folder, ours only frame 0); "track ms/frame" is the mean over the following frames, what an annotator
waits for while propagating; "ms/frame" is the whole run divided by the number of frames, the fair
end-to-end figure, and the one the ratio "ours / meta" is computed on. "track ratio" compares the
propagation steps alone, which favours Meta (its decoding is already done by then).

    .venv/bin/python benchmarks/peer_speed.py [--frames 6] [--size 1024] [--objects 1..10] [--repeats 5]
        [--device cpu|cuda] [--dtype fp32|bf16] [--profile]

Objects 1 to 3 are the parity test's prompts (a click; a click and a negative click; a box and a
negative click); objects 4 to 10 are one positive click each on a grid. ``--dtype bf16`` runs both
trackers under the same autocast (on a GPU, the app's default). ``--profile`` adds where our
tracker's time goes, by model module, over one more run.

Needs Meta's ``sam2`` (``scripts/install_meta_sam2.sh .venv``). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.core.sam2.allocator import tune_malloc  # noqa: E402
from litlora_desktop.core.sam2.meta_checkpoint import load_meta_checkpoint  # noqa: E402
from tests.core.sam2.test_meta_checkpoint import (  # noqa: E402  (shared with the parity test)
    CLICKS,
    HAS_SAM2,
    add_meta_prompts,
    build_meta_predictor,
    model_input,
    run_transformers,
    synthetic_video,
)

UPSCALE = 5  # the synthetic clip is drawn at 128x96; the benchmark shows it at 640x480


def clicks_for(n: int) -> dict[int, tuple[list[tuple[float, float]], list[int]]]:
    """Prompts of ``n`` objects in the 128x96 synthetic clip's coordinates: the parity test's three,
    then single positive clicks on a grid (random weights: where they land changes no cost)."""
    out = dict(CLICKS)
    grid = [(x, y) for y in (30.0, 70.0) for x in (15.0, 45.0, 75.0, 105.0)]
    for k, xy in enumerate(grid, start=len(CLICKS) + 1):
        out[k] = ([xy], [1])
    return {k: out[k] for k in sorted(out)[:n]}


def profile_modules(model, run) -> list[tuple[str, float, int]]:
    """(module, seconds, calls) of one ``run``: SAM2's top-level modules, and inside the memory
    attention its self-attention, cross-attention and MLP, summed over layers (rows named
    "memory_attention: ..." are parts of the memory_attention row, not extra time). On a GPU each
    hook waits for the device, so the figures are execution, not kernel launches."""
    device = next(model.parameters()).device

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, float] = {}
    calls: dict[str, int] = {}
    started: dict[str, float] = {}
    hooks = []

    def watch(name: str, module) -> None:
        def pre(*_a) -> None:
            sync()
            started[name] = time.perf_counter()

        def post(*_a) -> None:
            sync()
            times[name] = times.get(name, 0.0) + time.perf_counter() - started[name]
            calls[name] = calls.get(name, 0) + 1

        hooks.extend([module.register_forward_pre_hook(pre), module.register_forward_hook(post)])

    for name, module in model.named_children():
        watch(name, module)
    for layer in model.memory_attention.layers:
        watch("memory_attention: self-attention", layer.self_attn)
        watch("memory_attention: cross-attention", layer.cross_attn_image)
        watch("memory_attention: MLP", layer.linear1)
        watch("memory_attention: MLP", layer.linear2)
    try:
        t0 = time.perf_counter()
        run(lambda _frame: None)
        total = time.perf_counter() - t0
    finally:
        for h in hooks:
            h.remove()
    rows = sorted(((n, t, calls[n]) for n, t in times.items()), key=lambda r: -r[1])
    return [("whole run", total, 1), *rows]


def _timed(run) -> tuple[float, float, float]:
    """(ms to the first frame's masks, mean ms of each later frame, total ms / frames) of one run."""
    stamps = [time.perf_counter()]
    run(lambda _frame: stamps.append(time.perf_counter()))
    gaps = [1000 * (b - a) for a, b in itertools.pairwise(stamps)]
    return gaps[0], statistics.mean(gaps[1:]), sum(gaps) / len(gaps)


def _write_jpegs(frames: np.ndarray, folder: Path) -> None:
    """Frames as ``00000.jpg``... (Meta's naming; our folder reader sorts them naturally too)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, rgb in enumerate(frames):
        cv2.imwrite(
            str(folder / f"{k:05d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
        )


def _quiet_meta() -> None:
    """Meta's loader and propagation draw tqdm bars over the table: hand back the bare iterables."""
    import sam2.sam2_video_predictor as predictor_module
    import sam2.utils.misc as misc

    for module in (misc, predictor_module):
        module.tqdm = lambda iterable, *args, **kwargs: iterable


def _run_meta_on_folder(predictor, folder: Path, clicks, on_frame) -> None:
    """Meta's own path: ``init_state`` reads and preprocesses the JPEG folder, then clicks, propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = predictor.init_state(str(folder))
    add_meta_prompts(predictor, state, clicks)
    for frame_idx, _, _ in predictor.propagate_in_video(state):
        on_frame(frame_idx)


def _run_tracker(model, folder: Path, clicks, on_frame, autocast_dtype=None) -> None:
    from litlora_desktop.core.sam2.prompts import Box, Click
    from litlora_desktop.core.sam2.tracker import Tracker
    from litlora_desktop.core.video.sources import VideoSource

    source = VideoSource.open(folder)
    tracker = Tracker(model, source, autocast_dtype=autocast_dtype)
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
        source.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=1024, help="model input size (Meta's models: 1024)")
    ap.add_argument("--objects", type=int, default=1, choices=range(1, 11), metavar="1..10")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both trackers)")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="autocast both trackers")
    ap.add_argument("--profile", action="store_true", help="where our tracker's time goes, by module")
    ap.add_argument("--no-reference", action="store_true", help="leave out the transformers reference row")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds after the warm-up (median reported)")
    ap.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's malloc as it is (the app tunes it: litlora_desktop/core/sam2/allocator.py)",
    )
    args = ap.parse_args()
    malloc = "glibc defaults" if args.default_malloc or not tune_malloc() else "malloc tuned as in the app"
    if not HAS_SAM2:
        sys.exit("Meta's sam2 is not installed: scripts/install_meta_sam2.sh .venv")

    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else None
    clicks = {
        k: ([(x * UPSCALE, y * UPSCALE) for x, y in p], lab)
        for k, (p, lab) in clicks_for(args.objects).items()
    }
    small = synthetic_video(args.frames)
    frames = np.stack(
        [cv2.resize(f, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR) for f in small]
    )
    height, width = frames.shape[1:3]
    pixels = model_input(frames, args.size)

    _quiet_meta()
    predictor = build_meta_predictor(image_size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sam2.1_hiera_tiny.pt"
        torch.save({"model": predictor.state_dict()}, path)
        model = load_meta_checkpoint(path, image_size=args.size)
    predictor.to(device)
    model.to(device)
    pixels = pixels.to(device)

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def synced(run):  # on a GPU a frame is done when its kernels are
        def timed_run(cb):
            with autocast():
                run(lambda f: (torch.cuda.synchronize(device) if device.type == "cuda" else None, cb(f)))

        return timed_run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clip"
        _write_jpegs(frames, folder)
        runs = {
            "meta": synced(lambda cb: _run_meta_on_folder(predictor, folder, clicks, cb)),
            "tracker": synced(lambda cb: _run_tracker(model, folder, clicks, cb, autocast_dtype=dtype)),
            "transformers": synced(
                lambda cb: run_transformers(model, pixels, height, width, clicks, on_frame=cb)
            ),
        }
        if args.no_reference:
            del runs["transformers"]
        # One warm-up pass, then rounds in a rotating order: a slow spell of a shared machine or the
        # order of the runs then weighs on every tracker alike. Each round gives a ratio per tracker;
        # the median round is reported, with the spread over the rounds.
        for run in runs.values():
            _timed(run)
        names = list(runs)
        rounds: list[dict[str, tuple[float, float, float]]] = []
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            rounds.append({name: _timed(runs[name]) for name in order})
        profile = profile_modules(model, runs["tracker"]) if args.profile else []

    print(
        f"SAM2.1-tiny architecture, random weights, input {args.size}, video {width}x{height} "
        f"(JPEG folder), {args.frames} frames, {len(clicks)} object(s), {device} {args.dtype}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {malloc}, "
        f"median of {args.repeats} rounds after a warm-up"
    )
    print(
        f"{'':<14}{'start ms':>10}{'track ms/frame':>16}{'ms/frame':>10}"
        f"{'ours / meta':>13}{'(min-max)':>13}{'track ratio':>13}"
    )
    for name in names:
        first, track, per_frame = (statistics.median(rd[name][i] for rd in rounds) for i in range(3))
        row = f"{name:<14}{first:>10.0f}{track:>16.0f}{per_frame:>10.0f}"
        if name != "meta":
            ratio = [rd[name][2] / rd["meta"][2] for rd in rounds]
            track_ratio = statistics.median(rd[name][1] / rd["meta"][1] for rd in rounds)
            spread = f"{min(ratio):.2f}-{max(ratio):.2f}"
            row += f"{statistics.median(ratio):>13.2f}{spread:>13}{track_ratio:>13.2f}"
        print(row)
    print(
        "transformers: transformers' own per-frame loop on the same model object (so with the tracker's "
        "encoder caches) on frames preprocessed before the clock: a reference, not a peer"
    )
    if profile:
        total = profile[0][1]
        print(f"\nwhere our tracker's time goes (one run, {len(clicks)} object(s), module hooks):")
        for name, seconds, n in profile:
            label = name.replace("memory_attention: ", "  of which ")
            print(f"  {label:<44}{seconds * 1000:>10.0f} ms{100 * seconds / total:>6.0f} %{n:>6} calls")


if __name__ == "__main__":
    main()
