"""``litlora-desktop``: open the app, ``litlora-desktop export ...`` to export annotations, or
``litlora-desktop track ...`` to track many videos headless (``batch/``).

    litlora-desktop [VIDEO_OR_FOLDER] [--model ID_OR_PATH] [--device cuda|mps|cpu]

``--model`` takes a model-hub id (facebook/sam2.1-hiera-tiny, -small, -base-plus, -large), a local
folder written by ``save_pretrained``, a Meta ``.pt`` checkpoint, or ``demo``: the small SAM2 shipped
with the app, trained on synthetic shapes (offline; also what the app falls back to when the chosen
hub model is not cached and cannot be downloaded). Developer option:
``--model tiny-random`` runs a tiny randomly initialised SAM2 (no download, meaningless masks) for
demos and tests.
"""

from __future__ import annotations

import argparse
import sys

from litlora_desktop.core.model_ids import MODEL_CHOICES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="litlora-desktop",
        description="Annotate video objects with SAM2; with LIT_LoRA on, the app learns from your corrections.",
        epilog="Subcommands: 'litlora-desktop export --help' exports annotations; 'litlora-desktop track "
        "--help' tracks many videos headless.",
    )
    p.add_argument(
        "video", nargs="?", help="video file or folder of frames (default: the bundled sample video)"
    )
    p.add_argument(
        "--model",
        help="SAM2 model: " + ", ".join(MODEL_CHOICES.values()) + ", a local model folder, a Meta .pt file, "
        "'demo' (shipped, trained on synthetic shapes), or 'tiny-random' (developers). Default: the last model used.",
    )
    p.add_argument(
        "--device",
        choices=("cuda", "mps", "cpu", "auto"),
        help="where the model runs (default: best available)",
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation headless (tiny built-in model, sample video, one LoRA adapter) and exit",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from litlora_desktop.core.video.file_reader import quiet_video_backends

    quiet_video_backends()  # before any video is opened: the app, track and export alike
    if argv and argv[0] == "export":
        from litlora_desktop.core.annotations.export_cli import export_main

        return int(export_main(argv[1:]) or 0)
    if argv and argv[0] == "track":
        from litlora_desktop.batch.cli import track_main

        return track_main(argv[1:])
    args = build_parser().parse_args(argv)
    from litlora_desktop.core.sam2.allocator import tune_malloc

    tune_malloc()  # before any worker thread allocates: see core/sam2/allocator.py
    if args.self_test:
        from litlora_desktop.selftest import run_self_test

        return run_self_test(device=None if args.device in (None, "auto") else args.device)
    from litlora_desktop.app import run

    return run(args.video, args.model, args.device)


if __name__ == "__main__":
    sys.exit(main())
