"""The store's masks frame by frame, as every exporter reads them, and one label per pixel.

Overlapping masks: formats with one label per pixel (DAVIS, MOTS) resolve overlaps by object
order — a later object in the object list covers an earlier one — and say so in a warning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from litlora_desktop.core.annotations.formats.output import ExportError
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore


def _frame_count(store: AnnotationStore, num_frames: int | None) -> int:
    if num_frames is not None:
        return int(num_frames)
    if store.num_frames is not None:
        return store.num_frames
    frames = store.annotated_frames()
    return frames[-1] + 1 if frames else 0


def frame_size(store: AnnotationStore) -> tuple[int, int]:
    """(height, width) of the frames, or ExportError when the store does not know it yet."""
    if store.height is None or store.width is None:
        raise ExportError("The project has no frame size yet: open its video or add a mask first.")
    return store.height, store.width


def masks_by_frame(
    store: AnnotationStore, num_frames: int | None
) -> tuple[int, dict[int, dict[int, MaskRecord]]]:
    """(frame count, {frame: {object id: record}}) from one consistent snapshot."""
    snap = store.snapshot()
    by_frame: dict[int, dict[int, MaskRecord]] = {}
    for info in snap.objects:
        for f, rec in snap.masks[info.id].items():
            by_frame.setdefault(f, {})[info.id] = rec
    n = _frame_count(store, num_frames)
    if by_frame and max(by_frame) >= n:
        raise ExportError(f"There are masks past frame {n - 1}, the last frame of the video.")
    return n, by_frame


def label_image(
    recs: dict[int, MaskRecord], labels: dict[int, int], h: int, w: int, dtype: Any
) -> tuple[np.ndarray, bool]:
    """One frame's masks as a label image (``labels[object id]`` per pixel), and whether any overlap."""
    img = np.zeros((h, w), dtype)
    overlap = False
    for oid, rec in recs.items():
        if rec.area == 0:
            continue
        m = rec.decode()
        overlap = overlap or bool(img[m].any())
        img[m] = labels[oid]
    return img, overlap


def overlap_warning(overlaps: int) -> list[str]:
    """The warning for ``overlaps`` frames with overlapping masks (none when there are none)."""
    if not overlaps:
        return []
    return [f"{overlaps} frame(s) have overlapping masks; the later object in the list covers the earlier."]
