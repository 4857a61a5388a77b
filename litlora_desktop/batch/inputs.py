"""What a batch run is given, per video: where its first masks are, and where its project goes.

Kept apart from ``track`` (the tracking itself) because it is all path rules, read by the driver
before any model loads.
"""

from __future__ import annotations

from pathlib import Path

from litlora_desktop.core.annotations.project import default_project_path

__all__ = ["MASK_SUFFIXES", "TrackError", "first_masks", "output_folder"]

MASK_SUFFIXES = (".json", ".xml")  # COCO, CVAT; a folder is DAVIS


class TrackError(Exception):
    """Why a video could not be tracked, in one sentence (the other videos go on)."""


def output_folder(out_dir: Path, video: Path) -> Path:
    """``OUT/<video name>.litlora``: one project per video, named as the app names a video's project."""
    return Path(out_dir) / default_project_path(video).name


def first_masks(masks: Path, video: Path, single: bool) -> Path:
    """The annotation of ``video`` under ``masks`` (one per video, by name), or ``masks`` itself."""
    stem = video.stem if video.is_file() else video.name
    for cand in (masks / stem, *(masks / f"{stem}{s}" for s in MASK_SUFFIXES)):
        if masks.is_dir() and cand.exists():
            return cand
    per_video = (
        masks.is_dir()
        and not any(masks.glob("*.png"))
        and any(p.is_dir() or p.suffix.lower() in MASK_SUFFIXES for p in masks.iterdir())
    )
    if single and not per_video:  # the video's own annotation (a DAVIS folder of PNGs, a file)
        return masks
    if masks.is_file():
        raise TrackError(
            f"{masks} is one annotation, and there are several videos: give a folder holding one per video, "
            f"named after it ({stem}/, {stem}.json or {stem}.xml)"
        )
    raise TrackError(
        f"{masks} holds no annotation named after the video ({stem}/, {stem}.json or {stem}.xml)"
    )
