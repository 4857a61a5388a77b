"""LIT-LoRA candidates of frames a propagation passed, computed when nobody waits for the model.

With LIT_LoRA on, every adapter of every object proposes a candidate on every tracked frame: one
decoder pass each. Done inside a propagation, that doubled its time (120 frames x 2 objects: 15 s off,
31 s on, tiny model). Yet only the shown frame's candidates are looked at, and the others matter for
the timeline's marks (frames where a confident candidate disagrees with SAM2). So a propagation
leaves them out, the GUI thread lists the cells that still need them (``LaterCells.put``), and one
*idle* job on the model thread (``run_later_candidates``) computes them, least confident SAM2 mask
first (the likeliest suspects), whenever no click, step, propagation or training waits. The shown
frame does not wait for that: the session asks for its cells at once (``take_frame``).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from litlora_desktop.workers.engine import EngineState

Cell = tuple[int, int]  # frame, object id


class LaterCells:
    """(frame, object) cells whose candidates are still to be computed, by SAM2's score.

    Thread-safe: the GUI thread puts, discards and takes a shown frame's cells; the model thread
    takes the most suspect one. A heap with lazy deletion keeps both O(log n) on long videos.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_frame: dict[int, dict[int, float]] = {}  # frame -> object -> SAM2 score
        self._heap: list[tuple[float, int, int]] = []
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def put(self, cells: Iterable[tuple[int, int, float]]) -> None:
        """Queue cells ``(frame, object, SAM2 score)``; a cell queued again takes its new score."""
        with self._lock:
            for f, oid, score in cells:
                row = self._by_frame.setdefault(int(f), {})
                self._n += int(oid) not in row
                row[int(oid)] = float(score)
                heapq.heappush(self._heap, (float(score), int(f), int(oid)))

    def _pop(self, frame: int, oid: int) -> float | None:
        row = self._by_frame.get(frame)
        if row is None or oid not in row:
            return None
        score = row.pop(oid)
        self._n -= 1
        if not row:
            del self._by_frame[frame]
        return score

    def discard(self, frame: int, oid: int) -> None:
        """The cell's mask changed (corrected, accepted, re-tracked with candidates): not needed."""
        with self._lock:
            self._pop(frame, oid)

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


def run_later_candidates(
    state: EngineState, cells: LaterCells, job: Any
) -> Iterator[tuple[int, int, list[Any]]]:
    """An idle generator job: the candidates of one waiting cell per step, as (frame, object, list)."""
    while not job.cancelled:
        cell = cells.take_most_suspect()
        if cell is None:
            return
        f, oid = cell
        lora = state.lora
        cands = lora.candidates(oid, f) if lora is not None and state.lora_enabled else []
        yield f, oid, cands
