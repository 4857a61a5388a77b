"""CVAT for video 1.1 XML, both ways: one ``<track>`` of ``<mask>`` shapes per object.

CVAT's own semantics are kept both ways: a shape lasts until the track's next shape, and a shape
with ``outside="1"`` ends it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.frames import frame_size, masks_by_frame
from litlora_desktop.core.annotations.formats.importing import (
    MAX_FRAMES_WITHOUT_VIDEO,
    MAX_POLYGON_NUMBERS,
    AnnotationImportError,
    ImportResult,
    Track,
    checked_polygon,
    commit_tracks,
    frame_in_video,
    plain_reason,
    whole_number,
)
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportResult, atomic_output, check_output
from litlora_desktop.core.annotations.records import MaskRecord, ObjectInfo
from litlora_desktop.core.annotations.rle import MAX_MASK_SIDE
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.files import read_regular_file


def cvat_rle(mask: np.ndarray) -> tuple[list[int], int, int, int, int]:
    """CVAT mask RLE: run lengths over the bounding box, row by row, starting with a 0-run.

    Returns (runs, left, top, width, height); the mask must not be empty.
    """
    ys, xs = np.nonzero(mask)
    top, left = int(ys.min()), int(xs.min())
    height, width = int(ys.max()) - top + 1, int(xs.max()) - left + 1
    flat = mask[top : top + height, left : left + width].ravel().astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return runs, left, top, width, height


def export_cvat(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    task_name: str = "video",
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """CVAT for video 1.1 XML: one ``<track>`` of ``<mask>`` shapes per object.

    Every annotated frame is a keyframe; a frame where the object disappears gets an
    ``outside="1"`` shape, as CVAT itself writes. The object's name travels as the ``object``
    attribute (declared on each label), because CVAT tracks have no name of their own.
    """
    check_output(out, False, overwrite)
    h, w = frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    objects = store.objects
    categories: dict[str, ObjectInfo] = {}
    for o in objects:
        categories.setdefault(o.category, o)
    job = Job(sum(len(m) for m in by_frame.values()), progress, should_cancel)

    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for k, v in (("name", task_name), ("size", n), ("mode", "interpolation"), ("overlap", 0)):
        ET.SubElement(task, k).text = str(v)
    ET.SubElement(task, "start_frame").text = "0"
    ET.SubElement(task, "stop_frame").text = str(max(n - 1, 0))
    labels = ET.SubElement(task, "labels")
    for cat, first in categories.items():
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = cat
        ET.SubElement(lab, "color").text = "#{:02x}{:02x}{:02x}".format(*first.color)
        ET.SubElement(lab, "type").text = "mask"
        attr = ET.SubElement(ET.SubElement(lab, "attributes"), "attribute")
        for k, v in (("name", "object"), ("mutable", "False"), ("input_type", "text")):
            ET.SubElement(attr, k).text = v
        ET.SubElement(attr, "default_value").text = ""
        ET.SubElement(attr, "values").text = ""
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(w)
    ET.SubElement(size, "height").text = str(h)
    for tid, o in enumerate(objects):
        frames = store.frames_for_object(o.id)
        track = ET.SubElement(root, "track", {"id": str(tid), "label": o.category, "source": "semi-auto"})
        prev_present = False
        last: dict[str, str] | None = None
        for f in range(frames[0] if frames else n, (frames[-1] + 2) if frames else n):
            if f >= n:
                break
            rec = by_frame.get(f, {}).get(o.id)
            if rec is not None:
                job.step()
            if rec is not None and rec.area:
                runs, left, top, ww, hh = cvat_rle(rec.decode())
                last = {"rle": ", ".join(map(str, runs)), "left": str(left), "top": str(top)}
                last.update(width=str(ww), height=str(hh))
                _cvat_mask(track, f, last, outside=False, name=o.name)
                prev_present = True
            elif prev_present and last is not None:
                _cvat_mask(track, f, last, outside=True, name=o.name)
                prev_present = False
    ET.indent(root)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    with atomic_output(out, is_dir=False, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return ExportResult(Path(out), 1)


def _cvat_mask(track: ET.Element, frame: int, geom: dict[str, str], outside: bool, name: str) -> None:
    attrs = {"frame": str(frame), "keyframe": "1", "outside": str(int(outside)), "occluded": "0"}
    el = ET.SubElement(track, "mask", {**attrs, **geom, "z_order": "0"})
    ET.SubElement(el, "attribute", {"name": "object"}).text = name


def import_cvat(
    store: AnnotationStore,
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ImportResult:
    """CVAT for video 1.1 XML: each ``<track>`` of masks or polygons becomes an object.

    CVAT semantics are kept: a shape lasts until the track's next shape, and a shape with
    ``outside="1"`` ends it. Boxes, points and lines carry no mask and are skipped (with a warning).
    """
    path = Path(path)
    try:
        root = ET.fromstring(read_regular_file(path))
    except FileNotFoundError:
        raise AnnotationImportError(f"{path} does not exist.") from None
    except OSError as exc:
        raise AnnotationImportError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None
    except ET.ParseError as exc:
        raise AnnotationImportError(f"{path.name} is not valid XML ({exc}).") from exc
    if root.tag != "annotations":
        raise AnnotationImportError(f"{path.name} is not a CVAT annotation file.")
    if root.find("track") is None and root.find("image") is not None:
        raise AnnotationImportError(f"{path.name} is 'CVAT for images'; export 'CVAT for video 1.1' instead.")
    try:
        return _cvat(store, root, path.name, progress, should_cancel)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationImportError(f"{path.name} is not valid CVAT data: {plain_reason(exc)}.") from exc


def _cvat(store: AnnotationStore, root: ET.Element, name: str, progress: Any, cancel: Any) -> ImportResult:
    meta = root.find("meta")
    task = None
    if meta is not None:
        task = meta.find("task") if meta.find("task") is not None else meta.find("job")
    size = None
    if task is not None and task.find("original_size") is not None:
        osz = task.find("original_size")
        size = (
            whole_number(
                _number_text(osz.findtext("height")), f"{name}: original_size has a height", 1, MAX_MASK_SIDE
            ),  # type: ignore[union-attr]
            whole_number(
                _number_text(osz.findtext("width")), f"{name}: original_size has a width", 1, MAX_MASK_SIDE
            ),  # type: ignore[union-attr]
        )
        if store.height is not None and size != (store.height, store.width):
            raise AnnotationImportError(
                f"{name}: the annotations are {size[1]}x{size[0]} but the video frames are {store.width}x{store.height}."
            )
    if size is None:
        if store.height is None:
            raise AnnotationImportError(f"{name} has no original_size and the project has no frame size.")
        size = (store.height, store.width)  # type: ignore[assignment]
    h, w = size  # type: ignore[misc]
    stop = store.num_frames - 1 if store.num_frames else None
    stop_note = None
    if task is not None and task.findtext("stop_frame"):
        stop = whole_number(_number_text(task.findtext("stop_frame")), f"{name}: the task has a stop_frame")
        last = (store.num_frames or MAX_FRAMES_WITHOUT_VIDEO) - 1
        if stop > last:  # shapes held "to the end" end with the video, not at a frame it lacks
            stop_note = (
                f"{name} says the task ends at frame {stop}, past the video's last frame {last}: "
                f"shapes held to the end were held to frame {last}."
            )
            stop = last
    colors = {}
    for lab in root.iter("label"):
        c = lab.findtext("color") or ""
        if re.fullmatch(r"#[0-9a-fA-F]{6}", c):
            colors[lab.findtext("name")] = (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16))
    tracks_el = root.findall("track")
    job = Job(len(tracks_el), progress, cancel)
    tracks, skipped = [], 0
    for tr in tracks_el:
        label = tr.attrib["label"]
        shapes = []
        for sh in tr:
            if sh.tag not in ("mask", "polygon"):
                skipped += 1
                continue
            frame = whole_number(
                _number_text(sh.attrib.get("frame")), f"{name}: a {sh.tag} of track {label!r} has a frame"
            )
            frame_in_video(store, frame, f"{name}: a {sh.tag} of track {label!r}")
            outside = sh.attrib.get("outside", "0") == "1"
            try:
                rec = None if outside else MaskRecord.from_mask(_cvat_shape(sh, h, w), "imported")
            except ValueError as exc:
                raise AnnotationImportError(
                    f"{name}: the {sh.tag} of track {label!r} on frame {frame} cannot be imported because {exc}."
                ) from None
            obj_name = next((a.text for a in sh.findall("attribute") if a.get("name") == "object"), None)
            shapes.append((frame, rec, obj_name))
        shapes.sort(key=lambda s: s[0])
        names = [n for _, _, n in shapes if n]
        t = Track(
            names[0] if names else f"{label} {tr.attrib.get('id', len(tracks))}", label, colors.get(label)
        )
        for i, (f, rec, _) in enumerate(shapes):
            if rec is None:
                continue
            end = shapes[i + 1][0] if i + 1 < len(shapes) else (stop + 1 if stop is not None else f + 1)
            for k in range(f, max(end, f + 1)):
                t.masks[k] = rec  # records are immutable, so held frames share one
        tracks.append(t)
        job.step()
    result = commit_tracks(store, tracks, "Import CVAT", (h, w))
    if stop_note:
        result.warnings.append(stop_note)
    if skipped:
        result.warnings.append(f"{skipped} shape(s) without a mask (boxes, points, lines) were skipped.")
    return result


def _number_text(text: Any) -> Any:
    """An XML number ("12", "12.0") as int or float; the text itself when it is not a number."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        return text
    return int(v) if v.is_integer() else v


def _cvat_shape(sh: ET.Element, h: int, w: int) -> np.ndarray:
    """The (h, w) mask of a CVAT polygon or mask; ValueError (a clause) when it is unusable."""
    if sh.tag == "polygon":
        try:
            pts = [tuple(float(v) for v in p.split(",")) for p in sh.attrib["points"].split(";") if p]
        except ValueError:
            raise ValueError("its points are not x,y number pairs") from None
        if len(pts) > MAX_POLYGON_NUMBERS // 2 or any(len(p) != 2 for p in pts):
            raise ValueError("its points are not x,y number pairs (or there are too many)")
        checked_polygon([v for p in pts for v in p], h, w)  # finite, within a bound of the frame
        mask = np.zeros((h, w), bool)
        if pts:
            cv2.fillPoly(mask.view(np.uint8), [np.round(np.array(pts)).astype(np.int32)], 1)
        return mask
    try:
        runs = [int(v) for v in sh.attrib["rle"].replace(" ", "").split(",") if v]
        left, top = int(float(sh.attrib["left"])), int(float(sh.attrib["top"]))
        bw, bh = int(float(sh.attrib["width"])), int(float(sh.attrib["height"]))
    except (ValueError, OverflowError):
        raise ValueError("its rle, left, top, width or height is not a whole number") from None
    if not (0 < bw <= w and 0 < bh <= h) or any(r < 0 for r in runs):
        raise ValueError(f"its box of {bw}x{bh} pixels does not fit the {w}x{h} frame")
    if sum(runs) != bw * bh:
        raise ValueError(f"its RLE covers {sum(runs)} pixels but its box has {bw}x{bh}")
    mask = np.zeros((h, w), bool)
    box = np.repeat(np.arange(len(runs)) % 2 == 1, runs).reshape(bh, bw)
    y1, x1 = min(top + bh, h), min(left + bw, w)
    if top < 0 or left < 0 or y1 <= top or x1 <= left:
        raise AnnotationImportError(f"a mask's box ({left}, {top}, {bw}x{bh}) lies outside the {w}x{h} frame")
    mask[top:y1, left:x1] = box[: y1 - top, : x1 - left]
    return mask
