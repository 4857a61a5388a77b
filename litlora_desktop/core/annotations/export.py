"""Exports of the annotation store to the formats other tools read, plus ``litlora-desktop export``.

Every exporter writes into a hidden temporary sibling of the output and renames it into place only
when everything is written, so a cancel or an error never leaves a half-written dataset where a
training script might pick it up. Each takes ``progress(done, total)`` and ``should_cancel()``
so a worker can drive it from a background thread; a cancel raises :class:`ExportCancelled`.

An export never replaces what it was made from: :func:`check_not_protected` refuses an output that is,
contains or lies inside the project folder (its saves, backup and autosave) or the project's video
(or frames folder); the GUI and the CLI call it with :func:`protected_paths` before exporting.

Overlapping masks: formats with one label per pixel (DAVIS, MOTS) resolve overlaps by object
order — a later object in the object list covers an earlier one — and say so in a warning.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from litlora_desktop import __version__
from litlora_desktop.core.annotations.store import AnnotationStore, MaskRecord, ObjectInfo

Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]
FORMATS = ("coco", "davis", "png", "mots", "yolo", "cvat", "overlay")
YOLO_LOSSY_WARNING = (
    "YOLO segmentation polygons are lossy: holes are filled, thin parts and small islands may be "
    "dropped, and edges are approximated by polygon vertices."
)


class ExportError(Exception):
    """An export cannot be done; the message is meant for the user."""


class ExportCancelled(Exception):
    """The user cancelled; nothing was written."""


@dataclass
class ExportResult:
    """Where the export went, how many files it holds and what the user should know about it."""

    path: Path
    files: int
    warnings: list[str] = field(default_factory=list)


class _Job:
    """Progress and cancel plumbing shared by every exporter and importer."""

    def __init__(self, total: int, progress: Progress | None, should_cancel: ShouldCancel | None) -> None:
        self.total, self.done = max(total, 0), 0
        self._progress, self._cancel = progress, should_cancel
        self.check()

    def check(self) -> None:
        if self._cancel is not None and self._cancel():
            raise ExportCancelled("cancelled")

    def step(self, n: int = 1) -> None:
        self.done += n
        if self._progress is not None:
            self._progress(min(self.done, self.total), self.total)
        self.check()


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, is_dir: bool, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; on success it replaces ``out``, on any failure it is removed.

    The temporary name keeps ``out``'s suffix because some writers (OpenCV's video writer) choose
    the container from it.
    """
    out = check_output(out, is_dir, overwrite)
    parent = out.parent
    tmp = parent / f".{out.stem}.partial-{secrets.token_hex(4)}{out.suffix}"
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            trash = parent / f".{out.name}.old-{secrets.token_hex(4)}"
            os.replace(out, trash)
            os.replace(tmp, out)
            _remove(trash)
        else:
            os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise


def check_output(out: str | os.PathLike, is_dir: bool, overwrite: bool = False) -> Path:
    """Fail before any work when ``out`` cannot be written (exists, or its folder does not)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists (choose another name, or allow overwriting).")
    if out.exists() and out.is_dir() != is_dir:
        raise ExportError(f"{out} exists and is a {'folder' if out.is_dir() else 'file'}.")
    if not out.parent.is_dir():
        raise ExportError(f"The folder {out.parent} does not exist.")
    return out


def protected_paths(project: Any = None, *videos: str | os.PathLike | None) -> list[Path]:
    """What an export must never replace: ``project``'s folder (a ``core.annotations.project.Project``: its saves,
    backup, autosave and adapters) and its video or frames folder, plus any other ``videos``."""
    out: list[Path] = []
    if project is not None:
        out.append(Path(project.path))
        found = project.resolve_video_path()
        if found is not None:
            out.append(found)
        if project.video is not None:
            out += [Path(project.video.absolute), Path(project.path) / project.video.path]
    out += [Path(v) for v in videos if v]
    return out


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:  # case-insensitive file systems, and two spellings of one folder
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_protected(out: str | os.PathLike, protected: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output that is, contains or lies inside one of ``protected`` (symlinks and relative
    paths resolved): the export would replace it, or be written into it."""
    o = Path(out).resolve()
    for p in protected:
        if p is None:
            continue
        q = Path(p).resolve()
        if _same(o, q):
            how = "is"
        elif any(_same(a, q) for a in o.parents):
            how = "lies inside"
        elif any(_same(o, b) for b in q.parents):
            how = "contains"
        else:
            continue
        raise ExportError(
            f"Cannot export to {out}: it {how} {q}, part of the project or its video, which an export "
            "must never replace. Choose an output outside the project folder and the video."
        )


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def _frame_count(store: AnnotationStore, num_frames: int | None) -> int:
    if num_frames is not None:
        return int(num_frames)
    if store.num_frames is not None:
        return store.num_frames
    frames = store.annotated_frames()
    return frames[-1] + 1 if frames else 0


def _size(store: AnnotationStore) -> tuple[int, int]:
    if store.height is None or store.width is None:
        raise ExportError("The project has no frame size yet: open its video or add a mask first.")
    return store.height, store.width


def _frames(store: AnnotationStore, num_frames: int | None) -> tuple[int, dict[int, dict[int, MaskRecord]]]:
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


def _write_png(path: Path, image: np.ndarray) -> None:
    # imencode + write: cv2.imwrite fails silently on some non-ASCII paths on Windows
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ExportError(f"Could not encode {path.name} as PNG.")
    path.write_bytes(buf.tobytes())


def _overlap_warning(overlaps: int) -> list[str]:
    if not overlaps:
        return []
    return [f"{overlaps} frame(s) have overlapping masks; the later object in the list covers the earlier."]


# --------------------------------------------------------------------------- COCO
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
    h, w = _size(store)
    n, by_frame = _frames(store, num_frames)
    objects = store.objects
    categories = sorted({o.category for o in objects})
    cat_id = {c: i + 1 for i, c in enumerate(categories)}
    job = _Job(n, progress, should_cancel)
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


# --------------------------------------------------------------------------- indexed PNGs
def voc_palette() -> np.ndarray:
    """The PASCAL VOC / DAVIS colour map (256×3 uint8): index bits spread over R, G, B."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, rgb = i, [0, 0, 0]
        for bit in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - bit)
            c >>= 3
        pal[i] = rgb
    return pal


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_indexed_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit palette PNG (colour type 3): OpenCV cannot write one, and DAVIS tools expect it."""
    idx = np.ascontiguousarray(index, dtype=np.uint8)
    h, w = idx.shape
    raw = np.zeros((h, w + 1), np.uint8)  # filter byte 0 ("None") on every row
    raw[:, 1:] = idx
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"PLTE", np.ascontiguousarray(palette, np.uint8).reshape(256, 3).tobytes()),
            _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _label_image(
    recs: dict[int, MaskRecord], labels: dict[int, int], h: int, w: int, dtype: Any
) -> tuple[np.ndarray, bool]:
    img = np.zeros((h, w), dtype)
    overlap = False
    for oid, rec in recs.items():
        if rec.area == 0:
            continue
        m = rec.decode()
        overlap = overlap or bool(img[m].any())
        img[m] = labels[oid]
    return img, overlap


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
    h, w = _size(store)
    n, by_frame = _frames(store, num_frames)
    objects = store.objects
    if len(objects) > 254:
        raise ExportError("Indexed PNGs hold at most 254 objects (255 is 'void').")
    labels = {o.id: i + 1 for i, o in enumerate(objects)}
    palette = voc_palette()
    for o in objects:
        palette[labels[o.id]] = o.color
    job = _Job(n, progress, should_cancel)
    overlaps = 0
    seen: dict[int, list[str]] = {o.id: [] for o in objects}
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        for f in range(n):
            recs = by_frame.get(f, {})
            img, overlap = _label_image(recs, labels, h, w, np.uint8)
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
    return ExportResult(Path(out), n + 1, _overlap_warning(overlaps))


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.strip())
    return keep.strip(".") or "object"


def export_png(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """Per-object binary PNGs (0/255): ``<id>_<name>/<frame>.png`` for every frame with a mask."""
    _size(store)
    n, by_frame = _frames(store, num_frames)
    job = _Job(n, progress, should_cancel)
    files = 0
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        dirs = {o.id: tmp / f"{o.id:03d}_{_safe_name(o.name)}" for o in store.objects}
        for d in dirs.values():
            d.mkdir()
        for f in range(n):
            for oid, rec in by_frame.get(f, {}).items():
                _write_png(dirs[oid] / f"{f:05d}.png", rec.decode().astype(np.uint8) * 255)
                files += 1
            job.step()
    return ExportResult(Path(out), files)


# --------------------------------------------------------------------------- MOTS
def export_mots(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    sequence: str = "0000",
    first_frame: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """MOTS (KITTI MOTS / MOTSChallenge): ``<seq>.txt`` RLE lines and ``<seq>/<frame>.png`` 16-bit maps.

    Object ids are ``class_id * 1000 + instance`` as the MOTS tools expect; ``classes.txt`` maps
    class ids to categories. MOTS forbids overlaps, so they are resolved by object order (see
    module docstring). ``first_frame=1`` gives MOTSChallenge numbering.
    """
    h, w = _size(store)
    n, by_frame = _frames(store, num_frames)
    objects = store.objects
    if len(objects) > 999:
        raise ExportError("MOTS ids hold at most 999 objects per class.")
    categories = sorted({o.category for o in objects})
    class_id = {c: i + 1 for i, c in enumerate(categories)}
    ids = {o.id: class_id[o.category] * 1000 + i + 1 for i, o in enumerate(objects)}
    job = _Job(n, progress, should_cancel)
    overlaps, lines = 0, []
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        (tmp / sequence).mkdir()
        for f in range(n):
            img, overlap = _label_image(by_frame.get(f, {}), ids, h, w, np.uint16)
            overlaps += overlap
            _write_png(tmp / sequence / f"{f + first_frame:06d}.png", img)
            for oid in by_frame.get(f, {}):
                m = img == ids[oid]
                if m.any():
                    rle = MaskRecord.from_mask(m, "imported").counts
                    lines.append(f"{f + first_frame} {ids[oid]} {ids[oid] // 1000} {h} {w} {rle}\n")
            job.step()
        (tmp / f"{sequence}.txt").write_text("".join(lines), encoding="ascii")
        classes = "".join(f"{class_id[c]} {c}\n" for c in categories)
        (tmp / "classes.txt").write_text(classes, encoding="utf-8")
    return ExportResult(Path(out), n + 2, _overlap_warning(overlaps))


# --------------------------------------------------------------------------- YOLO
def mask_to_polygons(mask: np.ndarray, min_area: float = 4.0) -> list[np.ndarray]:
    """Outer contours of a mask as (K, 2) float pixel-corner polygons (holes are not representable)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    keep = [c for c in contours if len(c) >= 3 and cv2.contourArea(c) >= min_area]
    return [c.reshape(-1, 2).astype(np.float64) for c in keep]


def export_yolo(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """YOLO segmentation labels: ``labels/<frame>.txt`` with ``class x1 y1 x2 y2 ...`` (normalized).

    **Lossy**: polygons cannot hold holes and drop tiny islands; the returned warnings say so and
    give the mean IoU between the polygons and the original masks, so the loss is measured, not
    guessed. One line per connected part; ``data.yaml`` lists the class names.
    """
    h, w = _size(store)
    n, by_frame = _frames(store, num_frames)
    categories = sorted({o.category for o in store.objects})
    class_id = {c: i for i, c in enumerate(categories)}
    job = _Job(n, progress, should_cancel)
    ious = []
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        (tmp / "labels").mkdir()
        for f in range(n):
            lines = []
            for oid, rec in by_frame.get(f, {}).items():
                if rec.area == 0:
                    continue
                mask = rec.decode()
                polys = mask_to_polygons(mask)
                drawn = np.zeros((h, w), np.uint8)
                for p in polys:
                    cv2.fillPoly(drawn, [p.astype(np.int32)], 1)
                    xy = (p / [w, h]).clip(0, 1).ravel()
                    cls = class_id[store.object(oid).category]
                    lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in xy))
                inter = np.logical_and(mask, drawn).sum()
                ious.append(inter / max(np.logical_or(mask, drawn).sum(), 1))
            (tmp / "labels" / f"{f:06d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            job.step()
        names = "".join(f"  {i}: {json.dumps(c)}\n" for i, c in enumerate(categories))
        (tmp / "data.yaml").write_text(
            f"# {YOLO_LOSSY_WARNING}\npath: .\ntrain: images\nval: images\nnames:\n{names}", encoding="utf-8"
        )
    warning = YOLO_LOSSY_WARNING
    if ious:
        warning += f" Mean IoU of the polygons with the masks: {float(np.mean(ious)):.3f}."
    return ExportResult(Path(out), n + 1, [warning])


# --------------------------------------------------------------------------- CVAT
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
    h, w = _size(store)
    n, by_frame = _frames(store, num_frames)
    objects = store.objects
    categories: dict[str, ObjectInfo] = {}
    for o in objects:
        categories.setdefault(o.category, o)
    job = _Job(sum(len(m) for m in by_frame.values()), progress, should_cancel)

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


# --------------------------------------------------------------------------- overlay video
def export_overlay(
    store: AnnotationStore,
    source: Any,
    out: str | os.PathLike,
    *,
    fps: float | None = None,
    alpha: float = 0.5,
    include_hidden: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """An mp4 of the frames with each object's mask tinted in its colour and outlined.

    ``source`` is a FrameSource (RGB frames). Hidden objects are left out unless asked for, so the
    video shows what the user sees.
    """
    n = int(source.num_frames)
    w, h = int(source.width), int(source.height)
    if store.height is not None and (store.height, store.width) != (h, w):
        raise ExportError(f"The masks are {store.width}x{store.height} but the video is {w}x{h}.")
    _, by_frame = _frames(store, n)
    visible = {o.id: o for o in store.objects if include_hidden or not o.hidden}
    rate = float(fps or getattr(source, "fps", 0) or 25.0)
    job = _Job(n, progress, should_cancel)
    with atomic_output(out, is_dir=False, overwrite=overwrite) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), rate, (w, h))
        if not writer.isOpened():
            raise ExportError("OpenCV cannot write an mp4 video here (no mp4v encoder).")
        try:
            for f in range(n):
                img = np.array(source.frame(f), dtype=np.uint8, copy=True)
                for oid, rec in by_frame.get(f, {}).items():
                    if oid not in visible or rec.area == 0:
                        continue
                    m = rec.decode()
                    color = np.array(visible[oid].color, np.float32)
                    img[m] = (img[m] * (1 - alpha) + color * alpha).astype(np.uint8)
                    mode, approx = cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
                    contours, _ = cv2.findContours(m.astype(np.uint8), mode, approx)
                    cv2.drawContours(img, contours, -1, visible[oid].color, 2)
                writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                job.step()
        finally:
            writer.release()
    return ExportResult(Path(out), 1)


# --------------------------------------------------------------------------- dispatch + CLI
def export(
    fmt: str, store: AnnotationStore, out: str | os.PathLike, source: Any = None, **kwargs: Any
) -> ExportResult:
    """Run the exporter for ``fmt`` (one of :data:`FORMATS`); ``source`` is needed for ``overlay``."""
    if fmt == "overlay":
        if source is None:
            raise ExportError("The overlay video needs the project's video.")
        return export_overlay(store, source, out, **kwargs)
    fns: dict[str, Callable[..., ExportResult]] = {
        "coco": export_coco,
        "davis": export_davis,
        "png": export_png,
        "mots": export_mots,
        "yolo": export_yolo,
        "cvat": export_cvat,
    }
    if fmt not in fns:
        raise ExportError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if source is not None and "num_frames" not in kwargs:
        kwargs["num_frames"] = int(source.num_frames)
    return fns[fmt](store, out, **kwargs)


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
    parser.add_argument("--out", "-o", required=True, help="output file (coco, cvat, overlay) or folder")
    parser.add_argument("--state", choices=("saved", "autosave", "backup"), default="saved")
    parser.add_argument("--video", help="video for the overlay (default: the project's video)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--quiet", "-q", action="store_true")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)

    from litlora_desktop.core.annotations.project import Project, ProjectError

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
    if args.fmt == "overlay":
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
    from litlora_desktop.core.annotations.project import check_video
    from litlora_desktop.core.video.errors import VideoError
    from litlora_desktop.core.video.sources import VideoSource

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
