"""Undo history of the annotation store: every edit as primitive operations that can be inverted.

An undo step is a label for the menu ("Undo Propagate") and the operations it made: a mask set or
removed on one frame, an object added, changed or deleted. Each operation keeps the value before
and after, so undo applies the inverses in reverse order and redo applies the step again. Steps
are saved with the project (short keys: one "propagate" step can hold thousands of operations),
so the history survives a save and reopen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litlora_desktop.core.annotations.records import MaskRecord, ObjectInfo


@dataclass(frozen=True, slots=True)
class MaskOp:
    """The mask of one object on one frame changed from ``before`` to ``after`` (None: no mask)."""

    frame: int
    obj_id: int
    before: MaskRecord | None
    after: MaskRecord | None


@dataclass(frozen=True, slots=True)
class ObjectOp:
    """An object was added (``before`` None), changed, or deleted (``after`` None)."""

    obj_id: int
    before: ObjectInfo | None
    after: ObjectInfo | None
    index: int  # position in the object order, so an undone delete comes back where it was


Op = MaskOp | ObjectOp


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One undo step: a label for the menu ("Undo Propagate") and the primitive operations."""

    label: str
    ops: tuple[Op, ...]
    # the store's content before and after this step (``AnnotationStore.content_version``); in memory
    # only: a step read from a file gets fresh ones when the store is loaded
    before: int = field(default=0, compare=False)
    after: int = field(default=0, compare=False)


def invert(op: Op) -> Op:
    """The operation that undoes ``op``."""
    if isinstance(op, MaskOp):
        return MaskOp(op.frame, op.obj_id, op.after, op.before)
    return ObjectOp(op.obj_id, op.after, op.before, op.index)


def _rec_json(r: MaskRecord | None) -> Any:
    return None if r is None else r.to_json()


def step_to_json(step: HistoryStep) -> dict[str, Any]:
    """The on-disk form of a step (``t`` m/o, ``f`` frame, ``o`` object, ``b`` before, ``a`` after)."""
    ops = []
    for op in step.ops:
        if isinstance(op, MaskOp):
            ops.append(
                {"t": "m", "f": op.frame, "o": op.obj_id, "b": _rec_json(op.before), "a": _rec_json(op.after)}
            )
        else:
            b = op.before.to_json() if op.before else None
            a = op.after.to_json() if op.after else None
            ops.append({"t": "o", "o": op.obj_id, "b": b, "a": a, "i": op.index})
    return {"label": step.label, "ops": ops}


def step_from_json(d: Any, h: int | None, w: int | None) -> HistoryStep:
    """Inverse of :func:`step_to_json` for masks of ``h`` x ``w``; ValueError (or KeyError, TypeError)
    when the step is damaged."""

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
    ops: list[Op] = []
    for o in d["ops"]:
        if o.get("t") == "m":
            ops.append(MaskOp(int(o["f"]), int(o["o"]), rec(o["b"]), rec(o["a"])))
        elif o.get("t") == "o":
            ops.append(ObjectOp(int(o["o"]), obj(o["b"]), obj(o["a"]), int(o["i"])))
        else:
            raise ValueError(f"unknown history operation {o!r:.80}")
    return HistoryStep(str(d.get("label", "")), tuple(ops))


class UndoStack:
    """The undo and redo steps of one store, bounded, and the change group being collected.

    Bounded by steps and by the operations all steps hold together (one "propagate" step can hold
    thousands), dropping the oldest first. Not locked itself: the store calls it under its lock.
    """

    def __init__(self, limit: int, mask_limit: int) -> None:
        self.limit = limit
        self.mask_limit = mask_limit
        self.undo: list[HistoryStep] = []
        self.redo: list[HistoryStep] = []
        self._group_ops: list[Op] | None = None
        self._group_label = ""
        self._group_versions: tuple[int, int] | None = None  # content before the group, after its last op
        self._group_depth = 0

    def open_group(self, label: str) -> None:
        """Start collecting changes into one step (a nested group joins the outer one)."""
        if self._group_depth == 0:
            self._group_ops, self._group_label = [], label
        self._group_depth += 1

    def close_group(self) -> None:
        """End a group; the outermost one becomes a step when anything changed inside it."""
        self._group_depth -= 1
        if self._group_depth == 0:
            ops, self._group_ops = self._group_ops or [], None
            versions, self._group_versions = self._group_versions or (0, 0), None
            if ops:  # changes that happened before an exception are kept and undoable
                self._push(HistoryStep(self._group_label, tuple(ops), *versions))

    def relabel_group(self, label: str) -> None:
        """Name the open group's step anew (what it did is known only at its end)."""
        if self._group_depth:
            self._group_label = label

    def check_no_open_group(self, what: str) -> None:
        """RuntimeError while a group is open: undo or redo would tear it apart."""
        if self._group_depth:
            raise RuntimeError(f"cannot {what} inside an open change group")

    def record(self, label: str, ops: list[Op], before: int = 0, after: int = 0) -> None:
        """A new edit (taking the content from version ``before`` to ``after``): it ends what could be
        redone, and joins the open group or is a step itself."""
        self.redo.clear()
        if self._group_ops is not None:
            self._group_ops.extend(ops)
            first = self._group_versions[0] if self._group_versions is not None else before
            self._group_versions = (first, after)
        else:
            self._push(HistoryStep(label, tuple(ops), before, after))

    def _push(self, step: HistoryStep) -> None:
        self.undo.append(step)
        if len(self.undo) > self.limit:
            del self.undo[: len(self.undo) - self.limit]
        held = sum(len(s.ops) for s in self.undo)
        while len(self.undo) > 1 and held > self.mask_limit:
            held -= len(self.undo.pop(0).ops)
