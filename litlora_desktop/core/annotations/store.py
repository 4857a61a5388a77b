"""The annotation store: every mask the user has, with where it came from, and undo/redo.

Masks are kept as COCO compressed RLE (pycocotools) because a long video holds tens of thousands
of them: a 1280×720 bool mask is 900 KB raw and typically a few hundred bytes as RLE. The store is
the single owner of masks; the UI renders what it says and listens for changes through plain
callbacks (no Qt here). Every edit goes through a command history so it can be undone, and the
history is serialized with the project so it survives a save and reopen.

Thread-safety: edits come from one thread (the GUI). The autosaver reads from another thread, so
every read and write takes a lock and :meth:`AnnotationStore.snapshot` hands out an immutable copy
that can be serialized without holding the lock.
"""

from __future__ import annotations

import colorsys
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from pycocotools import mask as mask_utils

log = logging.getLogger(__name__)

PROVENANCE_KINDS = ("sam2", "user", "lora", "imported")
_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
STORE_FORMAT = "litlora-annotations"
STORE_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a mask came from: ``sam2``, ``user``, ``lora:<adapter>`` or ``imported``.

    Kept as a tiny validated type rather than a free string so a typo cannot silently create a
    fifth kind that the timeline and the exporters do not know.
    """

    kind: str
    adapter: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PROVENANCE_KINDS:
            raise ValueError(f"unknown mask provenance {self.kind!r}; expected one of {PROVENANCE_KINDS}")
        if self.kind == "lora":
            if not _ADAPTER_NAME.match(self.adapter):
                raise ValueError(f"bad LoRA adapter name {self.adapter!r} (letters, digits, _ . - only)")
        elif self.adapter:
            raise ValueError(f"provenance {self.kind!r} takes no adapter name")

    @staticmethod
    @lru_cache(maxsize=256)
    def parse(text: str) -> Provenance:
        """Parse ``"sam2"``, ``"user"``, ``"imported"`` or ``"lora:<adapter>"`` (cached: records share it)."""
        if not isinstance(text, str):
            raise ValueError(f"provenance must be a string, got {type(text).__name__}")
        kind, sep, adapter = text.partition(":")
        if sep and kind != "lora":
            raise ValueError(f"unknown mask provenance {text!r}")
        if kind == "lora" and not sep:
            raise ValueError("provenance 'lora' needs an adapter name: 'lora:<adapter>'")
        return Provenance(kind, adapter)

    def __str__(self) -> str:
        return f"lora:{self.adapter}" if self.kind == "lora" else self.kind


ProvenanceLike = Provenance | str


def as_provenance(value: ProvenanceLike) -> Provenance:
    """Accept a :class:`Provenance` or its string form."""
    return value if isinstance(value, Provenance) else Provenance.parse(value)


class Click(NamedTuple):
    """A prompt click in frame pixel coordinates; ``positive`` False means "not this"."""

    x: float
    y: float
    positive: bool


def _as_clicks(clicks: Any) -> tuple[Click, ...]:
    out = []
    for c in clicks or ():
        if len(c) != 3:
            raise ValueError(f"a click is (x, y, positive), got {c!r}")
        x, y, pos = c
        if isinstance(pos, (int, np.integer)) and pos in (0, 1):
            pos = bool(pos)
        if not isinstance(pos, (bool, np.bool_)):
            raise ValueError(f"click label must be a bool, got {pos!r}")
        out.append(Click(float(x), float(y), bool(pos)))
    return tuple(out)


MAX_MASK_SIDE = 1 << 15  # no video frame is wider or taller; bounds what a damaged file can allocate
_SHIFTS = np.int64(1) << (5 * np.arange(8, dtype=np.int64))


def rle_run_lengths(counts: str) -> np.ndarray | None:
    """The run lengths of COCO compressed RLE ``counts`` (int64), or None when the string is malformed.

    The same decoding as pycocotools' ``rleFrString``, done here so that damaged counts are found
    before pycocotools sees them (it trusts them: too many pixels fail late or read past the mask).
    """
    if not isinstance(counts, str) or not counts.isascii():
        return None
    b = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    if b.size == 0:
        return b
    if b.min() < 0 or b.max() > 63:
        return None  # not a character the encoder writes
    more = (b & 0x20) != 0
    if more[-1]:
        return None  # the last number is cut off
    ends = np.flatnonzero(~more)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 7:
        return None  # a number beyond 2**34: no mask has that many pixels
    if lengths.max() == 1:
        vals = b & 0x1F
    else:
        group = np.repeat(np.arange(ends.size), lengths)
        digits = (b & 0x1F) * _SHIFTS[np.arange(b.size) - starts[group]]
        vals = np.bincount(group, weights=digits.astype(np.float64), minlength=ends.size).astype(np.int64)
    negative = (b[ends] & 0x10) != 0
    if negative.any():
        vals[negative] -= _SHIFTS[lengths[negative]]
    vals[1::2] = np.cumsum(vals[1::2])  # from the fourth number on, each is stored as a difference
    if vals.size > 2:
        vals[2::2] = np.cumsum(vals[2::2])
    return vals


def check_rle_size(height: Any, width: Any) -> tuple[int, int]:
    """(height, width) of a mask as ints, or ValueError when not a plausible frame size."""
    for v in (height, width):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 < v <= MAX_MASK_SIDE:
            raise ValueError(
                f"the mask size {height}x{width} is not a frame size (1 to {MAX_MASK_SIDE} pixels a side)"
            )
    return int(height), int(width)


def check_rle_counts(counts: str, height: int, width: int) -> None:
    """ValueError unless compressed ``counts`` describe exactly ``height`` x ``width`` pixels."""
    runs = rle_run_lengths(counts)
    if runs is None:
        raise ValueError(
            "the mask data (RLE counts) is damaged: it is not a valid compressed run-length string"
        )
    if runs.size and runs.min() < 0:
        raise ValueError("the mask data (RLE counts) is damaged: it holds negative run lengths")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(
            f"the mask data (RLE counts) covers {total} pixels but a {width}x{height} mask has {height * width}"
        )


def encode_mask(mask: np.ndarray) -> tuple[int, int, str]:
    """Bool/0-1 array (H, W) -> (H, W, compressed RLE counts as ASCII)."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"a mask is a 2-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        arr = arr != 0
    rle = mask_utils.encode(np.asfortranarray(arr.view(np.uint8)))
    return int(arr.shape[0]), int(arr.shape[1]), rle["counts"].decode("ascii")


@dataclass(frozen=True, slots=True)
class MaskRecord:
    """One object's mask on one frame, as RLE, with its provenance and the clicks that made it.

    ``slots`` and the flat fields keep a record at ~200 bytes plus the RLE string, which is what
    lets a 10,000-frame video stay small in memory.
    """

    height: int
    width: int
    counts: str
    provenance: Provenance
    clicks: tuple[Click, ...] = ()
    score: float | None = None
    area: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.counts, str) or not self.counts.isascii():
            raise ValueError("RLE counts must be an ASCII string (COCO compressed RLE)")
        check_rle_size(self.height, self.width)
        check_rle_counts(self.counts, self.height, self.width)
        if not isinstance(self.provenance, Provenance):
            raise ValueError("provenance must be a Provenance")
        if self.area < 0:
            try:
                area = int(mask_utils.area(self.rle))
            except Exception as exc:  # pycocotools raises bare Exceptions on bad counts
                raise ValueError(f"corrupt RLE counts: {exc}") from exc
            if area > self.height * self.width:
                raise ValueError("corrupt RLE counts: more pixels than the mask holds")
            object.__setattr__(self, "area", area)

    @classmethod
    def from_mask(
        cls,
        mask: np.ndarray,
        provenance: ProvenanceLike,
        clicks: Any = (),
        score: float | None = None,
    ) -> MaskRecord:
        """Encode a bool (H, W) array."""
        h, w, counts = encode_mask(mask)
        return cls(h, w, counts, as_provenance(provenance), _as_clicks(clicks), _as_score(score))

    @classmethod
    def from_rle(
        cls, rle: Mapping[str, Any], provenance: ProvenanceLike, clicks: Any = (), score: float | None = None
    ) -> MaskRecord:
        """Build from a COCO RLE dict (compressed str/bytes counts, or uncompressed list counts)."""
        size = rle.get("size")
        counts = rle.get("counts")
        if not (isinstance(size, (list, tuple)) and len(size) == 2):
            raise ValueError("RLE needs 'size': [height, width]")
        h, w = check_rle_size(*size)
        if isinstance(counts, list):
            if not all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counts
            ):
                raise ValueError("the mask data (RLE counts) must be non-negative whole numbers")
            if sum(counts) != h * w:
                raise ValueError(
                    f"the mask data (RLE counts) covers {sum(counts)} pixels but a {w}x{h} mask has {h * w}"
                )
            counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if not isinstance(counts, str):
            raise ValueError("RLE 'counts' must be a string or a list of ints")
        return cls(h, w, counts, as_provenance(provenance), _as_clicks(clicks), _as_score(score))

    @property
    def rle(self) -> dict[str, Any]:
        """COCO RLE dict with ``counts`` as str (what JSON and pycocotools both accept)."""
        return {"size": [self.height, self.width], "counts": self.counts}

    def decode(self) -> np.ndarray:
        """The mask as a bool (H, W) array."""
        return mask_utils.decode(self.rle).astype(bool)

    def bbox(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the mask's pixels; zeros when empty."""
        x, y, w, h = mask_utils.toBbox(self.rle).tolist()
        return int(x), int(y), int(w), int(h)

    def to_json(self) -> dict[str, Any]:
        """Short-keyed dict (c counts, p provenance, a area, k clicks, s score): there are many."""
        d: dict[str, Any] = {"c": self.counts, "p": str(self.provenance), "a": self.area}
        if self.clicks:
            d["k"] = [[c.x, c.y, int(c.positive)] for c in self.clicks]
        if self.score is not None:
            d["s"] = self.score
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], height: int, width: int) -> MaskRecord:
        """Inverse of :meth:`to_json`; keys are short because there can be 100,000 of them."""
        if not isinstance(d, Mapping) or "c" not in d or "p" not in d:
            raise ValueError(f"a mask record needs 'c' (RLE counts) and 'p' (provenance): {d!r:.80}")
        rec = cls(
            height, width, d["c"], Provenance.parse(d["p"]), _as_clicks(d.get("k")), _as_score(d.get("s"))
        )
        if "a" in d and d["a"] != rec.area:
            raise ValueError("mask record area does not match its RLE (corrupt data)")
        return rec


def _as_score(score: Any) -> float | None:
    if score is None:
        return None
    s = float(score)
    if not np.isfinite(s):
        raise ValueError(f"object score must be finite, got {score!r}")
    return s


_BASE_COLORS = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128),
]  # fmt: skip


def default_color(index: int) -> tuple[int, int, int]:
    """Distinct colours: ten hand-picked ones, then golden-ratio hues."""
    if index < len(_BASE_COLORS):
        return _BASE_COLORS[index]
    h = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.95)
    return (round(r * 255), round(g * 255), round(b * 255))


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An annotated object (a track): what the user calls it and how it is drawn."""

    id: int
    name: str
    color: tuple[int, int, int]
    category: str = "object"
    hidden: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool) or self.id <= 0:
            raise ValueError(f"object id must be a positive int, got {self.id!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("object name must be a non-empty string")
        if not isinstance(self.category, str) or not self.category.strip():
            raise ValueError("object category must be a non-empty string")
        color = tuple(self.color)
        if len(color) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in color):
            raise ValueError(f"object colour must be three ints 0..255, got {self.color!r}")
        object.__setattr__(self, "color", tuple(int(c) for c in color))
        object.__setattr__(self, "hidden", bool(self.hidden))

    def to_json(self) -> dict[str, Any]:
        """The on-disk form of an object."""
        return {
            "id": self.id,
            "name": self.name,
            "color": list(self.color),
            "category": self.category,
            "hidden": self.hidden,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ObjectInfo:
        """Validate and build; ValueError names the bad entry."""
        if not isinstance(d, Mapping):
            raise ValueError(f"an object entry must be a mapping, got {d!r:.80}")
        try:
            return cls(
                d["id"], d["name"], tuple(d["color"]), d.get("category", "object"), d.get("hidden", False)
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad object entry {d!r:.80}: {exc}") from exc


class TimelineCode(IntEnum):
    """Per-frame status of one object, for the timeline lane."""

    NONE = 0
    SAM2 = 1
    LORA = 2
    USER = 3
    IMPORTED = 4
    EMPTY = 5  # a mask exists but has no pixels: "object absent here" was decided


_CODE = {"sam2": TimelineCode.SAM2, "lora": TimelineCode.LORA, "user": TimelineCode.USER}
_CODE["imported"] = TimelineCode.IMPORTED


@dataclass(frozen=True, slots=True)
class StoreChange:
    """What changed, for listeners: (frame, object) pairs and object ids; ``reason`` says why."""

    revision: int
    reason: str  # "edit" | "undo" | "redo" | "load"
    masks: tuple[tuple[int, int], ...] = ()
    objects: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _MaskOp:
    frame: int
    obj_id: int
    before: MaskRecord | None
    after: MaskRecord | None


@dataclass(frozen=True, slots=True)
class _ObjectOp:
    obj_id: int
    before: ObjectInfo | None
    after: ObjectInfo | None
    index: int  # position in the object order, so an undone delete comes back where it was


_Op = _MaskOp | _ObjectOp


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One undo step: a label for the menu ("Undo Propagate") and the primitive operations."""

    label: str
    ops: tuple[_Op, ...]


@dataclass(frozen=True)
class StoreSnapshot:
    """An immutable copy of the store, cheap to take (records are shared), serialized off-thread."""

    revision: int
    height: int | None
    width: int | None
    next_object_id: int
    objects: tuple[ObjectInfo, ...]
    masks: dict[int, dict[int, MaskRecord]]
    undo: tuple[HistoryStep, ...]
    redo: tuple[HistoryStep, ...]

    def to_json(self) -> dict[str, Any]:
        """The on-disk form (``format: litlora-annotations``, version 1)."""
        h, w = self.height, self.width
        return {
            "format": STORE_FORMAT,
            "version": STORE_FORMAT_VERSION,
            "size": [h, w] if h else None,
            "next_object_id": self.next_object_id,
            "objects": [o.to_json() for o in self.objects],
            "masks": {
                str(oid): {str(f): r.to_json() for f, r in sorted(frames.items())}
                for oid, frames in self.masks.items()
            },
            "history": {
                "undo": [_step_json(s) for s in self.undo],
                "redo": [_step_json(s) for s in self.redo],
            },
        }


def _rec_json(r: MaskRecord | None) -> Any:
    return None if r is None else r.to_json()


def _step_json(step: HistoryStep) -> dict[str, Any]:
    ops = []
    for op in step.ops:
        if isinstance(op, _MaskOp):
            ops.append(
                {"t": "m", "f": op.frame, "o": op.obj_id, "b": _rec_json(op.before), "a": _rec_json(op.after)}
            )
        else:
            b = op.before.to_json() if op.before else None
            a = op.after.to_json() if op.after else None
            ops.append({"t": "o", "o": op.obj_id, "b": b, "a": a, "i": op.index})
    return {"label": step.label, "ops": ops}


def _step_from_json(d: Any, h: int | None, w: int | None) -> HistoryStep:
    def rec(x: Any) -> MaskRecord | None:
        if x is None:
            return None
        if h is None or w is None:
            raise ValueError("history holds masks but the store has no size")
        return MaskRecord.from_json(x, h, w)

    def obj(x: Any) -> ObjectInfo | None:
        return None if x is None else ObjectInfo.from_json(x)

    if not isinstance(d, Mapping) or not isinstance(d.get("ops"), list):
        raise ValueError("a history step needs 'label' and 'ops'")
    ops: list[_Op] = []
    for o in d["ops"]:
        if o.get("t") == "m":
            ops.append(_MaskOp(int(o["f"]), int(o["o"]), rec(o["b"]), rec(o["a"])))
        elif o.get("t") == "o":
            ops.append(_ObjectOp(int(o["o"]), obj(o["b"]), obj(o["a"]), int(o["i"])))
        else:
            raise ValueError(f"unknown history operation {o!r:.80}")
    return HistoryStep(str(d.get("label", "")), tuple(ops))


Listener = Callable[[StoreChange], None]


class AnnotationStore:
    """Objects and their per-frame masks, with undo/redo and change callbacks.

    Parameters
    ----------
    height, width
        Frame size. When left out it is taken from the first mask; every mask must match it.
    num_frames
        When given, frame indices are checked against it.
    history_limit, history_mask_limit
        Undo steps, and masks held by all steps together, kept; the oldest steps are dropped first
        so the history cannot grow without bound (one "propagate" step can hold thousands).
    """

    def __init__(
        self,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        history_limit: int = 200,
        history_mask_limit: int = 50_000,
    ) -> None:
        self._lock = threading.RLock()
        self.height = height
        self.width = width
        self.num_frames = num_frames
        self.history_limit = history_limit
        self.history_mask_limit = history_mask_limit
        self._objects: dict[int, ObjectInfo] = {}
        self._masks: dict[int, dict[int, MaskRecord]] = {}
        self._next_id = 1
        self._undo: list[HistoryStep] = []
        self._redo: list[HistoryStep] = []
        self._group_ops: list[_Op] | None = None
        self._group_label = ""
        self._group_depth = 0
        self._listeners: list[Listener] = []
        self.revision = 0
        self.load_warnings: list[str] = []  # damaged records skipped by from_json, for the user

    # ----------------------------------------------------------------- listeners
    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(StoreChange)`` after every change; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return remove

    def _notify(self, change: StoreChange) -> None:
        for cb in list(self._listeners):
            try:
                cb(change)
            except Exception:  # a broken view must not corrupt the model or stop other listeners
                log.exception("annotation store listener failed")

    # ----------------------------------------------------------------- objects
    @property
    def objects(self) -> list[ObjectInfo]:
        """Objects in display order."""
        with self._lock:
            return list(self._objects.values())

    def object(self, obj_id: int) -> ObjectInfo:
        """The object with this id; KeyError when there is none."""
        with self._lock:
            try:
                return self._objects[obj_id]
            except KeyError:
                raise KeyError(f"no object with id {obj_id}") from None

    def add_object(
        self,
        name: str | None = None,
        color: tuple[int, int, int] | None = None,
        category: str = "object",
        obj_id: int | None = None,
    ) -> ObjectInfo:
        """Create an object; id, name and colour are chosen when not given."""
        with self._lock:
            oid = self._next_id if obj_id is None else obj_id
            if oid in self._objects:
                raise ValueError(f"object id {oid} already exists")
            index = len(self._objects)
            info = ObjectInfo(oid, name or f"object {oid}", color or default_color(oid - 1), category)
            self._commit("Add object", [_ObjectOp(oid, None, info, index)])
            return info

    def update_object(self, obj_id: int, **changes: Any) -> ObjectInfo:
        """Rename, recolour, recategorize or hide (keyword: name, color, category, hidden)."""
        allowed = {"name", "color", "category", "hidden"}
        if not changes.keys() <= allowed:
            raise ValueError(f"can only change {sorted(allowed)}, not {sorted(changes.keys() - allowed)}")
        with self._lock:
            before = self.object(obj_id)
            after = replace(before, **changes)
            if after != before:
                index = list(self._objects).index(obj_id)
                label = "Rename object" if set(changes) == {"name"} else "Change object"
                self._commit(label, [_ObjectOp(obj_id, before, after, index)])
            return after

    def rename_object(self, obj_id: int, name: str) -> ObjectInfo:
        """Rename (undoable)."""
        return self.update_object(obj_id, name=name)

    def recolor_object(self, obj_id: int, color: tuple[int, int, int]) -> ObjectInfo:
        """Change the drawing colour (undoable)."""
        return self.update_object(obj_id, color=color)

    def delete_object(self, obj_id: int) -> None:
        """Delete an object and all its masks, as one undo step (undo brings the masks back)."""
        with self._lock:
            info = self.object(obj_id)
            index = list(self._objects).index(obj_id)
            ops: list[_Op] = [_MaskOp(f, obj_id, r, None) for f, r in sorted(self._masks[obj_id].items())]
            ops.append(_ObjectOp(obj_id, info, None, index))
            self._commit(f"Delete {info.name}", ops)

    # ----------------------------------------------------------------- masks
    def set_mask(
        self,
        frame: int,
        obj_id: int,
        mask: np.ndarray,
        provenance: ProvenanceLike,
        clicks: Any = (),
        score: float | None = None,
    ) -> MaskRecord:
        """Store a bool (H, W) mask for (frame, object); replaces what was there (undoable)."""
        return self.set_record(frame, obj_id, MaskRecord.from_mask(mask, provenance, clicks, score))

    def set_record(self, frame: int, obj_id: int, record: MaskRecord) -> MaskRecord:
        """Store an already-encoded record (importers use this to skip a decode/encode)."""
        with self._lock:
            self._check_frame(frame)
            self.object(obj_id)
            self._check_size(record)
            before = self._masks[obj_id].get(frame)
            if before != record:
                self._commit("Edit mask", [_MaskOp(frame, obj_id, before, record)])
            return record

    def delete_mask(self, frame: int, obj_id: int) -> bool:
        """Remove the mask; returns False when there was none."""
        with self._lock:
            self.object(obj_id)
            before = self._masks[obj_id].get(frame)
            if before is None:
                return False
            self._commit("Delete mask", [_MaskOp(frame, obj_id, before, None)])
            return True

    def get_record(self, frame: int, obj_id: int) -> MaskRecord | None:
        """The stored record (RLE, provenance, clicks), or None."""
        with self._lock:
            return self._masks.get(obj_id, {}).get(frame)

    def get_mask(self, frame: int, obj_id: int) -> np.ndarray | None:
        """The mask as a bool (H, W) array, or None when (frame, object) has no mask."""
        rec = self.get_record(frame, obj_id)
        return None if rec is None else rec.decode()

    def frames_for_object(self, obj_id: int) -> list[int]:
        """Sorted frame indices that hold a mask for the object."""
        with self._lock:
            self.object(obj_id)
            return sorted(self._masks[obj_id])

    def annotated_frames(self) -> list[int]:
        """Sorted frames where any object has a mask."""
        with self._lock:
            return sorted({f for frames in self._masks.values() for f in frames})

    def records_for_frame(self, frame: int) -> dict[int, MaskRecord]:
        """{object id: record} on one frame, in object order."""
        with self._lock:
            return {oid: self._masks[oid][frame] for oid in self._objects if frame in self._masks[oid]}

    def frame_status(self, frame: int) -> dict[int, Provenance]:
        """{object id: provenance} on one frame."""
        return {oid: r.provenance for oid, r in self.records_for_frame(frame).items()}

    def timeline(self, obj_id: int, num_frames: int | None = None) -> np.ndarray:
        """One :class:`TimelineCode` per frame (uint8), for drawing the object's timeline lane."""
        with self._lock:
            self.object(obj_id)
            n = num_frames if num_frames is not None else self.num_frames
            frames = self._masks[obj_id]
            if n is None:
                n = max(frames, default=-1) + 1
            out = np.zeros(n, dtype=np.uint8)
            for f, r in frames.items():
                if f < n:
                    out[f] = TimelineCode.EMPTY if r.area == 0 else _CODE[r.provenance.kind]
            return out

    def mask_count(self) -> int:
        """Number of (frame, object) masks held."""
        with self._lock:
            return sum(len(m) for m in self._masks.values())

    def iter_records(self) -> Iterator[tuple[int, int, MaskRecord]]:
        """(frame, object id, record) sorted by frame then object order; iterates a snapshot."""
        with self._lock:
            order = {oid: i for i, oid in enumerate(self._objects)}
            items = [(f, oid, r) for oid, frames in self._masks.items() for f, r in frames.items()]
        items.sort(key=lambda t: (t[0], order[t[1]]))
        return iter(items)

    def _check_frame(self, frame: int) -> None:
        if not isinstance(frame, (int, np.integer)) or frame < 0:
            raise ValueError(f"frame index must be a non-negative int, got {frame!r}")
        if self.num_frames is not None and frame >= self.num_frames:
            raise ValueError(f"frame {frame} is past the end of the video ({self.num_frames} frames)")

    def _check_size(self, rec: MaskRecord) -> None:
        if self.height is None or self.width is None:
            self.height, self.width = rec.height, rec.width
        elif (rec.height, rec.width) != (self.height, self.width):
            raise ValueError(
                f"mask is {rec.width}x{rec.height} but the video frames are {self.width}x{self.height}"
            )

    # ----------------------------------------------------------------- history
    @contextlib.contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Make every change inside the ``with`` block one undo step (nested groups merge)."""
        with self._lock:
            if self._group_depth == 0:
                self._group_ops, self._group_label = [], label
            self._group_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._group_depth -= 1
                if self._group_depth == 0:
                    ops, self._group_ops = self._group_ops or [], None
                    if ops:  # changes that happened before an exception are kept and undoable
                        self._push_undo(HistoryStep(self._group_label, tuple(ops)))

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def undo(self) -> bool:
        """Revert the last step; False when there is nothing to undo."""
        with self._lock:
            self._no_open_group("undo")
            if not self._undo:
                return False
            step = self._undo.pop()
            inverse = [_invert(op) for op in reversed(step.ops)]
            change = self._apply(inverse, "undo")
            self._redo.append(step)
        self._notify(change)
        return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        with self._lock:
            self._no_open_group("redo")
            if not self._redo:
                return False
            step = self._redo.pop()
            change = self._apply(list(step.ops), "redo")
            self._undo.append(step)
        self._notify(change)
        return True

    def clear_history(self) -> None:
        """Forget undo and redo (e.g. after a destructive import the user confirmed)."""
        with self._lock:
            self._undo.clear()
            self._redo.clear()

    def _no_open_group(self, what: str) -> None:
        if self._group_depth:
            raise RuntimeError(f"cannot {what} inside an open change group")

    def _push_undo(self, step: HistoryStep) -> None:
        self._undo.append(step)
        if len(self._undo) > self.history_limit:
            del self._undo[: len(self._undo) - self.history_limit]
        held = sum(len(s.ops) for s in self._undo)
        while len(self._undo) > 1 and held > self.history_mask_limit:
            held -= len(self._undo.pop(0).ops)

    def _commit(self, label: str, ops: list[_Op]) -> None:
        with self._lock:
            change = self._apply(ops, "edit")
            self._redo.clear()
            if self._group_ops is not None:
                self._group_ops.extend(ops)
            else:
                self._push_undo(HistoryStep(label, tuple(ops)))
        self._notify(change)

    def _apply(self, ops: list[_Op], reason: str) -> StoreChange:
        masks: list[tuple[int, int]] = []
        objects: list[int] = []
        for op in ops:
            if isinstance(op, _MaskOp):
                frames = self._masks[op.obj_id]
                if op.after is None:
                    frames.pop(op.frame, None)
                else:
                    frames[op.frame] = op.after
                masks.append((op.frame, op.obj_id))
            else:
                self._apply_object(op)
                objects.append(op.obj_id)
        self.revision += 1
        return StoreChange(self.revision, reason, tuple(masks), tuple(objects))

    def _apply_object(self, op: _ObjectOp) -> None:
        if op.after is None:
            del self._objects[op.obj_id]
            if self._masks.pop(op.obj_id, None):
                raise AssertionError("object deleted while it still had masks")
            return
        if op.obj_id in self._objects:
            self._objects[op.obj_id] = op.after
            return
        items = list(self._objects.items())
        items.insert(min(op.index, len(items)), (op.obj_id, op.after))
        self._objects = dict(items)
        self._masks.setdefault(op.obj_id, {})
        self._next_id = max(self._next_id, op.obj_id + 1)

    # ----------------------------------------------------------------- persistence
    def snapshot(self) -> StoreSnapshot:
        """An immutable copy (shallow: records are immutable and shared) for saving off-thread."""
        with self._lock:
            return StoreSnapshot(
                revision=self.revision,
                height=self.height,
                width=self.width,
                next_object_id=self._next_id,
                objects=tuple(self._objects.values()),
                masks={oid: dict(frames) for oid, frames in self._masks.items()},
                undo=tuple(self._undo),
                redo=tuple(self._redo),
            )

    def to_json(self) -> dict[str, Any]:
        """Serialize (takes a snapshot first)."""
        return self.snapshot().to_json()

    @classmethod
    def from_json(cls, data: Any, num_frames: int | None = None) -> AnnotationStore:
        """Rebuild a store from :meth:`StoreSnapshot.to_json` output.

        Raises ValueError when the whole store is unusable (not a store, no size). A damaged part
        (a mask whose RLE does not fit the frame, a frame outside the video, masks of an unknown
        object, an undo step that cannot be applied) is skipped and described in ``load_warnings``:
        it never stops the rest from loading, and as it is not in the store it is never saved again.
        """
        if not isinstance(data, Mapping) or data.get("format") != STORE_FORMAT:
            raise ValueError(f"not a LIT-LoRA annotation store (expected format {STORE_FORMAT!r})")
        if data.get("version") != STORE_FORMAT_VERSION:
            raise ValueError(f"unsupported annotation store version {data.get('version')!r}")
        size = data.get("size")
        h = w = None
        if size is not None:
            if not (
                isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
            ):
                raise ValueError(f"bad store size {size!r}")
            h, w = size
        store = cls(h, w, num_frames)
        warn = store.load_warnings.append
        try:
            objects = list(data.get("objects") or [])
            masks = dict(data.get("masks") or {})
            hist = dict(data.get("history") or {})
            undo, redo = list(hist.get("undo") or []), list(hist.get("redo") or [])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed annotation store: {exc}") from None
        for i, od in enumerate(objects):
            try:
                info = ObjectInfo.from_json(od)
            except (TypeError, KeyError, AttributeError, ValueError) as exc:
                warn(f"Object entry {i} is damaged and was skipped ({_reason(exc)}).")
                continue
            if info.id in store._objects:
                warn(f"Object {info.id} is listed twice; the second entry was skipped.")
                continue
            store._objects[info.id] = info
            store._masks[info.id] = {}
        for key, frames in masks.items():
            oid = _int_key(key)
            if oid not in store._objects:
                warn(f"The masks of object {key}, which does not exist, were skipped.")
                continue
            if not isinstance(frames, Mapping):
                warn(f"The masks of object {oid} are damaged and were skipped.")
                continue
            for fkey, rd in frames.items():
                frame = _int_key(fkey)
                try:
                    if frame is None:
                        raise ValueError("its frame number is not a whole number")
                    store._check_frame(frame)
                    if h is None or w is None:
                        raise ValueError("the store has no frame size")
                    store._masks[oid][frame] = MaskRecord.from_json(rd, h, w)
                except (TypeError, KeyError, AttributeError, ValueError) as exc:
                    warn(
                        f"The mask of object {oid} on frame {fkey} is damaged and was skipped ({_reason(exc)})."
                    )
        store._undo = store._usable_history(undo, h, w, undo=True)
        store._redo = store._usable_history(redo, h, w, undo=False)
        top = max(store._objects, default=0) + 1
        nxt = data.get("next_object_id", top)
        store._next_id = max(nxt if isinstance(nxt, int) and not isinstance(nxt, bool) else top, top)
        for line in store.load_warnings:
            log.warning("annotation store: %s", line)
        return store

    def _usable_history(self, raw: list[Any], h: int | None, w: int | None, undo: bool) -> list[HistoryStep]:
        """The saved undo (or redo) steps that can be applied to the loaded masks, in order.

        Each step is replayed on a shadow of the object and frame ids, in the order undo (redo)
        would apply it; the first step that cannot be parsed or applied (an unknown object, a frame
        outside the video) ends the usable history: it and the steps beyond it are reported and
        dropped, since each depends on the ones before.
        """
        objects = set(self._objects)
        frames = {oid: set(fs) for oid, fs in self._masks.items()}
        order = range(len(raw) - 1, -1, -1) if undo else range(len(raw))
        kept: list[int] = []
        steps: dict[int, HistoryStep] = {}
        for i in order:
            try:
                step = _step_from_json(raw[i], h, w)
                ops = [_invert(op) for op in reversed(step.ops)] if undo else list(step.ops)
                for op in ops:
                    if isinstance(op, _MaskOp):
                        self._check_frame(op.frame)
                        if op.obj_id not in objects:
                            raise ValueError(f"it changes object {op.obj_id}, which does not exist then")
                        (frames[op.obj_id].discard if op.after is None else frames[op.obj_id].add)(op.frame)
                    elif op.after is None:
                        if op.obj_id not in objects or frames.get(op.obj_id):
                            raise ValueError(
                                f"it deletes object {op.obj_id}, which does not exist or has masks"
                            )
                        objects.discard(op.obj_id)
                        frames.pop(op.obj_id, None)
                    else:
                        objects.add(op.obj_id)
                        frames.setdefault(op.obj_id, set())
            except (TypeError, KeyError, AttributeError, ValueError) as exc:
                lost = (i + 1) if undo else (len(raw) - i)
                what = "undo" if undo else "redo"
                self.load_warnings.append(
                    f"{lost} {what} step(s) from the damaged one on were dropped ({_reason(exc)})."
                )
                break
            kept.append(i)
            steps[i] = step
        return [steps[i] for i in sorted(kept)]


def _int_key(key: Any) -> int | None:
    """A JSON object key as an int (frame or object id), None when it is not one."""
    try:
        return int(key) if isinstance(key, (str, int)) and str(key).lstrip("-").isdigit() else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    """An exception as a short clause for the user, without the library's wording of a KeyError."""
    if isinstance(exc, KeyError):
        return f"the field {str(exc.args[0])[:30]!r} is missing"
    text = str(exc).strip() or type(exc).__name__
    return text[:160]


def _invert(op: _Op) -> _Op:
    if isinstance(op, _MaskOp):
        return _MaskOp(op.frame, op.obj_id, op.after, op.before)
    return _ObjectOp(op.obj_id, op.after, op.before, op.index)
