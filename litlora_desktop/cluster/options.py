"""The ``--ray`` options both command lines share, and their checks; importing this never imports Ray."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from litlora_desktop.cluster.ray_pool import ClusterError, RayOptions, import_ray

__all__ = ["absolute", "absolute_if_local", "add_ray_arguments", "check_ray_arguments", "ray_options"]

CPUS_PER_TASK, RETRIES = RayOptions.cpus_per_task, RayOptions.retries
# options that mean something only on Ray (given without --ray, they are refused, not ignored)
_RAY_ONLY = ("gpus_per_task", "cpus_per_task", "retries")


def add_ray_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """``--ray [ADDRESS]``, ``--gpus-per-task``, ``--cpus-per-task``, ``--retries``; ``task`` says what
    one Ray task is ("every (run, sequence)", "every video")."""
    group = parser.add_argument_group("on a Ray cluster (pip install 'litlora-desktop[cluster]')")
    group.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help=f"run {task} as a Ray task: no ADDRESS starts a local Ray with --workers slots; 'auto' joins "
        "the cluster of this machine (ray start); host:port or ray://host:10001 joins that one. Paths must "
        "be the same on every machine",
    )
    group.add_argument(
        "--gpus-per-task",
        type=float,
        help="GPUs each task asks for, fractions share a GPU (default: 1 when the cluster has GPUs, else 0)",
    )
    group.add_argument(
        "--cpus-per-task",
        type=float,
        help=f"CPU cores (and torch threads) per task (default {CPUS_PER_TASK:g})",
    )
    group.add_argument(
        "--retries", type=int, help=f"times a task is retried when its worker dies (default {RETRIES})"
    )


def check_ray_arguments(args: argparse.Namespace, inputs: str) -> str | None:
    """What is wrong with the ``--ray`` options, in one sentence (None: nothing). Run first, so a
    missing Ray is said before any input is read. ``inputs`` names what comes before ``--ray``."""
    if args.ray is None:
        given = [f"--{name.replace('_', '-')}" for name in _RAY_ONLY if getattr(args, name) is not None]
        if given:  # ignored, the run would go otherwise than asked (on this machine, on its CPU)
            named = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
            verb, pronoun = ("applies", "it") if len(given) == 1 else ("apply", "them")
            return f"{named} only {verb} with --ray: add --ray, or leave {pronoun} out"
        return None
    if args.ray not in ("local", "auto") and Path(args.ray).expanduser().exists():
        # the address is optional, so "--ray clip.mp4" took the input for one
        return f"--ray takes a cluster address, not {args.ray!r}: put the {inputs} before --ray"
    if args.ray != "local" and getattr(args, "workers", 1) != 1:
        return "--workers only applies to a local Ray (a bare --ray): a cluster runs as many tasks as it has room for"
    if (args.cpus_per_task is not None and args.cpus_per_task <= 0) or (
        args.retries is not None and args.retries < 0
    ):
        return "--cpus-per-task must be above 0 and --retries at least 0"
    try:
        import_ray()
    except ClusterError as exc:
        return str(exc)
    return None


def ray_options(args: argparse.Namespace, tasks: int) -> RayOptions | None:
    """``--ray``'s options (None without it); a local Ray gets ``--workers`` slots, at most one per task."""
    if args.ray is None:
        return None
    return RayOptions(
        address=None if args.ray == "local" else args.ray,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=CPUS_PER_TASK if args.cpus_per_task is None else args.cpus_per_task,
        retries=RETRIES if args.retries is None else args.retries,
        local_slots=min(args.workers, max(1, tasks)),
    )


def absolute(path: str | Path) -> Path:
    """A path made absolute, as a Ray worker needs it (it runs in the folder ``ray start`` was run
    in, not the driver's); symlinks are kept, so a linked video keeps its own name."""
    return Path(os.path.abspath(Path(path).expanduser()))


def absolute_if_local(spec: str) -> str:
    """A model or dataset given as an existing relative path, made absolute (``absolute``); hub ids
    and names are left as they are."""
    return str(absolute(spec)) if Path(spec).expanduser().exists() else spec
