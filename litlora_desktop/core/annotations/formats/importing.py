"""What every importer shares: its errors and result, bounds on what a file may claim, and adding
the result to the store in one undo step.

Readers validate the whole input and build every mask before touching the store; the store then
receives everything in one undo group ("Import DAVIS"), so an import is all-or-nothing and one
Ctrl+Z takes it back. Imported masks get provenance ``imported`` and always become new objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from litlora_desktop.core.annotations.records import MaskRecord, ObjectInfo, default_color
from litlora_desktop.core.annotations.store import AnnotationStore


class AnnotationImportError(Exception):
    """The input cannot be imported; the message names the file and the problem, for the user."""


@dataclass
class ImportResult:
    """Objects created, masks added and anything the user should know (skipped shapes, ...)."""

    objects: list[ObjectInfo]
    masks: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class Track:
    """One object being imported: its name, category, colour (None: the next default) and masks."""

    name: str
    category: str
    color: tuple[int, int, int] | None
    masks: dict[int, MaskRecord] = field(default_factory=dict)


# Without a video (a project not yet linked to one) frames are still bounded: this many at most.
MAX_FRAMES_WITHOUT_VIDEO = 100_000


def frame_in_video(store: AnnotationStore, frame: int, where: str) -> int:
    """``frame`` if the video has it, else AnnotationImportError("<where> is on frame ... ").

    Checked before any mask is built, so that a file made for a far longer video is refused at once
    instead of filling memory with masks that could never be added.
    """
    n = store.num_frames if store.num_frames is not None else MAX_FRAMES_WITHOUT_VIDEO
    if not 0 <= frame < n:
        video = (
            f"the video has {n} frames"
            if store.num_frames is not None
            else f"at most {n} frames are imported"
        )
        raise AnnotationImportError(
            f"{where} is on frame {frame} but {video}: was the file made for another video?"
        )
    return frame


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``frame2`` before ``frame10``, as people number files."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def commit_tracks(
    store: AnnotationStore, tracks: Iterable[Track], label: str, size: tuple[int, int] | None
) -> ImportResult:
    """Check everything against the store first, then add it as one undo step."""
    tracks = [t for t in tracks if t.masks]
    if size is not None and store.height is not None and size != (store.height, store.width):
        raise AnnotationImportError(
            f"The annotations are {size[1]}x{size[0]} but the video frames are {store.width}x{store.height}."
        )
    last = max((max(t.masks) for t in tracks), default=-1)
    if store.num_frames is not None and last >= store.num_frames:
        raise AnnotationImportError(
            f"The annotations reach frame {last} but the video has {store.num_frames} frames."
        )
    created = []
    with store.group(label):
        for i, t in enumerate(tracks):
            color = t.color or default_color(len(store.objects) + i)
            info = store.add_object(t.name, color, t.category)
            for f in sorted(t.masks):
                store.set_record(f, info.id, t.masks[f])
            created.append(info)
    return ImportResult(created, sum(len(t.masks) for t in tracks))


def whole_number(value: Any, what: str, low: int = 0, high: int = 2**31 - 1) -> int:
    """``value`` as an int in ``low..high``; else AnnotationImportError("<what> of ... ").

    ``what`` starts the sentence ("x.json: image 3 has a width"), so the user learns which field.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AnnotationImportError(
            f"{what} of {str(value)[:40]!r}, not a whole number from {low} to {high}."
        )
    return value


def plain_reason(exc: BaseException) -> str:
    """What a KeyError/TypeError/ValueError from reading an import file means, without library text."""
    if isinstance(exc, KeyError):
        return f"the required field {str(exc.args[0])[:40]!r} is missing"
    return "a field has a value of the wrong kind"


MAX_POLYGON_NUMBERS = 200_000  # 100,000 points: far beyond any hand-made or traced outline


def checked_polygon(p: Any, h: int, w: int) -> np.ndarray | None:
    """A COCO polygon as float64 [x0, y0, x1, y1, ...], checked so that pycocotools can draw it
    (it trusts its input: a NaN made it allocate memory until the process died); None when it has
    fewer than 3 points (nothing to draw)."""
    if not isinstance(p, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in p):
        raise ValueError("a polygon holds something other than numbers")
    if len(p) > MAX_POLYGON_NUMBERS:
        raise ValueError(
            f"a polygon has {len(p) // 2} points, more than the {MAX_POLYGON_NUMBERS // 2} allowed"
        )
    arr = np.asarray(p, np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("a polygon holds a number that is not finite (NaN or infinity)")
    if arr.size % 2:
        raise ValueError("a polygon has an odd count of coordinates, not x, y pairs")
    if arr.size < 6:
        return None
    xs, ys = arr[0::2], arr[1::2]
    if xs.min() < -w or xs.max() > 2 * w or ys.min() < -h or ys.max() > 2 * h:
        raise ValueError(f"a polygon reaches far outside its {w}x{h} image")
    return arr
