"""Imports of existing annotations as initial masks, so work done elsewhere can be corrected here.

Readers validate the whole input and build every mask before touching the store; the store then
receives everything in one undo group ("Import DAVIS"), so an import is all-or-nothing and one
Ctrl+Z takes it back. Imported masks get provenance ``imported`` and always become new objects.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.export import ExportCancelled, Progress, ShouldCancel, _Job
from litlora_desktop.core.annotations.store import (
    MAX_MASK_SIDE,
    AnnotationStore,
    MaskRecord,
    ObjectInfo,
    check_rle_counts,
    default_color,
)
from litlora_desktop.core.files import read_regular_file

__all__ = [
    "AnnotationImportError",
    "ExportCancelled",
    "ImportResult",
    "decode_indexed_png",
    "import_annotations",
    "import_coco",
    "import_cvat",
    "import_davis",
]


class AnnotationImportError(Exception):
    """The input cannot be imported; the message names the file and the problem, for the user."""


@dataclass
class ImportResult:
    """Objects created, masks added and anything the user should know (skipped shapes, ...)."""

    objects: list[ObjectInfo]
    masks: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Track:
    name: str
    category: str
    color: tuple[int, int, int] | None
    masks: dict[int, MaskRecord] = field(default_factory=dict)


# Without a video (a project not yet linked to one) frames are still bounded: this many at most.
_MAX_FRAMES_WITHOUT_VIDEO = 100_000


def _frame_in_video(store: AnnotationStore, frame: int, where: str) -> int:
    """``frame`` if the video has it, else AnnotationImportError("<where> is on frame ... ").

    Checked before any mask is built, so that a file made for a far longer video is refused at once
    instead of filling memory with masks that could never be added.
    """
    n = store.num_frames if store.num_frames is not None else _MAX_FRAMES_WITHOUT_VIDEO
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


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _commit(
    store: AnnotationStore, tracks: Iterable[_Track], label: str, size: tuple[int, int] | None
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


# --------------------------------------------------------------------------- PNG reading
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def decode_indexed_png(
    data: bytes, expected_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel *indices* (H, W) uint8 and the palette (K, 3), from a palette or 8-bit grayscale PNG.

    OpenCV expands palette PNGs to colours, which loses the object index that DAVIS stores, so
    this small reader decodes the index plane itself (non-interlaced, bit depth 1..8).
    ``expected_size`` (height, width), when given, is checked before any pixel data is unpacked;
    the pixel data is never inflated beyond what the header's size needs (a zlib bomb stays small).
    """
    if not data.startswith(_PNG_SIG):
        raise AnnotationImportError("not a PNG file")
    pos, idat, plte, hdr = 8, [], None, None
    while pos + 8 <= len(data):
        length, tag = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) != length:
            raise AnnotationImportError(
                f"the PNG is truncated (its {tag.decode('latin-1')!r} chunk is cut off)"
            )
        if tag == b"IHDR":
            if length != 13:
                raise AnnotationImportError("the PNG is damaged (its header has the wrong length)")
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"PLTE":
            if length % 3:
                raise AnnotationImportError("the PNG is damaged (its palette is not made of RGB triples)")
            plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
    if hdr is None:
        raise AnnotationImportError("the PNG has no header: it is truncated or damaged")
    w, h, depth, ctype, _, _, interlace = hdr
    if not (0 < w <= MAX_MASK_SIDE and 0 < h <= MAX_MASK_SIDE):
        raise AnnotationImportError(f"the PNG claims an impossible size of {w}x{h} pixels")
    if expected_size is not None and (h, w) != tuple(expected_size):
        raise AnnotationImportError(
            f"the mask is {w}x{h} but the video frames are {expected_size[1]}x{expected_size[0]}"
        )
    if ctype not in (0, 3) or depth not in (1, 2, 4, 8):
        raise AnnotationImportError("not an indexed PNG (need a palette or 8-bit grayscale image)")
    if interlace:
        raise AnnotationImportError("interlaced PNGs are not supported; re-save without interlacing")
    stride = (w * depth + 7) // 8
    try:
        raw = np.frombuffer(zlib.decompressobj().decompress(b"".join(idat), h * (stride + 1)), np.uint8)
    except zlib.error as exc:
        raise AnnotationImportError("the PNG's pixel data is damaged (it does not decompress)") from exc
    if raw.size < h * (stride + 1):
        raise AnnotationImportError("truncated PNG data")
    rows = raw[: h * (stride + 1)].reshape(h, stride + 1)
    out = np.empty((h, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(h):
        ft, line = rows[y, 0], rows[y, 1:]
        if ft == 0:
            cur = line
        elif ft == 1:  # Sub with 1 byte per pixel is a running sum mod 256
            cur = np.cumsum(line, dtype=np.uint8)
        elif ft == 2:
            cur = line + prev
        elif ft in (3, 4):
            cur = _unfilter_slow(int(ft), line.tolist(), prev.tolist())
        else:
            raise AnnotationImportError(f"corrupt PNG (row filter {ft})")
        out[y] = cur
        prev = out[y]
    if depth < 8:
        bits = np.unpackbits(out, axis=1).reshape(h, -1, depth)
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
        out = (bits * weights).sum(axis=2).astype(np.uint8)[:, :w]
    return out, plte


def _unfilter_slow(ft: int, line: list[int], prev: list[int]) -> np.ndarray:
    cur = [0] * len(line)
    for i, v in enumerate(line):
        a = cur[i - 1] if i else 0
        b = prev[i]
        if ft == 3:
            cur[i] = (v + (a + b) // 2) & 0xFF
        else:
            c = prev[i - 1] if i else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (v + pred) & 0xFF
    return np.array(cur, np.uint8)


# --------------------------------------------------------------------------- DAVIS
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
    (see ``_grayscale_reading``); the result's warnings say how they were read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationImportError(f"{folder} is not a folder of PNG masks.")
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".png"), key=lambda p: _natural_key(p.name)
    )
    if not files:
        raise AnnotationImportError(f"{folder} holds no .png files.")
    numbered = all(p.stem.isdigit() for p in files)
    meta = _davis_meta(folder)
    job = _Job(len(files), progress, should_cancel)
    tracks: dict[int, _Track] | None = {}  # one per index; None once grayscale surely is not labels
    one = meta.get("1", {})
    white = _Track(one.get("name", "object 1"), one.get("category", "object"), None)
    hist = np.zeros(256, np.int64)  # pixels per value, over the grayscale PNGs
    size, void, gray = None, False, False
    for i, p in enumerate(files):
        frame = _frame_in_video(store, int(p.stem) if numbered else i, f"{folder.name}/{p.name}")
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
            above = idx >= _GRAY_THRESHOLD
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
                    tracks[v] = _Track(m.get("name", f"object {v}"), m.get("category", "object"), color)  # type: ignore[arg-type]
                tracks[v].masks[frame] = MaskRecord.from_mask(idx == v, "imported")
        job.step()
    note = _grayscale_reading(folder.name, hist) if gray else None
    if note is not None:  # black-and-white or anti-aliased: one object, where the PNGs are >= 128
        result = _commit(store, [white], "Import DAVIS", size)
        result.warnings.append(note)
        return result
    assert tracks is not None
    result = _commit(store, [tracks[k] for k in sorted(tracks)], "Import DAVIS", size)
    if void:
        result.warnings.append("Pixels marked void (255) were ignored.")
    return result


# A grayscale PNG with more gray levels than this (besides 0 and 255) is anti-aliased, not labels.
_MAX_GRAY_LABELS = 16
_GRAY_THRESHOLD = 128


def _grayscale_reading(name: str, hist: np.ndarray) -> str | None:
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
            f"object labels): they were imported as one object, thresholded at {_GRAY_THRESHOLD}."
        )
    if white_px > gray_px:
        return (
            f"The masks in {name} are ambiguous: their {levels} gray level(s) could be object labels "
            f"but cover far less than white, so they were read as anti-aliased edges and imported as "
            f"one object, thresholded at {_GRAY_THRESHOLD}; save labels as palette PNGs to import "
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


# --------------------------------------------------------------------------- COCO
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
        raise AnnotationImportError(f"{path.name} is not valid COCO data: {_plain(exc)}.") from exc


def _plain(exc: BaseException) -> str:
    """What a KeyError/TypeError/ValueError from reading an import file means, without library text."""
    if isinstance(exc, KeyError):
        return f"the required field {str(exc.args[0])[:40]!r} is missing"
    return "a field has a value of the wrong kind"


def _coco(store: AnnotationStore, doc: dict[str, Any], name: str, progress: Any, cancel: Any) -> ImportResult:
    images = doc["images"]
    for im in images:
        if not isinstance(im, dict) or "id" not in im:
            raise AnnotationImportError(f"{name}: an entry of 'images' is not an image with an 'id'.")
    key = "frame_index" if all("frame_index" in im for im in images) else None
    key = key or ("frame_id" if all("frame_id" in im for im in images) else None)
    if key is not None:
        frame_of = {im["id"]: _whole(im[key], f"{name}: image {im['id']!r} has a {key}") for im in images}
    else:
        order = sorted(images, key=lambda im: _natural_key(str(im.get("file_name", im["id"]))))
        frame_of = {im["id"]: i for i, im in enumerate(order)}
    sizes = {
        (
            _whole(im.get("height"), f"{name}: image {im['id']!r} has a height", 1, MAX_MASK_SIDE),
            _whole(im.get("width"), f"{name}: image {im['id']!r} has a width", 1, MAX_MASK_SIDE),
        )
        for im in images
    }
    if len(sizes) > 1:
        raise AnnotationImportError(f"{name}: the images have different sizes; a video has one.")
    size = sizes.pop() if sizes else None
    for im_id, frame in frame_of.items():
        _frame_in_video(store, frame, f"{name}: image {im_id!r}")
    if size is not None and store.height is not None and size != (store.height, store.width):
        raise AnnotationImportError(
            f"{name}: the annotations are {size[1]}x{size[0]} but the video frames are {store.width}x{store.height}."
        )
    cats = {c["id"]: str(c["name"]) for c in doc.get("categories", [])}
    named = {t["id"]: t for t in doc.get("tracks", []) if isinstance(t, dict) and "id" in t}
    tracks: dict[Any, _Track] = {}
    warnings = []
    job = _Job(len(doc["annotations"]), progress, cancel)
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
            tracks[tid] = _Track(str(label), category, color)  # type: ignore[arg-type]
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
    result = _commit(store, [t for _, t in ordered], "Import COCO", size)
    result.warnings.extend(warnings)
    return result


def _whole(value: Any, what: str, low: int = 0, high: int = 2**31 - 1) -> int:
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


_MAX_POLYGON_NUMBERS = 200_000  # 100,000 points: far beyond any hand-made or traced outline


def _polygon(p: Any, h: int, w: int) -> np.ndarray | None:
    """A COCO polygon as float64 [x0, y0, x1, y1, ...], checked so that pycocotools can draw it
    (it trusts its input: a NaN made it allocate memory until the process died); None when it has
    fewer than 3 points (nothing to draw)."""
    if not isinstance(p, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in p):
        raise ValueError("a polygon holds something other than numbers")
    if len(p) > _MAX_POLYGON_NUMBERS:
        raise ValueError(
            f"a polygon has {len(p) // 2} points, more than the {_MAX_POLYGON_NUMBERS // 2} allowed"
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
        polys = [q for q in (_polygon(p, h, w) for p in seg) if q is not None]
        if not polys:
            raise ValueError("a polygon segmentation needs at least 3 points")
        rle = mask_utils.merge(mask_utils.frPyObjects([q.tolist() for q in polys], h, w))
        return MaskRecord.from_rle(rle, "imported", score=score)
    raise ValueError(f"its segmentation {str(seg)[:60]!r} is neither polygons nor an RLE")


# --------------------------------------------------------------------------- CVAT
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
        raise AnnotationImportError(f"{path.name} is not valid CVAT data: {_plain(exc)}.") from exc


def _cvat(store: AnnotationStore, root: ET.Element, name: str, progress: Any, cancel: Any) -> ImportResult:
    meta = root.find("meta")
    task = None
    if meta is not None:
        task = meta.find("task") if meta.find("task") is not None else meta.find("job")
    size = None
    if task is not None and task.find("original_size") is not None:
        osz = task.find("original_size")
        size = (
            _whole(
                _number_text(osz.findtext("height")), f"{name}: original_size has a height", 1, MAX_MASK_SIDE
            ),  # type: ignore[union-attr]
            _whole(
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
        stop = _whole(_number_text(task.findtext("stop_frame")), f"{name}: the task has a stop_frame")
        last = (store.num_frames or _MAX_FRAMES_WITHOUT_VIDEO) - 1
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
    job = _Job(len(tracks_el), progress, cancel)
    tracks, skipped = [], 0
    for tr in tracks_el:
        label = tr.attrib["label"]
        shapes = []
        for sh in tr:
            if sh.tag not in ("mask", "polygon"):
                skipped += 1
                continue
            frame = _whole(
                _number_text(sh.attrib.get("frame")), f"{name}: a {sh.tag} of track {label!r} has a frame"
            )
            _frame_in_video(store, frame, f"{name}: a {sh.tag} of track {label!r}")
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
        t = _Track(
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
    result = _commit(store, tracks, "Import CVAT", (h, w))
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
        if len(pts) > _MAX_POLYGON_NUMBERS // 2 or any(len(p) != 2 for p in pts):
            raise ValueError("its points are not x,y number pairs (or there are too many)")
        _polygon([v for p in pts for v in p], h, w)  # finite, within a bound of the frame
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


# --------------------------------------------------------------------------- dispatch
def import_annotations(
    store: AnnotationStore, path: str | os.PathLike, fmt: str | None = None, **kwargs: Any
) -> ImportResult:
    """Import by format name (``davis``, ``coco``, ``cvat``) or guess it: folder, ``.json``, ``.xml``."""
    p = Path(path)
    if fmt is None:
        fmt = "davis" if p.is_dir() else {".json": "coco", ".xml": "cvat"}.get(p.suffix.lower())
    fns = {"davis": import_davis, "coco": import_coco, "cvat": import_cvat}
    if fmt not in fns:
        raise AnnotationImportError(
            f"Cannot tell the format of {p.name}: choose DAVIS (folder), COCO or CVAT."
        )
    return fns[fmt](store, p, **kwargs)
