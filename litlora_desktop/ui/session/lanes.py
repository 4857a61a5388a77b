"""The timeline's rows: one lane per object, its per-frame status code and its suspect frames.

Kept apart from the session because it is a cache with its own rule: lanes are updated cell by cell
from store changes (``invalidate``), so tracking a long video costs O(1) per frame here, not O(frames);
only a change of threshold or of the object list rebuilds them. It reads the store and asks one
question of the LoRA side (does a candidate disagree with SAM2 on this cell?), and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore, StoreChange, TimelineCode
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.workers.outcomes import sigmoid

_LANE_CODE = {"user": TimelineCode.USER, "lora": TimelineCode.LORA, "imported": TimelineCode.IMPORTED}


@dataclass
class Lane:
    """One object's row on the timeline."""

    object_id: int
    name: str
    color: tuple[int, int, int]
    codes: np.ndarray  # TimelineCode per frame
    suspect: np.ndarray  # bool per frame
    hidden: bool


class LaneModel:
    """Lanes and suspect frames of one video's store; see the module docstring."""

    def __init__(
        self,
        settings: AppSettings,
        disagrees: Callable[[int, int], bool],
        disagree_frames: Callable[[int], Collection[int]] | None = None,
    ) -> None:
        """``disagrees(frame, object)``: whether a confident LoRA candidate disagrees with SAM2 there;
        ``disagree_frames(object)``: all such frames of an object at once (a whole lane asks once
        instead of once per frame)."""
        self._settings = settings
        self._disagrees = disagrees
        self._disagree_frames = disagree_frames
        self._store: AnnotationStore | None = None
        self._unlisten: Callable[[], None] | None = None
        self._num_frames = 0
        self._data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cells: set[tuple[int, int]] = set()
        self._full = True

    def attach(self, store: AnnotationStore, num_frames: int) -> None:
        """A new video: every lane is rebuilt on the next ``lanes()``; the store's changes mark cells."""
        if self._unlisten is not None:
            self._unlisten()
        self._store = store
        self._unlisten = store.add_listener(self._on_store_change)
        self._num_frames = int(num_frames)
        self.invalidate()

    def _on_store_change(self, change: StoreChange) -> None:
        self.invalidate(set(change.masks))
        if change.objects:
            self.invalidate()  # an object came or went (or was renamed, recoloured, hidden)

    def invalidate(self, cells: set[tuple[int, int]] | None = None) -> None:
        """Mark timeline cells (frame, object) for recomputation; None = everything (thresholds changed)."""
        if cells is None:
            self._full = True
        else:
            self._cells |= cells

    def _threshold(self) -> float:
        return float(self._settings.get("track/suspect_threshold"))

    def lanes(self) -> list[Lane]:
        """One lane per object, brought up to date with the cells marked since the last call."""
        if self._store is None:
            return []
        thr = self._threshold()
        objs = self._store.objects
        if self._full or set(self._data) != {o.id for o in objs}:
            self._data = {o.id: self._lane_arrays(o.id, thr) for o in objs}
            self._full = False
            self._cells.clear()
        for f, oid in self._cells:
            data = self._data.get(oid)
            if data is not None and 0 <= f < len(data[0]):
                data[0][f], data[1][f] = self._lane_cell(f, oid, thr)
        self._cells.clear()
        return [Lane(o.id, o.name, o.color, *self._data[o.id], o.hidden) for o in objs]

    def _lane_arrays(self, oid: int, thr: float) -> tuple[np.ndarray, np.ndarray]:
        """A whole lane from one snapshot of the object's records, in array operations: opening a
        10,000-frame project or undoing the delete of a 10,000-mask object builds lanes on the GUI
        thread (a loop per record took ~10 ms per object there)."""
        n = self._num_frames
        codes = np.zeros(n, np.uint8)
        suspect = np.zeros(n, bool)
        items = [(f, rec) for f, rec in self._store.records_for_object(oid).items() if f < n]
        if not items:
            return codes, suspect
        k = len(items)
        frames = np.fromiter((f for f, _ in items), np.int64, k)
        kinds = [rec.provenance.kind for _, rec in items]
        sam = np.fromiter((kind == "sam2" for kind in kinds), bool, k)
        empty = np.fromiter((rec.area == 0 for _, rec in items), bool, k)
        other = np.fromiter((_LANE_CODE.get(kind, TimelineCode.EMPTY) for kind in kinds), np.uint8, k)
        codes[frames] = np.where(sam, np.where(empty, TimelineCode.EMPTY, TimelineCode.SAM2), other)
        scores = np.fromiter((np.nan if rec.score is None else rec.score for _, rec in items), float, k)
        with np.errstate(invalid="ignore"):  # no score: NaN, never below the threshold
            low = 1.0 / (1.0 + np.exp(-np.clip(scores, -60.0, 60.0))) < thr  # outcomes.sigmoid
        if self._disagree_frames is not None:
            marked = np.fromiter(self._disagree_frames(oid), np.int64)
        else:
            marked = np.array([f for f, _ in items if self._disagrees(f, oid)], np.int64)
        suspect[frames] = sam & (low | np.isin(frames, marked))
        return codes, suspect

    def _lane_cell(self, f: int, oid: int, thr: float) -> tuple[int, bool]:
        return self._cell_of(f, oid, self._store.get_record(f, oid), thr)

    def _cell_of(self, f: int, oid: int, rec: MaskRecord | None, thr: float) -> tuple[int, bool]:
        """(timeline code, suspect) of the cell that holds ``rec``."""
        if rec is None:
            return int(TimelineCode.NONE), False
        kind = rec.provenance.kind
        if kind == "sam2":
            code = TimelineCode.EMPTY if rec.area == 0 else TimelineCode.SAM2
        else:  # an empty correction is still a correction
            code = _LANE_CODE.get(kind, TimelineCode.EMPTY)
        return int(code), self._suspect_record(f, oid, rec, thr)

    def _suspect(self, frame: int, oid: int, thr: float) -> bool:
        rec = self._store.get_record(frame, oid) if self._store is not None else None
        return self._suspect_record(frame, oid, rec, thr)

    def _suspect_record(self, frame: int, oid: int, rec: MaskRecord | None, thr: float) -> bool:
        if rec is None or rec.provenance.kind != "sam2":
            return False
        if rec.score is not None and sigmoid(rec.score) < thr:
            return True
        return self._disagrees(frame, oid)

    def is_suspect_frame(self, frame: int) -> bool:
        """Whether a visible object's tracked mask on ``frame`` looks wrong."""
        if self._store is None:
            return False
        thr = self._threshold()
        return any(self._suspect(frame, o.id, thr) for o in self._store.objects if not o.hidden)

    def suspect_frames(self) -> np.ndarray | None:
        """The frames where a visible object's mask looks wrong, in order; None when none is visible."""
        lanes = [lane for lane in self.lanes() if not lane.hidden]
        if not lanes:
            return None
        return np.flatnonzero(np.logical_or.reduce([lane.suspect for lane in lanes]))
