"""DAVIS / YouTube-VOS, both ways: a folder of indexed palette PNGs, one per frame (0 background,
1..N objects), with a YouTube-VOS style ``meta.json`` for names and categories."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from litlora_desktop.core.annotations.formats.frames import (
    frame_size,
    label_image,
    masks_by_frame,
    overlap_warning,
)
from litlora_desktop.core.annotations.formats.importing import (
    AnnotationImportError,
    ImportResult,
    Track,
    commit_tracks,
    frame_in_video,
    natural_key,
)
from litlora_desktop.core.annotations.formats.indexed_png import (
    decode_indexed_png,
    encode_indexed_png,
    voc_palette,
)
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportError, ExportResult, atomic_output
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.files import read_regular_file


def export_davis(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    video_name: str = "video",
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """DAVIS / YouTube-VOS: one indexed palette PNG per frame (0 background, 1..N objects).

    A YouTube-VOS style ``meta.json`` records each index's object name, category and frames; the
    palette holds the objects' colours, so the PNGs look as they did in the app.
    """
    h, w = frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    objects = store.objects
    if len(objects) > 254:
        raise ExportError("Indexed PNGs hold at most 254 objects (255 is 'void').")
    labels = {o.id: i + 1 for i, o in enumerate(objects)}
    palette = voc_palette()
    for o in objects:
        palette[labels[o.id]] = o.color
    job = Job(n, progress, should_cancel)
    overlaps = 0
    seen: dict[int, list[str]] = {o.id: [] for o in objects}
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        for f in range(n):
            recs = by_frame.get(f, {})
            img, overlap = label_image(recs, labels, h, w, np.uint8)
            overlaps += overlap
            (tmp / f"{f:05d}.png").write_bytes(encode_indexed_png(img, palette))
            for oid, rec in recs.items():
                if rec.area:
                    seen[oid].append(f"{f:05d}")
            job.step()
        meta = {
            "videos": {
                video_name: {
                    "objects": {
                        str(labels[o.id]): {
                            "category": o.category,
                            "name": o.name,
                            "color": list(o.color),
                            "frames": seen[o.id],
                        }
                        for o in objects
                    }
                }
            }
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return ExportResult(Path(out), n + 1, overlap_warning(overlaps))


def import_davis(
    store: AnnotationStore,
    folder: str | os.PathLike,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ImportResult:
    """A DAVIS / YouTube-VOS folder of indexed PNGs: each index 1..254 becomes an object.

    Frame numbers come from the file names when they are numbers (YouTube-VOS annotates every
    5th frame), else from the sorted order. Index 255 (void) is ignored. A ``meta.json`` in the
    YouTube-VOS layout, as our exporter writes, supplies names and categories.
    Grayscale PNGs that are black and white (0/255) or anti-aliased are one object, not labels
    (see ``grayscale_reading``); the result's warnings say how they were read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationImportError(f"{folder} is not a folder of PNG masks.")
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".png"), key=lambda p: natural_key(p.name)
    )
    if not files:
        raise AnnotationImportError(f"{folder} holds no .png files.")
    numbered = all(p.stem.isdigit() for p in files)
    meta = _davis_meta(folder)
    job = Job(len(files), progress, should_cancel)
    tracks: dict[int, Track] | None = {}  # one per index; None once grayscale surely is not labels
    one = meta.get("1", {})
    white = Track(one.get("name", "object 1"), one.get("category", "object"), None)
    hist = np.zeros(256, np.int64)  # pixels per value, over the grayscale PNGs
    size, void, gray = None, False, False
    for i, p in enumerate(files):
        frame = frame_in_video(store, int(p.stem) if numbered else i, f"{folder.name}/{p.name}")
        try:
            idx, pal = decode_indexed_png(
                read_regular_file(p), None if store.height is None else (store.height, store.width)
            )
        except AnnotationImportError as exc:
            raise AnnotationImportError(f"{p.name}: {exc}") from None
        except OSError as exc:
            raise AnnotationImportError(f"{p.name} cannot be read: {exc.strerror or exc}.") from None
        if size is None:
            size = idx.shape
        elif idx.shape != size:
            raise AnnotationImportError(
                f"{p.name} is {idx.shape[1]}x{idx.shape[0]}, the others {size[1]}x{size[0]}."
            )
        counts = np.bincount(idx.ravel(), minlength=256)
        void = void or bool(counts[255])
        if pal is None:  # grayscale: labels, or a black-and-white or anti-aliased mask (decided below)
            gray = True
            hist += counts
            above = idx >= GRAY_THRESHOLD
            if above.any():
                white.masks[frame] = MaskRecord.from_mask(above, "imported")
            if np.count_nonzero(hist[1:255]) > _MAX_GRAY_LABELS:
                tracks = None  # too many gray levels to be labels: never build an object per level
        if tracks is not None:
            for v in np.flatnonzero(counts).tolist():
                if v == 0 or v == 255:
                    continue
                if v not in tracks:
                    m = meta.get(str(v), {})
                    color = tuple(int(c) for c in pal[v]) if pal is not None and v < len(pal) else None
                    tracks[v] = Track(m.get("name", f"object {v}"), m.get("category", "object"), color)  # type: ignore[arg-type]
                tracks[v].masks[frame] = MaskRecord.from_mask(idx == v, "imported")
        job.step()
    note = grayscale_reading(folder.name, hist) if gray else None
    if note is not None:  # black-and-white or anti-aliased: one object, where the PNGs are >= 128
        result = commit_tracks(store, [white], "Import DAVIS", size)
        result.warnings.append(note)
        return result
    assert tracks is not None
    result = commit_tracks(store, [tracks[k] for k in sorted(tracks)], "Import DAVIS", size)
    if void:
        result.warnings.append("Pixels marked void (255) were ignored.")
    return result


# A grayscale PNG with more gray levels than this (besides 0 and 255) is anti-aliased, not labels.
_MAX_GRAY_LABELS = 16


GRAY_THRESHOLD = 128


def grayscale_reading(name: str, hist: np.ndarray) -> str | None:
    """How grayscale DAVIS PNGs are read, from their pixel counts per value (``hist``).

    None: as labels (each value 1..254 an object, 255 void), as DAVIS writes them without a palette.
    Otherwise as one binary object (pixels >= 128), and the sentence that tells the user so: when the
    PNGs hold only 0 and 255 (black and white: 255 is the object, not void), when they hold more gray
    levels than labels would (anti-aliased edges), or, ambiguous, when a few gray levels are far
    rarer than white (more likely a lightly anti-aliased edge than objects drawn with void).
    """
    mid = hist[1:255]
    levels, gray_px, white_px = int(np.count_nonzero(mid)), int(mid.sum()), int(hist[255])
    if levels == 0:
        if not white_px:
            return None
        return (
            f"The masks in {name} are black and white (0 and 255 only): white was imported as one "
            "object, not as void."
        )
    if levels > _MAX_GRAY_LABELS:
        return (
            f"The masks in {name} are grayscale with {levels} gray levels (anti-aliased edges, not "
            f"object labels): they were imported as one object, thresholded at {GRAY_THRESHOLD}."
        )
    if white_px > gray_px:
        return (
            f"The masks in {name} are ambiguous: their {levels} gray level(s) could be object labels "
            f"but cover far less than white, so they were read as anti-aliased edges and imported as "
            f"one object, thresholded at {GRAY_THRESHOLD}; save labels as palette PNGs to import "
            "several objects."
        )
    return None


def _davis_meta(folder: Path) -> dict[str, dict[str, Any]]:
    p = folder / "meta.json"
    if not p.is_file():
        return {}
    try:
        videos = json.loads(p.read_text(encoding="utf-8"))["videos"]
        objs = next(iter(videos.values()))["objects"]
        return {
            str(k): {"name": str(v.get("name", f"object {k}")), "category": str(v.get("category", "object"))}
            for k, v in objs.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return {}  # the masks are what matters; a foreign or odd meta.json only loses names
