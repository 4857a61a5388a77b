"""The annotation store as data: an immutable snapshot, its on-disk JSON, and reading that back.

The autosaver serializes a snapshot on its own thread without holding the store's lock; records
are immutable, so taking one only copies dicts. Reading a saved store never lets a damaged part
stop the rest: a mask, object or undo step that does not fit is skipped and described in a
warning for the user, and as it is not loaded it is never saved again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litlora_desktop.core.annotations.history import (
    HistoryStep,
    MaskOp,
    invert,
    step_from_json,
    step_to_json,
)
from litlora_desktop.core.annotations.records import MaskRecord, ObjectInfo, check_frame

STORE_FORMAT = "litlora-annotations"
STORE_FORMAT_VERSION = 1


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
                "undo": [step_to_json(s) for s in self.undo],
                "redo": [step_to_json(s) for s in self.redo],
            },
        }


def parse_store_json(data: Any, num_frames: int | None = None) -> tuple[StoreSnapshot, list[str]]:
    """What :meth:`StoreSnapshot.to_json` wrote, and a warning for each damaged part that was skipped.

    Raises ValueError when the whole store is unusable (not a store, no size). A damaged part
    (a mask whose RLE does not fit the frame, a frame outside the video, masks of an unknown
    object, an undo step that cannot be applied) is skipped and described in the warnings.
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
    warnings: list[str] = []
    warn = warnings.append
    try:
        object_entries = list(data.get("objects") or [])
        mask_entries = dict(data.get("masks") or {})
        hist = dict(data.get("history") or {})
        undo, redo = list(hist.get("undo") or []), list(hist.get("redo") or [])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed annotation store: {exc}") from None
    objects: dict[int, ObjectInfo] = {}
    masks: dict[int, dict[int, MaskRecord]] = {}
    for i, od in enumerate(object_entries):
        try:
            info = ObjectInfo.from_json(od)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            warn(f"Object entry {i} is damaged and was skipped ({_reason(exc)}).")
            continue
        if info.id in objects:
            warn(f"Object {info.id} is listed twice; the second entry was skipped.")
            continue
        objects[info.id] = info
        masks[info.id] = {}
    for key, frames in mask_entries.items():
        oid = _int_key(key)
        if oid not in objects:
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
                check_frame(frame, num_frames)
                if h is None or w is None:
                    raise ValueError("the store has no frame size")
                masks[oid][frame] = MaskRecord.from_json(rd, h, w)
            except (TypeError, KeyError, AttributeError, ValueError) as exc:
                warn(f"The mask of object {oid} on frame {fkey} is damaged and was skipped ({_reason(exc)}).")
    undo_steps = _usable_history(undo, objects, masks, num_frames, h, w, True, warnings)
    redo_steps = _usable_history(redo, objects, masks, num_frames, h, w, False, warnings)
    top = max(objects, default=0) + 1
    nxt = data.get("next_object_id", top)
    next_id = max(nxt if isinstance(nxt, int) and not isinstance(nxt, bool) else top, top)
    snap = StoreSnapshot(
        0, h, w, next_id, tuple(objects.values()), masks, tuple(undo_steps), tuple(redo_steps)
    )
    return snap, warnings


def _usable_history(
    raw: list[Any],
    objects: Mapping[int, ObjectInfo],
    masks: Mapping[int, Mapping[int, MaskRecord]],
    num_frames: int | None,
    h: int | None,
    w: int | None,
    undo: bool,
    warnings: list[str],
) -> list[HistoryStep]:
    """The saved undo (or redo) steps that can be applied to the loaded masks, in order.

    Each step is replayed on a shadow of the object and frame ids, in the order undo (redo)
    would apply it; the first step that cannot be parsed or applied (an unknown object, a frame
    outside the video) ends the usable history: it and the steps beyond it are reported and
    dropped, since each depends on the ones before.
    """
    live = set(objects)
    frames = {oid: set(fs) for oid, fs in masks.items()}
    order = range(len(raw) - 1, -1, -1) if undo else range(len(raw))
    kept: list[int] = []
    steps: dict[int, HistoryStep] = {}
    for i in order:
        try:
            step = step_from_json(raw[i], h, w)
            ops = [invert(op) for op in reversed(step.ops)] if undo else list(step.ops)
            for op in ops:
                if isinstance(op, MaskOp):
                    check_frame(op.frame, num_frames)
                    if op.obj_id not in live:
                        raise ValueError(f"it changes object {op.obj_id}, which does not exist then")
                    (frames[op.obj_id].discard if op.after is None else frames[op.obj_id].add)(op.frame)
                elif op.after is None:
                    if op.obj_id not in live or frames.get(op.obj_id):
                        raise ValueError(f"it deletes object {op.obj_id}, which does not exist or has masks")
                    live.discard(op.obj_id)
                    frames.pop(op.obj_id, None)
                else:
                    live.add(op.obj_id)
                    frames.setdefault(op.obj_id, set())
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            lost = (i + 1) if undo else (len(raw) - i)
            what = "undo" if undo else "redo"
            warnings.append(f"{lost} {what} step(s) from the damaged one on were dropped ({_reason(exc)}).")
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
