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

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

import numpy as np

from litlora_desktop.core.annotations.history import HistoryStep, MaskOp, ObjectOp, Op, UndoStack, invert
from litlora_desktop.core.annotations.records import (
    MaskRecord,
    ObjectInfo,
    Provenance,
    ProvenanceLike,
    check_frame,
    default_color,
)
from litlora_desktop.core.annotations.snapshot import StoreSnapshot, parse_store_json

__all__ = ["AnnotationStore", "Listener", "StoreChange", "TimelineCode"]

log = logging.getLogger(__name__)


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
        self._objects: dict[int, ObjectInfo] = {}
        self._masks: dict[int, dict[int, MaskRecord]] = {}
        self._next_id = 1
        self._history = UndoStack(history_limit, history_mask_limit)
        self._listeners: list[Listener] = []
        self.revision = 0
        self._version = 0  # what the content is: an undo or redo returns to an earlier version
        self._versions = 0  # versions handed out so far
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
            self._commit("Add object", [ObjectOp(oid, None, info, index)])
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
                self._commit(label, [ObjectOp(obj_id, before, after, index)])
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
            ops: list[Op] = [MaskOp(f, obj_id, r, None) for f, r in sorted(self._masks[obj_id].items())]
            ops.append(ObjectOp(obj_id, info, None, index))
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
                self._commit("Edit mask", [MaskOp(frame, obj_id, before, record)])
            return record

    def delete_mask(self, frame: int, obj_id: int) -> bool:
        """Remove the mask; returns False when there was none."""
        with self._lock:
            self.object(obj_id)
            before = self._masks[obj_id].get(frame)
            if before is None:
                return False
            self._commit("Delete mask", [MaskOp(frame, obj_id, before, None)])
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

    def records_for_object(self, obj_id: int) -> dict[int, MaskRecord]:
        """{frame: record} of one object, a copy: one lock for a whole timeline lane, not one a frame."""
        with self._lock:
            self.object(obj_id)
            return dict(self._masks[obj_id])

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
        check_frame(frame, self.num_frames)

    def _check_size(self, rec: MaskRecord) -> None:
        if self.height is None or self.width is None:
            self.height, self.width = rec.height, rec.width
        elif (rec.height, rec.width) != (self.height, self.width):
            raise ValueError(
                f"mask is {rec.width}x{rec.height} but the video frames are {self.width}x{self.height}"
            )

    # ----------------------------------------------------------------- history
    @property
    def history_limit(self) -> int:
        """Undo steps kept; the oldest are dropped first."""
        return self._history.limit

    @history_limit.setter
    def history_limit(self, value: int) -> None:
        self._history.limit = value

    @property
    def history_mask_limit(self) -> int:
        """Operations (mostly masks) all undo steps together hold; the oldest steps are dropped first."""
        return self._history.mask_limit

    @history_mask_limit.setter
    def history_mask_limit(self, value: int) -> None:
        self._history.mask_limit = value

    @contextlib.contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Make every change inside the ``with`` block one undo step (nested groups merge)."""
        with self._lock:
            self._history.open_group(label)
        try:
            yield
        finally:
            with self._lock:
                self._history.close_group()

    @property
    def content_version(self) -> int:
        """Names the content: each edit makes a new version, an undo or redo returns to the version
        the content had then. Unlike ``revision`` it tells "back where it was saved" (the title's
        ``*``) from "changed since"."""
        return self._version

    def relabel_group(self, label: str) -> None:
        """Rename the step the open group becomes, e.g. with how many frames a propagation tracked,
        which is known only when it ends (no-op when no group is open)."""
        with self._lock:
            self._history.relabel_group(label)

    @property
    def can_undo(self) -> bool:
        return bool(self._history.undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._history.redo)

    @property
    def undo_label(self) -> str | None:
        return self._history.undo[-1].label if self._history.undo else None

    @property
    def redo_label(self) -> str | None:
        return self._history.redo[-1].label if self._history.redo else None

    def undo(self) -> bool:
        """Revert the last step; False when there is nothing to undo."""
        with self._lock:
            self._history.check_no_open_group("undo")
            if not self._history.undo:
                return False
            step = self._history.undo.pop()
            inverse = [invert(op) for op in reversed(step.ops)]
            change = self._apply(inverse, "undo")
            self._history.redo.append(step)
            self._version = step.before
        self._notify(change)
        return True

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is nothing to redo."""
        with self._lock:
            self._history.check_no_open_group("redo")
            if not self._history.redo:
                return False
            step = self._history.redo.pop()
            change = self._apply(list(step.ops), "redo")
            self._history.undo.append(step)
            self._version = step.after
        self._notify(change)
        return True

    def clear_history(self) -> None:
        """Forget undo and redo (e.g. after a destructive import the user confirmed)."""
        with self._lock:
            self._history.undo.clear()
            self._history.redo.clear()

    def _commit(self, label: str, ops: list[Op]) -> None:
        with self._lock:
            change = self._apply(ops, "edit")
            self._versions += 1
            before, self._version = self._version, self._versions
            self._history.record(label, ops, before, self._version)
        self._notify(change)

    def _apply(self, ops: list[Op], reason: str) -> StoreChange:
        masks: list[tuple[int, int]] = []
        objects: list[int] = []
        for op in ops:
            if isinstance(op, MaskOp):
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

    def _apply_object(self, op: ObjectOp) -> None:
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
                undo=tuple(self._history.undo),
                redo=tuple(self._history.redo),
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
        snap, warnings = parse_store_json(data, num_frames)
        store = cls(snap.height, snap.width, num_frames)
        store._objects = {info.id: info for info in snap.objects}
        store._masks = snap.masks
        store._history.undo, store._history.redo = _versioned(list(snap.undo), list(snap.redo))
        store._version = len(store._history.undo)
        store._versions = store._version + len(store._history.redo)
        store._next_id = snap.next_object_id
        store.load_warnings = warnings
        for line in store.load_warnings:
            log.warning("annotation store: %s", line)
        return store


def _versioned(
    undo: list[HistoryStep], redo: list[HistoryStep]
) -> tuple[list[HistoryStep], list[HistoryStep]]:
    """Steps read from a file, numbered as the content versions they lead through: the oldest undo
    step from 0 to 1, ..., the next redo from len(undo) on (``redo[-1]`` is redone first)."""
    n = len(undo)
    undo = [replace(s, before=i, after=i + 1) for i, s in enumerate(undo)]
    redo = [replace(s, before=n + k, after=n + k + 1) for k, s in enumerate(reversed(redo))][::-1]
    return undo, redo
