"""What the tracker on the model thread has been told, so that it can be told again.

The store is the truth; the tracker (on the model thread, replaced with every new video or model) only
holds prompts. This class keeps the bookkeeping that joins the two: which objects the tracker has,
which (frame, object) cells hold a prompt, the click prompt each stored record was made from, and the
prompts still on their way to the tracker.

What a fresh tracker is given (a new video or model, a reopened project, an import): every object of
the store, and one prompt per frame whose record came from the user, from an accepted or auto-applied
LoRA candidate, or from an import. Frames SAM2 tracked are not prompts and are not re-seeded. A record
made by clicks is given its clicks back; any other is given as a *mask prompt*: the stored mask is
exactly what the user ended with. After an undo or redo the same rule makes the tracker match the
store again: a few cells at once, many through the background seeding.

Nothing here grows with the project on the GUI thread: it lists which records to give (no decoding),
and a background job on the model thread decodes and applies them, nearest the shown frame first, in
short steps a click slots in between (``workers/seeding.py``).

Kept apart from the session because none of it is on screen: it is the tracker's side of the store,
and every edit, undo and tracked frame has to keep it right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore, StoreChange
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.outcomes import Prompt
from litlora_desktop.workers.seeding import Seed, SeedQueue, apply_seeds, run_seeds

SYNC_AT_ONCE = 16  # an undo or redo touching more prompts than this re-seeds them in the background


class TrackerPrompts:
    """The tracker's objects and prompts as the GUI thread knows them, and the seeding of new trackers."""

    def __init__(
        self,
        engine: Engine,
        has_model: Callable[[], bool],
        center: Callable[[], int],
        on_removed: Callable[[int], None],
    ) -> None:
        """``center()``: the shown frame (seeds near it go first); ``on_removed(object)``: the tracker
        loses an object that left the store (it is called before the tracker is told)."""
        self._engine = engine
        self._has_model = has_model
        self._center = center
        self._on_removed = on_removed
        self._store: AnnotationStore | None = None
        self._unlisten: Callable[[], None] | None = None
        self._by_record: dict[MaskRecord, Prompt] = {}  # the click (or candidate) prompt of a record
        self._prompted: set[tuple[int, int]] = set()  # (frame, object) cells the tracker has a prompt on
        self._objects: set[int] = set()  # objects the tracker has
        self.seeded: dict[int, list[int]] = {}  # object -> frames given to the tracker as mask prompts
        self._queue = SeedQueue()  # prompts the model thread has yet to give the tracker
        self._job: Any = None

    # ------------------------------------------------------------------ following the store
    def attach(self, store: AnnotationStore) -> None:
        """A new video: what was told to the old tracker about the old store is forgotten, and the
        tracker follows this store's changes from now on."""
        if self._unlisten is not None:
            self._unlisten()
        self._store = store
        self._unlisten = store.add_listener(self._on_store_change)
        self._by_record.clear()
        self._prompted.clear()
        self._objects.clear()

    def _on_store_change(self, change: StoreChange) -> None:
        """Objects that came or went (an edit, an undo) come or go in the tracker; after an undo or
        redo the tracker's prompts are made to match the store."""
        store = self._store
        if change.objects:
            live = {o.id for o in store.objects}
            for oid in change.objects:
                if oid in live and oid not in self._objects:
                    self._add_object(oid)
                elif oid not in live and oid in self._objects:
                    self._objects.discard(oid)
                    self._on_removed(oid)
                    self._engine.call(self._engine.state.remove_object, oid)
        if change.reason in ("undo", "redo") and self._has_model():
            self._sync_after_history(change)

    def _add_object(self, oid: int) -> None:
        self._objects.add(oid)
        self._engine.call(self._engine.state.add_object, oid)

    @property
    def queue(self) -> SeedQueue:
        """The seeds still on their way (a propagation gives them to the tracker before tracking)."""
        return self._queue

    # ------------------------------------------------------------------ prompts given by the user
    def remember(self, frame: int, oid: int, rec: MaskRecord, prompt: Prompt) -> None:
        """The tracker was (or is being) given ``prompt`` for the stored record ``rec``."""
        self._by_record[rec] = prompt
        self._prompted.add((frame, oid))

    def forget(self, frame: int, oid: int) -> None:
        """The cell's prompt was cleared."""
        self._prompted.discard((frame, oid))

    def click_prompt(self, rec: MaskRecord | None) -> Prompt:
        """The clicks a stored record was made from (an empty prompt for any other record)."""
        p = self._by_record.get(rec) if rec is not None else None
        return p if p is not None and p.kind == "clicks" else Prompt()

    # ------------------------------------------------------------------ seeding
    def seed_tracker(self) -> None:
        """A fresh tracker (new video or model): give it every object and the store's prompt frames."""
        self._objects.clear()
        self.seeded = {}
        self._reset_queue()
        if self._store is None or not self._has_model():
            return
        masks = self._store.snapshot().masks
        seeds: list[Seed] = []
        for info in self._store.objects:
            self._add_object(info.id)
            seeds += self._seeds_for(info.id, masks.get(info.id, {}))
        self._queue_seeds(seeds)

    def seed_objects(self, oids: Iterable[int]) -> None:
        """New objects with masks (an import): their non-tracked frames become the tracker's prompts."""
        if self._store is None or not self._has_model():
            return
        masks = self._store.snapshot().masks
        self._queue_seeds([s for oid in oids for s in self._seeds_for(oid, masks.get(oid, {}))])

    def _seeds_for(self, oid: int, records: dict[int, Any]) -> list[Seed]:
        """The prompts (frame, object, record) the store's records of one object stand for; no decoding
        here: the model thread decodes a record when it gives it to the tracker."""
        out: list[Seed] = []
        for f in sorted(records):
            rec = records[f]
            if rec is None or rec.provenance.kind == "sam2":
                continue
            p = self._by_record.get(rec)
            self._prompted.add((f, oid))
            self.seeded.setdefault(oid, []).append(f)
            out.append((f, oid, p if p is not None else rec))
        return out

    def _reset_queue(self) -> None:
        """A new tracker (video or model): seeds queued for the old one are dropped."""
        self._engine.cancel("seed")
        self._job = None
        self._queue = SeedQueue()

    def _queue_seeds(self, seeds: list[Seed]) -> None:
        """Hand seeds to the background seeding job (started when none runs), nearest the shown frame
        first."""
        if not seeds or not self._has_model():
            return
        self._queue.put(seeds, center=self._center())
        self._start_seeding()

    def _start_seeding(self) -> None:
        if self._job is not None or not len(self._queue):
            return
        queue, holder = self._queue, []
        self._job = self._engine.call(
            run_seeds,
            self._engine.state,
            queue,
            pass_job=True,
            background=True,
            kind="seed",
            label="seed prompts",
            on_done=lambda: self._seeding_done(queue, holder[0]),
        )
        holder.append(self._job)

    def _seeding_done(self, queue: SeedQueue, job: Any) -> None:
        if queue is not self._queue or job is not self._job:
            return  # a new tracker since: its own job runs
        self._job = None
        if not job.cancelled:
            self._start_seeding()  # seeds put while the job was ending

    def resume(self) -> None:
        """A new video or model did not come: the tracker that stays gets the rest of its seeds."""
        job = self._job
        if job is not None and job.cancelled:
            self._job = None
        self._start_seeding()

    def seed_first(self, frames: list[int]) -> None:
        """Frames about to be tracked: their queued seeds go to the tracker before the tracking."""
        if not len(self._queue):
            return
        urgent = self._queue.take_frames(frames)
        if urgent:
            self._engine.call(apply_seeds, self._engine.state, urgent, kind="sync", label="seed prompts")

    def recenter(self, frame: int) -> None:
        """The user moved to ``frame``: its neighbours' seeds go first."""
        self._queue.recenter(frame)

    def discard(self, frame: int, oid: int) -> None:
        """A prompt of the user replaces the cell's queued seed (a late seed must not overwrite it)."""
        self._queue.discard(frame, oid)

    def pending(self, frame: int, oid: int) -> bool:
        """Whether the cell's seed is still on its way (its stored mask stays until it is in)."""
        return self._queue.pending(frame, oid)

    # ------------------------------------------------------------------ undo / redo
    def _sync_after_history(self, change: StoreChange) -> None:
        """After an undo or redo, make the tracker's prompts match the store: the records are listed
        here (no decoding); a few are given at once, many go to the background seeding."""
        live = {o.id for o in self._store.objects}
        seeds: list[Seed] = []
        for f, oid in change.masks:
            if oid not in live:
                continue
            rec = self._store.get_record(f, oid)
            if rec is None or rec.provenance.kind == "sam2":
                if (f, oid) not in self._prompted:
                    continue
                self._prompted.discard((f, oid))
                seeds.append((f, oid, Prompt()))
            else:
                self._prompted.add((f, oid))
                seeds.append((f, oid, self._by_record.get(rec, rec)))
        if len(seeds) <= SYNC_AT_ONCE:
            for f, oid, _ in seeds:
                self._queue.discard(f, oid)
            if seeds:
                self._engine.call(apply_seeds, self._engine.state, seeds, kind="sync", label="sync prompts")
        else:
            self._queue_seeds(seeds)
