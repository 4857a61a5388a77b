"""COCO instance segmentation JSON, both ways: compressed RLE out, RLE or polygons in.

Plain COCO has no field for object identity across frames: the export adds ``track_id`` and a
``tracks`` list, and the import reads ours, TAO's and a few other spellings of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop import __version__
from litlora_desktop.core.annotations.formats.frames import frame_size, masks_by_frame
from litlora_desktop.core.annotations.formats.importing import (
    AnnotationImportError,
    ImportResult,
    Track,
    checked_polygon,
    commit_tracks,
    frame_in_video,
    natural_key,
    plain_reason,
    whole_number,
)
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportResult, atomic_output, check_output
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.rle import MAX_MASK_SIDE, check_rle_counts
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.files import read_regular_file


def export_coco(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    file_name_pattern: str = "{frame:05d}.jpg",
    video_name: str = "video",
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """COCO instance segmentation JSON with compressed RLE, one image entry per frame.

    ``track_id`` on each annotation (and the ``tracks`` list) keep object identity across frames,
    which plain COCO has no field for; empty masks are left out.
    """
    check_output(out, False, overwrite)
    h, w = frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    objects = store.objects
    categories = sorted({o.category for o in objects})
    cat_id = {c: i + 1 for i, c in enumerate(categories)}
    job = Job(n, progress, should_cancel)
    images, anns = [], []
    for f in range(n):
        images.append(
            {
                "id": f + 1,
                "file_name": file_name_pattern.format(frame=f),
                "width": w,
                "height": h,
                "frame_index": f,
                "video": video_name,
            }
        )
        for oid, rec in by_frame.get(f, {}).items():
            if rec.area == 0:
                continue
            info = store.object(oid)
            ann: dict[str, Any] = {
                "id": len(anns) + 1,
                "image_id": f + 1,
                "category_id": cat_id[info.category],
                "segmentation": rec.rle,
                "area": rec.area,
                "bbox": list(rec.bbox()),
                "iscrowd": 0,
                "track_id": oid,
                "attributes": {"provenance": str(rec.provenance)},
            }
            if rec.score is not None:
                ann["score"] = rec.score
            anns.append(ann)
        job.step()
    doc = {
        "info": {"description": f"{video_name} (LIT-LoRA Desktop {__version__})", "version": "1.0"},
        "licenses": [],
        "images": images,
        "categories": [{"id": cat_id[c], "name": c, "supercategory": c} for c in categories],
        "annotations": anns,
        "tracks": [
            {"id": o.id, "name": o.name, "category_id": cat_id[o.category], "color": list(o.color)}
            for o in objects
        ],
    }
    with atomic_output(out, is_dir=False, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return ExportResult(Path(out), 1)


def import_coco(
    store: AnnotationStore,
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ImportResult:
    """COCO instance segmentation JSON (RLE or polygons), one image per frame.

    Object identity comes from ``track_id`` (ours, TAO, ...) or ``attributes.track_id`` /
    ``instance_id``; without one, each category becomes one object (with a warning).
    Frames come from ``frame_index`` (ours) / ``frame_id``, else the sorted ``file_name`` order.
    """
    path = Path(path)
    try:
        doc = json.loads(read_regular_file(path).decode("utf-8"))
    except FileNotFoundError:
        raise AnnotationImportError(f"{path} does not exist.") from None
    except OSError as exc:
        raise AnnotationImportError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnnotationImportError(f"{path.name} is not valid JSON ({exc}).") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("images"), list)
        or not isinstance(doc.get("annotations"), list)
    ):
        raise AnnotationImportError(f"{path.name} is not COCO: it needs 'images' and 'annotations' lists.")
    try:
        return _coco(store, doc, path.name, progress, should_cancel)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnnotationImportError(f"{path.name} is not valid COCO data: {plain_reason(exc)}.") from exc


def _coco(store: AnnotationStore, doc: dict[str, Any], name: str, progress: Any, cancel: Any) -> ImportResult:
    images = doc["images"]
    for im in images:
        if not isinstance(im, dict) or "id" not in im:
            raise AnnotationImportError(f"{name}: an entry of 'images' is not an image with an 'id'.")
    key = "frame_index" if all("frame_index" in im for im in images) else None
    key = key or ("frame_id" if all("frame_id" in im for im in images) else None)
    if key is not None:
        frame_of = {
            im["id"]: whole_number(im[key], f"{name}: image {im['id']!r} has a {key}") for im in images
        }
    else:
        order = sorted(images, key=lambda im: natural_key(str(im.get("file_name", im["id"]))))
        frame_of = {im["id"]: i for i, im in enumerate(order)}
    sizes = {
        (
            whole_number(im.get("height"), f"{name}: image {im['id']!r} has a height", 1, MAX_MASK_SIDE),
            whole_number(im.get("width"), f"{name}: image {im['id']!r} has a width", 1, MAX_MASK_SIDE),
        )
        for im in images
    }
    if len(sizes) > 1:
        raise AnnotationImportError(f"{name}: the images have different sizes; a video has one.")
    size = sizes.pop() if sizes else None
    for im_id, frame in frame_of.items():
        frame_in_video(store, frame, f"{name}: image {im_id!r}")
    if size is not None and store.height is not None and size != (store.height, store.width):
        raise AnnotationImportError(
            f"{name}: the annotations are {size[1]}x{size[0]} but the video frames are {store.width}x{store.height}."
        )
    cats = {c["id"]: str(c["name"]) for c in doc.get("categories", [])}
    named = {t["id"]: t for t in doc.get("tracks", []) if isinstance(t, dict) and "id" in t}
    tracks: dict[Any, Track] = {}
    warnings = []
    job = Job(len(doc["annotations"]), progress, cancel)
    for ann in doc["annotations"]:
        if not isinstance(ann, dict):
            raise AnnotationImportError(f"{name}: an entry of 'annotations' is not an annotation.")
        if ann.get("image_id") not in frame_of:
            raise AnnotationImportError(f"{name}: annotation {ann.get('id')!r} refers to a missing image.")
        frame, (h, w) = frame_of[ann["image_id"]], size  # type: ignore[misc]
        attrs = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
        tid = ann.get("track_id", attrs.get("track_id", ann.get("instance_id")))
        category = cats.get(ann.get("category_id"), "object")
        if tid is None:
            tid = ("category", category)
            if not warnings:
                warnings.append("No track ids: each category was imported as one object.")
        if tid not in tracks:
            t = named.get(tid, {})
            color = tuple(t["color"]) if isinstance(t.get("color"), list) and len(t["color"]) == 3 else None
            label = t.get("name") or (category if isinstance(tid, tuple) else f"{category} {tid}")
            tracks[tid] = Track(str(label), category, color)  # type: ignore[arg-type]
        try:
            rec = _coco_record(ann.get("segmentation"), h, w, ann.get("score"))
        except ValueError as exc:
            raise AnnotationImportError(
                f"{name}: annotation {ann.get('id')!r} cannot be imported because {exc}."
            ) from None
        old = tracks[tid].masks.get(frame)
        if old is not None:  # several parts of one object on one frame: their union
            rec = MaskRecord.from_mask(old.decode() | rec.decode(), "imported", score=rec.score)
        tracks[tid].masks[frame] = rec
        job.step()
    rank = {tid: i for i, tid in enumerate(named)}  # our "tracks" list keeps the object order
    ordered = sorted(tracks.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    result = commit_tracks(store, [t for _, t in ordered], "Import COCO", size)
    result.warnings.extend(warnings)
    return result


def _coco_record(seg: Any, h: int, w: int, score: Any) -> MaskRecord:
    """The mask of one annotation; ValueError (a clause: "its ... is ...") when it is unusable."""
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score)
    ):
        raise ValueError(f"its score {str(score)[:40]!r} is not a finite number")
    if isinstance(seg, dict):
        size = seg.get("size")
        if not isinstance(size, list) or size != [h, w]:
            raise ValueError(f"its RLE's size {str(size)[:40]} differs from its image's {[h, w]}")
        counts = seg.get("counts")
        if isinstance(counts, str):
            check_rle_counts(counts, h, w)
        elif not isinstance(counts, list):
            raise ValueError("its RLE has no 'counts' (a string or a list of numbers)")
        return MaskRecord.from_rle(seg, "imported", score=score)
    if isinstance(seg, list) and seg:
        polys = [q for q in (checked_polygon(p, h, w) for p in seg) if q is not None]
        if not polys:
            raise ValueError("a polygon segmentation needs at least 3 points")
        rle = mask_utils.merge(mask_utils.frPyObjects([q.tolist() for q in polys], h, w))
        return MaskRecord.from_rle(rle, "imported", score=score)
    raise ValueError(f"its segmentation {str(seg)[:60]!r} is neither polygons nor an RLE")
