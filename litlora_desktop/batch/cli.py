"""``litlora-desktop track``: track many videos headless, locally or on a Ray cluster.

    litlora-desktop track VIDEO... --out DIR [--masks PATH | --project PROJECT] [--adapters PROJECT]
                          [--auto-apply 0.9] [--format FMT] [--model ID] [--device D] [--ray [ADDRESS]]

Each video becomes ``DIR/<video>.litlora``, a project the app opens for correction, and with
``--format`` an export beside it. Exit codes: 0 every video done, 1 some failed (the others are
done), an export failed, or ``--adapters`` fitted no video's objects, 2 bad arguments or model, 130
interrupted (finished videos are kept).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from litlora_desktop.batch.track import (
    Tracked,
    TrackError,
    TrackJob,
    TrackReport,
    check_outputs,
    first_masks,
    output_folder,
    run_job,
    save_tracked,
    track_video,
)
from litlora_desktop.cluster.options import (
    absolute,
    absolute_if_local,
    add_ray_arguments,
    check_ray_arguments,
    ray_options,
)
from litlora_desktop.core.annotations.formats import FORMATS, format_named
from litlora_desktop.core.model_ids import DEFAULT_MODEL_ID, TINY_RANDOM, device_problem

PROG = "litlora-desktop track"
DEFAULT_MODEL = DEFAULT_MODEL_ID


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Track objects through many videos headless, from their first masks, into project "
        "folders the app opens for correction.",
    )
    # "*", checked by hand: with "+", "track --out o --ray clip.mp4" would only say a VIDEO is missing
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files or folders of frames")
    p.add_argument("--out", required=True, help="folder for the projects (one VIDEO.litlora per video)")
    first = p.add_mutually_exclusive_group()
    first.add_argument(
        "--masks",
        help="first masks: a DAVIS palette-PNG folder, COCO JSON or CVAT XML; for several videos, a folder "
        "holding one per video named after it (clip/, clip.json or clip.xml)",
    )
    first.add_argument(
        "--project",
        help="first masks from this project of the video (default: each video's own clip.litlora beside it); "
        "read, never written",
    )
    p.add_argument(
        "--adapters",
        help="a project whose LIT-LoRA adapters propose candidates, matched to objects by name; a candidate "
        "above --auto-apply replaces SAM2's mask",
    )
    p.add_argument(
        "--auto-apply",
        type=float,
        metavar="CONFIDENCE",
        help="apply an adapter's candidate instead of SAM2's mask when its confidence (0-1) is above this "
        "(default 0.9 with --adapters; alone, it uses the adapters of each video's own project, so not with --masks)",
    )
    p.add_argument("--format", choices=FORMATS, help="also export each video's masks in this format")
    p.add_argument("--overwrite", action="store_true", help="replace projects and exports that exist")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"model-hub id, save_pretrained folder, Meta .pt, 'demo' or 'tiny-random' (default {DEFAULT_MODEL})",
    )
    p.add_argument("--device", default="auto", help="cuda, cuda:N, mps, cpu or auto (default)")
    p.add_argument("--quiet", "-q", action="store_true", help="only errors")
    p.add_argument("--workers", type=int, default=1, help="with a local --ray: tasks at a time (default 1)")
    add_ray_arguments(p, "every video")
    return p


def _error(msg: str) -> int:
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return 2


def track_main(argv: Sequence[str]) -> int:
    """Entry point of the subcommand; never a traceback for a user error."""
    args = build_parser().parse_args(list(argv))
    if args.auto_apply is not None and not 0.0 <= args.auto_apply <= 1.0:
        return _error("--auto-apply is a confidence between 0 and 1")
    if args.workers < 1:
        return _error("--workers must be at least 1")
    if args.workers != 1 and args.ray is None:  # tracking without Ray is one video after another
        return _error("--workers only applies to a local Ray (a bare --ray): add --ray, or leave it out")
    if args.masks and args.auto_apply is not None and not args.adapters:
        return _error(
            "--auto-apply with --masks needs --adapters PROJECT: first masks from a file bring no adapters, "
            "so nothing would be applied"
        )
    problem = check_ray_arguments(args, "videos")  # first: a missing Ray is said before any video is read
    if problem:
        return _error(problem)
    if not args.videos:
        return _error("give at least one VIDEO (a video file or a folder of frames)")
    problem = device_problem(args.device)
    if problem:
        return _error(f"--device: {problem}")
    args.device = args.device.strip().lower()  # "CPU" is cpu everywhere it is compared
    made = _missing_parents(absolute(args.out))  # removed again if the run writes nothing into them
    try:
        jobs = plan_jobs(args)
    except TrackError as exc:
        _remove_if_empty(made)
        return _error(str(exc))
    ray = ray_options(args, len(jobs))
    from litlora_desktop.core.sam2.allocator import tune_malloc

    tune_malloc()
    reports: list[TrackReport] = []
    shown = _Printer(len(jobs), quiet=args.quiet)

    def done(r: TrackReport) -> None:
        reports.append(r)
        shown.finished(r)

    todo = []
    for job in jobs:  # outputs that would be refused after minutes of tracking are refused now
        try:
            check_outputs(job)
        except TrackError as exc:
            done(TrackReport(str(job.video), str(job.out), error=str(exc)))
        else:
            todo.append(job)
    device = None if args.device == "auto" else args.device
    model = absolute_if_local(args.model)
    if todo and ray is None and args.quiet:  # the model's loading bars too (Ray's workers print none here)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    elif todo and ray is None:  # its bars stay: a first run may download a model for minutes
        print(f"Loading the model {args.model}…", file=sys.stderr)
    try:
        if todo and ray is None:
            run_local(todo, model, device, done, on_frame=shown.frame)
        elif todo:
            run_on_cluster(todo, model, device, ray, done)
    except KeyboardInterrupt:
        print(
            f"\n{PROG}: interrupted; {len(reports)} videos finished are kept in {args.out}", file=sys.stderr
        )
        return 130
    except _user_errors() as exc:  # the model could not be loaded, Ray could not start: one sentence
        return _error(str(exc))
    finally:
        _remove_if_empty(made)
    failed = [r for r in reports if r.error]
    exports = [r for r in reports if r.export_error]
    unused = args.adapters is not None and not any(r.adapters_used for r in reports if not r.error)
    if not args.quiet:
        ok = len(reports) - len(failed)
        but = f"; {len(exports)} export{'s' if len(exports) > 1 else ''} failed" if exports else ""
        print(f"{ok} of {len(jobs)} videos tracked into {args.out}{but}", file=sys.stderr)
    if unused and len(failed) < len(reports):
        print(
            f"{PROG}: error: no video has an object named as one of {absolute(args.adapters)}'s (names are "
            "matched ignoring case and spaces), so no adapter was used: rename the objects and run again with "
            "--overwrite, or leave out --adapters",
            file=sys.stderr,
        )
    return 1 if failed or exports or (unused and len(failed) < len(reports)) else 0


def _user_errors() -> tuple[type[BaseException], ...]:
    from litlora_desktop.cluster.ray_pool import ClusterError
    from litlora_desktop.core.model_ids import ModelLoadError  # not models: no torch on a --ray driver

    return (ModelLoadError, ClusterError)


def plan_jobs(args: argparse.Namespace) -> list[TrackJob]:
    """One job per video, every path made absolute (a Ray worker may run elsewhere)."""
    out = absolute(args.out)
    videos = [absolute(v) for v in args.videos]
    for v in videos:
        if not v.exists():
            raise TrackError(f"{v} does not exist")
    names = [output_folder(out, v).name for v in videos]
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise TrackError(
            f"two videos would write the same project {dup}: track them into separate --out folders"
        )
    masks = absolute(args.masks) if args.masks else None
    if masks is not None and not masks.exists():
        raise TrackError(f"{masks} does not exist")
    if args.project and len(videos) > 1:
        raise TrackError("--project is one video's project: with several videos, each uses its own")
    if args.project and not (absolute(args.project) / "project.json").is_file():
        raise TrackError(
            f"--project {absolute(args.project)} is not a project folder (it has no project.json)"
        )
    adapters = absolute(args.adapters) if args.adapters else None
    if adapters is not None and not adapters.is_dir():
        raise TrackError(f"{adapters} is not a project folder")
    if adapters is not None and not any(
        (d / "litlora.json").is_file() for d in (adapters / "adapters", adapters)
    ):
        raise TrackError(
            f"--adapters {adapters} holds no LIT-LoRA adapters (no adapters/litlora.json): give a project "
            "whose adapters were saved in the app (Ctrl+S with LIT_LoRA on), or its adapters folder"
        )
    fmt = args.format
    jobs = []
    for v in videos:
        proj = output_folder(out, v)
        export_to = None
        if fmt:
            export_to = out / f"{proj.stem}.{fmt}{format_named(fmt).suffix}"
        jobs.append(
            TrackJob(
                video=v,
                out=proj,
                masks=first_masks(masks, v, single=len(videos) == 1) if masks is not None else None,
                project=absolute(args.project) if args.project else None,
                adapters=adapters,
                auto_apply=args.auto_apply,
                export_format=fmt,
                export_to=export_to,
                overwrite=args.overwrite,
            )
        )
    try:  # a read-only or full output folder is said now, not after minutes of tracking
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        if out.exists() and not out.is_dir():
            raise TrackError(f"--out {out} is a file: give a folder for the projects") from None
        raise TrackError(f"the output folder {out} cannot be written: {exc.strerror or exc}") from None
    return jobs


def _missing_parents(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    made = []
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    return made


def _remove_if_empty(folders: Sequence[Path]) -> None:
    """Take back the output folders a run made and wrote nothing into (deepest first)."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:  # not empty (something was written), or gone: leave it
            return


def load_track_model(spec: str, device: str | None) -> Any:
    """The model, without the app's quiet fall back to the demo model: a batch over hundreds of
    videos with a stand-in model would be hours of useless masks."""
    from litlora_desktop.workers.engine_state import load_any_model, load_model

    loaded = load_any_model(spec, device, None) if spec == TINY_RANDOM else load_model(spec, device)
    if loaded.device.fell_back:  # the app goes on with a notice; hours of batch on the CPU unseen would not
        from litlora_desktop.core.model_ids import ModelLoadError

        raise ModelLoadError(f"{loaded.device.reason}: pass --device cpu to track on the CPU instead")
    return loaded


def run_local(
    jobs: Sequence[TrackJob],
    model: str,
    device: str | None,
    done: Callable[[TrackReport], None],
    on_frame: Callable[[int], None] | None = None,
) -> None:
    """Every job in this process, one after the other, with the model loaded once."""
    loaded = load_track_model(model, device)
    for job in jobs:
        done(run_job(job, loaded, on_frame))


def ray_track_task(job: TrackJob, gpus: float, model: str, device: str | None, threads: int) -> Tracked:
    """One video as a Ray task: tracked here, written by the driver (``save_tracked``); the worker
    keeps the model for its next video."""
    from litlora_desktop.core.sam2.allocator import tune_malloc

    tune_malloc()  # first: a Ray worker is a new process, the driver's allocator settings not inherited
    import torch

    from litlora_desktop.core.video.file_reader import quiet_video_backends

    quiet_video_backends()  # Ray forwards a worker's terminal lines to the driver's

    from litlora_desktop.cluster.ray_pool import task_device, worker_cache

    device = task_device(device, gpus)
    torch.set_num_threads(threads)
    loaded = worker_cache(("track", model, device), lambda: load_track_model(model, device))
    return track_video(job, loaded)


def run_on_cluster(
    jobs: Sequence[TrackJob],
    model: str,
    device: str | None,
    options: Any,
    done: Callable[[TrackReport], None],
) -> None:
    """One Ray task per video; the driver writes each video's project as its task finishes."""
    from litlora_desktop.cluster.ray_pool import run_on_ray, task_threads

    run_on_ray(
        ray_track_task,
        jobs,
        options,
        args=(model, device, task_threads(options)),
        on_result=lambda job, tracked: done(save_tracked(job, tracked)),
        on_failure=lambda job, msg: done(TrackReport(str(job.video), str(job.out), error=msg)),
    )


class _Printer:
    """One line per finished video on stderr; a frame counter on a terminal while one runs."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.count, self.frames = total, quiet, 0, 0
        self.tty = sys.stderr.isatty()

    def frame(self, n: int) -> None:
        self.frames += n
        if self.tty and not self.quiet and self.frames % 10 == 0:
            print(f"\r  {self.frames} frames", end="", file=sys.stderr, flush=True)

    def finished(self, r: TrackReport) -> None:
        self.count += 1
        self.frames = 0
        head = f"\r[{self.count}/{self.total}] {Path(r.video).name}"
        if r.error:
            print(f"{head}: FAILED: {r.error}", file=sys.stderr)
            return
        if self.quiet:
            if r.export_error:  # said even with --quiet: it is an error
                print(f"{head}: tracked, but {r.export_error}", file=sys.stderr)
            return
        applied = f", {r.applied} from adapters" if r.applied else ""
        print(
            f"{head}: {r.frames} frames, {r.objects} objects, {r.tracked} masks tracked{applied}, "
            f"{r.seconds:.1f} s -> {r.out}",
            file=sys.stderr,
        )
        for w in r.warnings:
            print(f"  warning: {w}", file=sys.stderr)
        if r.exported:
            print(f"  exported {r.exported}", file=sys.stderr)
        if r.export_error:
            print(f"  FAILED: {r.export_error}", file=sys.stderr)
