"""The store's objects as the user edits them, which one is selected, and their masks as drawn.

Kept apart from the session because the selection has its own small rules: a new object is selected,
deleting or undoing away the selected object selects the first one left, an object an undo (or redo)
brings back is selected, as the user had it when deleting it, and an edit with nothing
selected makes (or picks) an object first (``ensure``). Object edits go through the store, so each is
an undo step; the tracker and the timeline follow from the store's change, not from here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore


class ObjectList(QObject):
    """Object edits and the selection over one video's store; see the module docstring."""

    selection_changed = Signal(int)  # object id, 0 for none
    overlay_changed = Signal()
    stats_changed = Signal()
    message = Signal(str)

    def __init__(self, before_edit: Callable[[], None], parent: QObject | None = None) -> None:
        """``before_edit()`` stops playback and propagation, so an edit lands in its own undo step."""
        super().__init__(parent)
        self._before_edit = before_edit
        self._store: AnnotationStore | None = None
        self.selected = 0
        self._known: set[int] = set()  # the store's objects as of its last change
        self._restored: list[int] = []  # objects an undo or redo brought back since the last settle

    def attach(self, store: AnnotationStore | None) -> None:
        """A new video: nothing is selected."""
        self._store = store
        self.selected = 0
        self._known = self._ids()
        self._restored = []

    def _ids(self) -> set[int]:
        return {o.id for o in self._store.objects} if self._store is not None else set()

    def add(self) -> int:
        """New object, selected; returns its id."""
        if self._store is None:
            return 0
        self._before_edit()
        info = self._store.add_object()
        self.select(info.id)
        self.message.emit(f"Added {info.name}: click on it (left = it, right = not it).")
        return info.id

    def select(self, oid: int) -> None:
        if self._store is None or oid == self.selected:
            return
        if oid and oid not in self._ids():
            return
        self.selected = oid
        self.selection_changed.emit(oid)
        self.overlay_changed.emit()
        self.stats_changed.emit()

    def select_index(self, index: int) -> None:
        if self._store is not None and 0 <= index < len(self._store.objects):
            self.select(self._store.objects[index].id)

    def ensure(self) -> int:
        """The object an edit applies to: the selected one, else the first, else a new one."""
        if self.selected:
            return self.selected
        objs = self._store.objects if self._store is not None else []
        if objs:
            self.select(objs[0].id)
            return self.selected
        return self.add()

    def rename(self, oid: int, name: str) -> None:
        if self._store is not None and name.strip():
            self._store.rename_object(oid, name.strip())

    def recolor(self, oid: int, color: tuple[int, int, int]) -> None:
        if self._store is not None:
            self._store.recolor_object(oid, tuple(int(c) for c in color))

    def set_hidden(self, oid: int, hidden: bool) -> None:
        if self._store is not None:
            self._store.update_object(oid, hidden=hidden)

    def delete(self, oid: int) -> None:
        if self._store is None or oid not in self._ids():
            return
        self._before_edit()
        name = self._store.object(oid).name
        self._store.delete_object(oid)
        if self.selected == oid:
            objs = self._store.objects
            self.selected = 0
            self.select(objs[0].id if objs else 0)
            self.selection_changed.emit(self.selected)
        self.message.emit(f"Deleted {name} (Ctrl+Z brings it back).")

    def visible_masks(self, frame: int) -> list[tuple[int, tuple[int, int, int], np.ndarray, bool]]:
        """[(object id, colour, mask, selected)] on ``frame``, hidden objects left out."""
        return [(oid, color, rec.decode(), sel) for oid, color, rec, sel in self.visible_records(frame)]

    def visible_records(self, frame: int) -> list[tuple[int, tuple[int, int, int], MaskRecord, bool]]:
        """As :meth:`visible_masks` but with the records, not decoded: the canvas decodes them off the
        GUI thread (a 4K mask takes tens of milliseconds), and a record is immutable, so sharing it
        with that thread is safe."""
        if self._store is None:
            return []
        recs = self._store.records_for_frame(frame)
        out = []
        for info in self._store.objects:
            rec = recs.get(info.id)
            if rec is None or info.hidden:
                continue
            out.append((info.id, info.color, rec, info.id == self.selected))
        return out

    def note_change(self, objects: tuple[int, ...], history: bool) -> None:
        """The store's objects changed (called by the store's listener, at once): remember those an undo
        or redo (``history``) brought back, for the next ``settle``."""
        if not objects:
            return
        ids = self._ids()
        if history:
            self._restored += [oid for oid in objects if oid in ids and oid not in self._known]
        self._known = ids

    def settle(self) -> None:
        """The object list changed (an edit, an undo): an object an undo or redo brought back is
        selected, as the user had it when deleting it; else a selected object that is gone is
        replaced."""
        ids = self._ids()
        back = [oid for oid in self._restored if oid in ids]
        self._restored = []
        if back:
            self.select(back[-1])
            return
        if self._store is not None and self.selected not in ids:
            objs = self._store.objects
            self.selected = objs[0].id if objs else 0
            self.selection_changed.emit(self.selected)
