"""Giving the tracker back many mask prompts without holding up the GUI or the user's next click.

Reopening a 10,000-frame project, importing annotations or undoing the delete of a big object hands
the tracker thousands of prompts. Each is a decode of the stored RLE plus a SAM2 pass, so doing them
all at once, as interactive jobs, made the next click wait minutes; decoding them on the GUI thread
froze the window for seconds. Instead the GUI thread only lists *what* to give (``SeedQueue.put``:
the stored record, not its pixels), and one background job on the model thread (``run_seeds``)
decodes and applies them, frames nearest the shown one first, yielding every few milliseconds so a
click, a tracked frame or an accept slots in between two seeds.

A prompt the user gives on a (frame, object) whose seed is still queued replaces it: the GUI thread
``discard``s the seed before it queues the prompt, so a late seed never overwrites the user's edit.
Frames about to be tracked take their seeds first (``take_frames``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.workers.engine_state import EngineState
from litlora_desktop.workers.outcomes import Prompt

Seed = tuple[int, int, Any]  # frame, object id, a MaskRecord (decoded on the model thread) or a Prompt

CHUNK_SECONDS = 0.02  # the model thread yields (lets a click in) after this much seeding


class SeedQueue:
    """Prompts waiting for the tracker, by frame; the latest one put for a (frame, object) wins.

    Thread-safe: the GUI thread puts, discards and recentres; the model thread takes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_frame: dict[int, dict[int, Any]] = {}
        self._order: list[int] = []  # frames, nearest the centre last (popped first)
        self._center = 0
        self._stale = False

    def put(self, seeds: Iterable[Seed], center: int | None = None) -> int:
        """Queue seeds (replacing queued ones of the same frame and object); returns how many."""
        n = 0
        with self._lock:
            for f, oid, what in seeds:
                self._by_frame.setdefault(int(f), {})[int(oid)] = what
                n += 1
            if center is not None:
                self._center = int(center)
            self._stale = True
        return n

    def recenter(self, frame: int) -> None:
        """The user is now at ``frame``: what is near it goes first (sorted lazily, by the taker)."""
        with self._lock:
            if frame != self._center:
                self._center = int(frame)
                self._stale = bool(self._by_frame)

    def discard(self, frame: int, oid: int) -> bool:
        """Forget the queued seed of (frame, object), if any (a newer prompt replaces it)."""
        with self._lock:
            objs = self._by_frame.get(frame)
            if objs is None or oid not in objs:
                return False
            del objs[oid]
            if not objs:
                del self._by_frame[frame]
            return True

    def pending(self, frame: int, oid: int) -> bool:
        with self._lock:
            return oid in self._by_frame.get(frame, ())

    def take(self) -> Seed | None:
        """Remove and return one seed of the queued frame nearest the centre (None when empty).

        One at a time: a seed taken is applied before the model thread yields, so a prompt the user
        gives meanwhile (queued after it) always lands after it and wins.
        """
        with self._lock:
            if self._stale:
                c = self._center
                self._order = sorted(self._by_frame, key=lambda f: (abs(f - c), f), reverse=True)
                self._stale = False
            while self._order:
                f = self._order[-1]
                objs = self._by_frame.get(f)
                if not objs:
                    self._order.pop()
                    self._by_frame.pop(f, None)
                    continue
                oid = next(iter(objs))
                what = objs.pop(oid)
                if not objs:
                    del self._by_frame[f]
                    self._order.pop()
                return f, oid, what
            return None

    def take_frames(self, frames: Iterable[int]) -> list[Seed]:
        """Remove and return the seeds of these frames (about to be tracked: they go first)."""
        out: list[Seed] = []
        with self._lock:
            for f in frames:
                objs = self._by_frame.pop(f, None)
                if objs:
                    out.extend((f, oid, what) for oid, what in objs.items())
        return out

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._by_frame.values())


def as_prompt(what: Any) -> Prompt:
    """On the model thread: the prompt a seed stands for (a stored record is decoded here)."""
    if isinstance(what, MaskRecord):
        return Prompt(mask=what.decode())
    return what


def apply_seeds(state: EngineState, seeds: list[Seed]) -> int:
    """On the model thread, at once (a few seeds a tracked frame needs first); returns how many."""
    for f, oid, what in seeds:
        state.sync_prompt(oid, f, as_prompt(what))
    return len(seeds)


def run_seeds(state: EngineState, queue: SeedQueue, job: Any, chunk_s: float | None = None) -> Iterator[int]:
    """A background generator job: apply queued seeds nearest-first, yielding (seeds done so far)
    after each ``chunk_s`` of work so interactive jobs run in between; ends when the queue is empty."""
    chunk_s = CHUNK_SECONDS if chunk_s is None else chunk_s
    done = 0
    t0 = time.perf_counter()
    while not job.cancelled:
        seed = queue.take()
        if seed is None:
            return done
        f, oid, what = seed
        state.sync_prompt(oid, f, as_prompt(what))
        done += 1
        if time.perf_counter() - t0 >= chunk_s:
            yield done
            t0 = time.perf_counter()
    return done
