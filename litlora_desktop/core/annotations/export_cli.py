"""``litlora-desktop export``: a saved project's masks to any export format, from the command line.

Made for scripts: bad input gets a one-line message and status 2, a failed export status 1, and
never a traceback; progress and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from litlora_desktop.core.annotations.formats import (
    FORMATS,
    ExportError,
    Progress,
    check_not_protected,
    export,
    exporters,
    format_named,
    protected_paths,
)
from litlora_desktop.core.annotations.manifest import ProjectError
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.video_identity import check_video
from litlora_desktop.core.video.errors import VideoError
from litlora_desktop.core.video.sources import VideoSource


def _cli_progress(stream: Any) -> Progress:
    last = [-1]

    def show(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct // 10 != last[0] // 10 or done == total:
            last[0] = pct
            end = "\n" if done == total else ""
            print(f"\r  {done}/{total} ({pct}%)", end=end, file=stream, flush=True)

    return show


def export_main(argv: list[str]) -> int:
    """``litlora-desktop export PROJECT --format F --out PATH``; returns the exit status.

    Bad input gets a one-line message and status 2, a failed export status 1, never a traceback.
    """
    parser = argparse.ArgumentParser(
        prog="litlora-desktop export", description="Export a LIT-LoRA Desktop project's masks."
    )
    parser.add_argument("project", help="project folder (*.litlora) or its project.json")
    parser.add_argument("--format", "-f", required=True, choices=FORMATS, dest="fmt")
    files = ", ".join(f.name for f in exporters() if not f.folder)
    parser.add_argument("--out", "-o", required=True, help=f"output file ({files}) or folder")
    parser.add_argument("--state", choices=("saved", "autosave", "backup"), default="saved")
    parser.add_argument("--video", help="video for the overlay (default: the project's video)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--quiet", "-q", action="store_true")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)

    err = sys.stderr
    try:
        project = Project.open(args.project, args.state)
    except ProjectError as exc:
        print(f"error: {exc}", file=err)
        if exc.recovery:
            print(f"hint: try --state {exc.recovery[0]}", file=err)
        return 2
    try:
        check_not_protected(args.out, protected_paths(project, args.video))
    except ExportError as exc:
        print(f"error: {exc}", file=err)
        return 2
    source = None
    if format_named(args.fmt).needs_video:
        source = _open_video(project, args.video)
        if isinstance(source, str):
            print(f"error: {source}", file=err)
            return 2
    progress = None if args.quiet else _cli_progress(err)
    try:
        result = export(
            args.fmt, project.store, args.out, source=source, progress=progress, overwrite=args.overwrite
        )
    except KeyboardInterrupt:
        print("\ncancelled: nothing was written", file=err)
        return 130
    except ExportError as exc:
        print(f"error: {exc}", file=err)
        return 1
    except OSError as exc:
        print(f"error: could not write {args.out}: {exc.strerror or exc}", file=err)
        return 1
    except Exception as exc:  # the CLI promises a message, not a traceback
        print(f"error: the export failed: {exc!r}", file=err)
        return 1
    finally:
        if source is not None and hasattr(source, "close"):
            source.close()
    for warning in result.warnings:
        print(f"warning: {warning}", file=err)
    if not args.quiet:
        print(f"exported {args.fmt} to {result.path}", file=err)
    return 0


def _open_video(project: Any, video: str | None) -> Any:
    """The project's video as a FrameSource, or a message saying why it cannot be opened."""
    path = Path(video) if video else project.resolve_video_path()
    if path is None:
        where = project.video.absolute if project.video else "(none recorded)"
        return f"the project's video was not found at {where}; pass --video PATH"
    try:
        source = VideoSource.open(path)
    except VideoError as exc:
        return str(exc)
    if check_video(project, source, path).status == "changed":
        source.close()
        return f"{path} is not the video this project was annotated on (its frames differ)"
    return source
