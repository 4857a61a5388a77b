"""Shared set-up for the benchmarks: the real SAM2.1-tiny architecture with random weights on a real file."""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from litlora_desktop.core.sam2.allocator import malloc_tuned, tune_malloc
from litlora_desktop.core.sam2.models import choose_device, default_config, load_model, random_model
from litlora_desktop.core.scenes.synthetic import SyntheticScene
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.core.video.writing import write_video_file


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's malloc untuned (the app tunes it)"
    )
    p.add_argument(
        "--model",
        default=None,
        help="time this model instead (e.g. 'demo', the shipped 256-px SAM2); default: SAM2.1-tiny's "
        "architecture with random weights",
    )
    return p


def setup(args: argparse.Namespace, num_frames: int):
    """(model, device choice, opened video source, scene) for a benchmark run."""
    if not args.default_malloc:
        tune_malloc()  # as the app does at start-up (core/sam2/allocator.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    choice = choose_device(args.device)
    if getattr(args, "model", None):
        model = load_model(args.model, device=args.device).model
    else:
        model = random_model(default_config(), seed=0).to(choice.device)
    scene = SyntheticScene(num_frames=num_frames, size=(args.height, args.width), seed=7, scenario="basic")
    folder = Path(tempfile.mkdtemp(prefix="litlora-bench-"))
    path = write_video_file(scene, folder / "bench.mp4")
    return model, choice, VideoSource.open(path), scene


def describe(choice) -> str:
    dev = choice.device
    name = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    )
    malloc = "malloc tuned" if malloc_tuned() else "glibc malloc defaults"
    return (
        f"{choice.label} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {malloc}"
    )
