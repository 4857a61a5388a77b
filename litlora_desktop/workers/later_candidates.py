"""LIT-LoRA candidates of frames a propagation passed, computed when nobody waits for the model.

With LIT_LoRA on, every adapter of every object proposes a candidate on every tracked frame: one
decoder pass each. Done inside a propagation, that doubled its time (120 frames x 2 objects: 15 s off,
31 s on, tiny model). Yet only the shown frame's candidates are looked at, and the others matter for
the timeline's marks (frames where a confident candidate disagrees with SAM2). So a propagation
leaves them out: the model thread notes the cells that still need them in ``LaterCells`` (the
engine's ``later``), and they are computed

* for the frame the user looks at, at once (``shown_frame_candidates``, one request in
  flight however fast the user scrubs);
* for a cell whose decoder capture the tracker's bounded store is about to drop, right then (else
  it would never get any: the store holds a few dozen cells at 1024 px);
* for the rest, by one *idle* job (``run_later_candidates``), least confident SAM2 mask first (the
  likeliest suspects), whenever no click, step, propagation or training waits.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from litlora_desktop.workers.kept_candidates import packed_candidates

Cell = tuple[int, int]  # frame, object id


class LaterCells:
    """(frame, object) cells whose candidates are still to be computed, by SAM2's score.

    Thread-safe: the model thread puts and takes; the GUI thread discards cells the user changed.
    A heap with lazy deletion (compacted when stale entries outnumber live ones) gives the most
    suspect cell in O(log n); a frame's cells come from a dict by frame.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_frame: dict[int, dict[int, float]] = {}  # frame -> object -> SAM2 score
        self._heap: list[tuple[float, int, int]] = []
        self._n = 0
        self._evicted: list[Any] = []  # model thread only: captures of waiting cells, being evicted

    def __len__(self) -> int:
        return self._n

    def put(self, cells: Iterable[tuple[int, int, float]]) -> None:
        """Queue cells ``(frame, object, SAM2 score)``; a cell queued again takes its new score."""
        with self._lock:
            for f, oid, score in cells:
                s = float(score)
                s = -math.inf if math.isnan(s) else s  # NaN never compares equal: it would never leave
                row = self._by_frame.setdefault(int(f), {})
                self._n += int(oid) not in row
                row[int(oid)] = s
                heapq.heappush(self._heap, (s, int(f), int(oid)))
            if len(self._heap) > 2 * self._n + 64:
                self._heap = [(s, f, o) for f, row in self._by_frame.items() for o, s in row.items()]
                heapq.heapify(self._heap)

    def _pop(self, frame: int, oid: int) -> float | None:
        row = self._by_frame.get(frame)
        if row is None or oid not in row:
            return None
        score = row.pop(oid)
        self._n -= 1
        if not row:
            del self._by_frame[frame]
        return score

    def discard(self, frame: int, oid: int) -> bool:
        """The cell's mask changed (corrected, accepted, re-tracked with candidates): not needed.
        Returns whether it was waiting."""
        with self._lock:
            return self._pop(frame, oid) is not None

    def drop_object(self, oid: int) -> None:
        """The object is gone: none of its cells wait any more."""
        with self._lock:
            for f in [f for f, row in self._by_frame.items() if oid in row]:
                self._pop(f, oid)

    def take_frame(self, frame: int) -> list[int]:
        """Remove and return the objects of ``frame`` still waiting (the frame is being shown)."""
        with self._lock:
            row = self._by_frame.pop(frame, {})
            self._n -= len(row)
            return sorted(row)

    def take_most_suspect(self) -> Cell | None:
        """Remove and return the waiting cell whose SAM2 mask is least confident (None: none left)."""
        with self._lock:
            while self._heap:
                score, f, oid = heapq.heappop(self._heap)
                if self._by_frame.get(f, {}).get(oid) == score:
                    self._pop(f, oid)
                    return f, oid
            return None

    def clear(self) -> None:
        with self._lock:
            self._by_frame.clear()
            self._heap.clear()
            self._n = 0
            self._evicted = []

    def evicting(self, cap: Any) -> None:
        """The tracker's capture store drops ``cap`` (a ``DecoderCapture``; model thread): if its
        cell waits, keep the capture until the frame being tracked ends, to compute its candidates
        then (not here, in the middle of the tracker's pass)."""
        if self.discard(cap.frame_index, cap.object_id):
            self._evicted.append(cap)

    def take_evicted(self) -> list[Any]:
        """The captures ``evicting`` kept, handed out once."""
        caps, self._evicted = self._evicted, []
        return caps


def evicted_candidates(state: Any, skip: Iterable[Cell] = ()) -> list[tuple[int, int, list[Any]]]:
    """Candidates (frame, object, list) of the waiting cells whose captures were just evicted; not of
    ``skip`` (cells tracked anew meanwhile: an old capture's candidates would describe an old mask)."""
    caps = state.later.take_evicted()
    if state.lora is None or not state.lora_enabled:
        return []
    gone = set(skip)
    return [
        (c.frame_index, c.object_id, packed_candidates(state, c.object_id, c.frame_index, c))
        for c in caps
        if (c.frame_index, c.object_id) not in gone
    ]


def shown_frame_candidates(state: Any, frame_of: Callable[[], int]) -> list[tuple[int, int, list[Any]]]:
    """Candidates of the waiting cells of the frame the user looks at *now* (``frame_of`` is read
    when the job runs, so a scrub that passed twenty frames costs one frame's work)."""
    frame = frame_of()
    out = evicted_candidates(state)
    if state.lora is None or not state.lora_enabled or state.tracker is None:
        return out
    for oid in state.later.take_frame(frame):
        if state.tracker.capture(oid, frame) is not None:
            out.append((frame, oid, packed_candidates(state, oid, frame)))
    return out


def run_later_candidates(state: Any, job: Any) -> Iterator[list[tuple[int, int, list[Any]]]]:
    """An idle generator job on the engine's state (an ``EngineState``: it holds the cells). Per
    step, the candidates of one waiting cell as [(frame, object, list)], and of any cell whose
    capture was evicted meanwhile. A cell whose capture is gone (re-tracked,
    its object removed) is skipped: nothing is known about it to propose from."""
    while not job.cancelled:
        out = evicted_candidates(state)
        cell = state.later.take_most_suspect()
        if cell is not None:
            f, oid = cell
            if state.lora is not None and state.lora_enabled and state.tracker.capture(oid, f) is not None:
                out.append((f, oid, packed_candidates(state, oid, f)))
        elif not out:
            return
        if out:
            yield out
