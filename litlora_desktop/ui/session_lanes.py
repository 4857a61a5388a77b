"""The timeline half of the annotation session: per-object lanes and suspect frames.

A mixin of ``AnnotationSession`` (it reads the host's ``store``, ``settings``, ``disagree`` and
``current``). Lanes are updated cell by cell from store changes, so tracking a long video costs O(1)
per frame here, not O(frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litlora_desktop.core.annotations.store import TimelineCode
from litlora_desktop.workers.engine import sigmoid

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


class LanesMixin:
    """Lanes and suspect frames; see the module docstring."""

    def _init_lanes(self) -> None:
        self._lane_data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lane_cells: set[tuple[int, int]] = set()
        self._lane_full = True

    def invalidate_lanes(self, cells: set[tuple[int, int]] | None = None) -> None:
        """Mark timeline cells (frame, object) for recomputation; None = everything (thresholds changed)."""
        if cells is None:
            self._lane_full = True
        else:
            self._lane_cells |= cells

    def lanes(self) -> list[Lane]:
        """One lane per object. Updated cell by cell from store changes, so a propagation over a long
        video costs O(1) per frame here, not O(frames)."""
        if self.store is None:
            return []
        thr = float(self.settings.get("track/suspect_threshold"))
        objs = self.store.objects
        if self._lane_full or set(self._lane_data) != {o.id for o in objs}:
            self._lane_data = {o.id: self._lane_arrays(o.id, thr) for o in objs}
            self._lane_full = False
            self._lane_cells.clear()
        for f, oid in self._lane_cells:
            data = self._lane_data.get(oid)
            if data is not None and 0 <= f < len(data[0]):
                data[0][f], data[1][f] = self._lane_cell(f, oid, thr)
        self._lane_cells.clear()
        return [Lane(o.id, o.name, o.color, *self._lane_data[o.id], o.hidden) for o in objs]

    def _lane_arrays(self, oid: int, thr: float) -> tuple[np.ndarray, np.ndarray]:
        codes = np.zeros(self.num_frames, np.uint8)
        suspect = np.zeros(self.num_frames, bool)
        for f in self.store.frames_for_object(oid):
            if f < self.num_frames:
                codes[f], suspect[f] = self._lane_cell(f, oid, thr)
        return codes, suspect

    def _lane_cell(self, f: int, oid: int, thr: float) -> tuple[int, bool]:
        rec = self.store.get_record(f, oid)
        if rec is None:
            return int(TimelineCode.NONE), False
        kind = rec.provenance.kind
        if kind == "sam2":
            code = TimelineCode.EMPTY if rec.area == 0 else TimelineCode.SAM2
        else:  # an empty correction is still a correction
            code = _LANE_CODE.get(kind, TimelineCode.EMPTY)
        return int(code), self._suspect(f, oid, thr)

    def _suspect(self, frame: int, oid: int, thr: float) -> bool:
        rec = self.store.get_record(frame, oid) if self.store is not None else None
        if rec is None or rec.provenance.kind != "sam2":
            return False
        if rec.score is not None and sigmoid(rec.score) < thr:
            return True
        return (frame, oid) in self.disagree

    def is_suspect_frame(self, frame: int) -> bool:
        if self.store is None:
            return False
        thr = float(self.settings.get("track/suspect_threshold"))
        return any(self._suspect(frame, o.id, thr) for o in self.store.objects if not o.hidden)

    def next_suspect(self, direction: int = 1) -> int | None:
        """Go to the next (or previous) frame where a mask looks wrong; None when there is none."""
        lanes = [lane for lane in self.lanes() if not lane.hidden]
        if not lanes:
            return None
        any_suspect = np.logical_or.reduce([lane.suspect for lane in lanes])
        idx = np.flatnonzero(any_suspect)
        cand = idx[idx > self.current] if direction > 0 else idx[idx < self.current][::-1]
        if len(cand) == 0:
            self.message.emit("No suspect frame " + ("after" if direction > 0 else "before") + " this one.")
            return None
        self.go_to(int(cand[0]))
        return int(cand[0])
