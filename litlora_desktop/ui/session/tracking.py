"""Tracking over frames: a step's frames, a propagation job, and writing what the tracker returns.

Every frame is tracked on the model thread; what comes back is written into the store here, as an
undo step (``history.py``: an automatic one for a step or playback, the user's own for a propagation):
SAM2's mask, unless the cell holds a prompt or a mask from the user, an accept or an import (that mask
stays, always) or the tracker auto-applied a LoRA candidate; the adapters' candidates go to the LoRA
side. A propagation tracks every prompted object or only one (the others' masks are not touched).

Kept apart from the session because it is the one place that turns tracker output into store records,
and the propagation job's lifetime (started, stopped, its one undo step) is its own. The session
decides when to track and moves the view; this class only reports what was tracked (``tracked``,
``reached``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.ui.session.history import UndoHistory
from litlora_desktop.ui.session.lora import LoraController
from litlora_desktop.ui.session.overlap import resolve_overlap
from litlora_desktop.ui.session.prompts import TrackerPrompts
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.outcomes import ObjectUpdate, TrackOutcome
from litlora_desktop.workers.seeding import run_seeds


class Tracking(QObject):
    """Tracks frames of one video's store; see the module docstring."""

    tracked = Signal(int)  # a frame's tracking result is in the store
    reached = Signal(int)  # the propagation has tracked this frame (the view follows it)
    propagating_changed = Signal(bool)
    finished = Signal()  # a propagation ended (done, stopped or failed)

    def __init__(
        self,
        engine: Engine,
        settings: AppSettings,
        history: UndoHistory,
        prompts: TrackerPrompts,
        lora: LoraController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._settings = settings
        self._history = history
        self._prompts = prompts
        self._lora = lora
        self._store: AnnotationStore | None = None
        self._job: Any = None
        self.frame_ms = 0.0  # how long the last tracked frame took on the model thread

    def attach(self, store: AnnotationStore | None) -> None:
        self._store = store

    def track(self, start: int, target: int) -> None:
        """Track the frames after ``start`` up to ``target`` (either way), in order, one job each."""
        direction = 1 if target > start else -1
        frames = range(start + direction, target + direction, direction)
        self._prompts.seed_first([start, *frames])
        for f in frames:
            self._engine.call(self._engine.state.track, f, direction < 0, kind="track", on_result=self.apply)

    # ------------------------------------------------------------------ propagation
    @property
    def propagating(self) -> bool:
        return self._job is not None

    def propagate(self, start: int, end: int, reverse: bool, object_id: int | None = None) -> None:
        """Track every prompted object (or only ``object_id``: the others' masks are not touched) from
        ``start`` to ``end`` in the background, as one undo step of its own ("Propagate 40 frames",
        "Propagate cat back 40 frames")."""
        name = ""
        if object_id is not None and self._store is not None:
            name = self._store.object(object_id).name
        self._history.open_propagation(reverse, name)
        state, seeds = self._engine.state, self._prompts.queue
        only = None if object_id is None else [object_id]

        def run(job: Any) -> Any:
            yield from run_seeds(state, seeds, job)  # every prompt is in before tracking over it
            yield from state.propagate(start, end, reverse, job, only)

        self._job = self._engine.call(
            run,
            pass_job=True,
            background=True,
            kind="propagate",
            label="propagate",
            on_yield=self._on_propagated,
            on_done=self._done,
        )
        self.propagating_changed.emit(True)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._done()

    def _on_propagated(self, outcome: TrackOutcome | int) -> None:
        if not isinstance(outcome, TrackOutcome):
            return  # a step of the seeding that comes first
        self.apply(outcome)
        self.reached.emit(outcome.frame_index)

    def _done(self) -> None:
        if self._job is None:
            return
        self._job = None
        self._history.close_propagation()
        self.propagating_changed.emit(False)
        self.finished.emit()

    # ------------------------------------------------------------------ results
    def apply(self, outcome: TrackOutcome | None) -> None:
        """Write a tracked frame into the store (objects deleted meanwhile are skipped)."""
        if outcome is None or self._store is None:
            return
        f = outcome.frame_index
        self.frame_ms = outcome.ms
        known = {o.id for o in self._store.objects}
        with self._history.frame_group(f):
            for oid, upd in outcome.updates.items():
                if oid in known:
                    self._write(f, oid, upd)
        self._lora.after_tracked(outcome)
        self.tracked.emit(f)

    def _write(self, f: int, oid: int, upd: ObjectUpdate) -> None:
        om = upd.mask
        held = self._store.get_record(f, oid)
        if held is not None and held.provenance.kind != "sam2":
            # The user's mask (drawn, accepted, imported) is never replaced by tracking, whatever the
            # tracker thought: a stroke can land before a queued frame's result comes back.
            return
        if upd.applied is not None:
            self._lora.write_candidate(f, oid, upd.applied)
            return
        if om.kind == "reused" or self._prompts.pending(f, oid):
            return  # a prompt (or one still on its way to the tracker) keeps its stored mask
        mask = resolve_overlap(self._settings, self._store, f, oid, om.mask, yield_to_all=False)
        self._store.set_mask(f, oid, mask, "sam2", score=float(om.score))
        self._lora.set_candidates(f, oid, upd.candidates)
