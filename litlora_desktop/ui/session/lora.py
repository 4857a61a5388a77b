"""LIT-LoRA in the session: the switch, training after corrections, candidates, accepts, adapters.

Kept apart from the session because it is a feature with its own state and its own model jobs: which
objects train now (and which must train again when they finish), the candidates the adapters offered
per (frame, object) and which of them disagree with SAM2, the sample/adapter/saved counts, and the
adapters a project folder holds. The session tells it where the user is (frame, object) and what the
store and tracker did; it answers through its signals, which the session passes on to the widgets.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from litlora_desktop.core.annotations.records import MaskRecord, adapter_provenance
from litlora_desktop.core.annotations.store import AnnotationStore, StoreChange
from litlora_desktop.ui.session.prompts import TrackerPrompts
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.ui.words import adapters_not_loaded, count, unlearned
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.kept_candidates import kept, packed_candidates
from litlora_desktop.workers.later_candidates import run_later_candidates, shown_frame_candidates
from litlora_desktop.workers.outcomes import Prompt, TrackOutcome

ADAPTER_META = "litlora.json"  # a folder holding this has adapters to load into a new tracker
TAKEN_KEPT = 256  # accepts whose candidates an undo can bring back (the newest are kept)


class LoraController(QObject):
    """LIT-LoRA's GUI-thread state for one video; see the module docstring."""

    lora_changed = Signal(bool)
    training_changed = Signal(object)  # TrainProgress (finished=True at the end)
    candidates_changed = Signal()
    counts_changed = Signal()  # ``counts`` changed (the status bar shows them)
    cells_changed = Signal(object)  # set of (frame, object) whose timeline cell may have changed
    timeline_changed = Signal()
    overlay_changed = Signal()
    history_changed = Signal()  # an accept is in the store
    message = Signal(str)
    problem = Signal(str, str)  # title, text: worth a dialog

    def __init__(
        self,
        engine: Engine,
        settings: AppSettings,
        prompts: TrackerPrompts,
        has_model: Callable[[], bool],
        current_frame: Callable[[], int],
        before_edit: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        """``current_frame()``: the shown frame, where candidates are asked for when training ends;
        ``before_edit()`` stops playback and propagation, so an accept lands in its own undo step."""
        super().__init__(parent)
        self._engine = engine
        self._settings = settings
        self._prompts = prompts
        self._has_model = has_model
        self._current_frame = current_frame
        self._before_edit = before_edit
        self._store: AnnotationStore | None = None
        self.enabled = False
        self.candidates: dict[tuple[int, int], list[Any]] = {}
        self._disagree: set[tuple[int, int]] = set()
        self.visible = True  # candidates shown (Esc hides them)
        self.counts: dict[int, tuple[int, int, int]] = {}  # object -> (samples, adapters, saved)
        self.training: dict[int, Any] = {}  # object -> latest TrainProgress
        self._jobs: dict[int, Any] = {}
        self._retrain: set[int] = set()
        # SAM2's record an accept replaced -> the candidates it offered: undoing the accept brings
        # that record back, and with it the candidates the user chose from
        self._taken: OrderedDict[MaskRecord, list[Any]] = OrderedDict()
        self._later_job: Any = None  # the idle job computing candidates a propagation left for later
        self._shown = 0  # the frame whose waiting candidates were asked for last (show_frame)
        self._shown_job: Any = None
        self._unlisten: Callable[[], None] | None = None
        self._video = 0  # counts videos: a load that answers after the next video opened is dropped
        self._unloaded: set[Path] = set()  # adapter folders this video's load failed on (set aside at save)

    def attach(self, store: AnnotationStore | None) -> None:
        """A new video: training stops, candidates and counts are dropped, LIT-LoRA is off."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._store = store
        self._taken.clear()
        if store is not None:
            self._unlisten = store.add_listener(self._on_store_change)
        for job in self._jobs.values():
            job.cancel()
        self._jobs.clear()
        self._retrain.clear()
        self.candidates.clear()
        self._disagree.clear()
        self._drop_later()
        self.training.clear()
        self.counts = {}
        self._video += 1
        self._unloaded.clear()
        if self.enabled:
            self.enabled = False
            self._engine.call(self._engine.state.set_lora_enabled, False, label="lora switch")
            self.lora_changed.emit(False)

    # ------------------------------------------------------------------ switching
    def unavailable_reason(self) -> str:
        """Why LIT_LoRA cannot be switched on now ("" when it can)."""
        if not self._has_model():
            return "LIT_LoRA needs a SAM2 model: load one in Settings ▸ Model."
        if self._store is None or not self._store.objects:
            return "LIT_LoRA needs an object: add one (N) and click on it first."
        return ""

    def set_enabled(self, on: bool) -> bool:
        """Switch LIT_LoRA; returns the new state (stays off, with a message, when unavailable)."""
        if on:
            why = self.unavailable_reason()
            if why:
                self.message.emit(why)
                self.enabled = False
                self.lora_changed.emit(False)
                return False
        self.enabled = bool(on)
        if not self.enabled:
            self._drop_later()
        self._engine.call(self._engine.state.set_lora_enabled, self.enabled, label="lora switch")
        self.apply_auto_settings()
        self.lora_changed.emit(self.enabled)
        self.message.emit(
            "LIT_LoRA on: every correction now trains a small adapter in the background; its candidates "
            "appear on the next frames."
            if self.enabled
            else "LIT_LoRA off: corrections no longer train adapters (existing adapters are kept)."
        )
        return self.enabled

    def apply_auto_settings(self) -> None:
        """Send the auto-apply setting and threshold to the engine."""
        st = self._engine.state
        on = bool(self._settings.get("lora/auto_apply"))
        thr = float(self._settings.get("lora/auto_threshold"))

        def apply() -> None:
            if st.lora_settings is not None:
                st.lora_settings.auto_apply = on
                st.lora_settings.auto_apply_threshold = thr

        self._engine.call(apply, label="auto-apply settings")

    # ------------------------------------------------------------------ training
    def not_learned(self, frame: int, why: str, loading: bool) -> None:
        """Say that a correction taught nothing, rather than let the status bar's promise stand.
        ``why``: an ``UNLEARNED_*`` reason; ``loading``: the project's prompts are still going to SAM2."""
        # short: the status bar's permanent fields leave it about 80 characters
        self.message.emit(f"Nothing learned from frame {frame}: {unlearned(why, loading)}.")

    def after_correction(self, oid: int) -> None:
        """A correction of ``oid`` is in: train (again, once the running training ends)."""
        if not self.enabled:
            return
        if oid in self._jobs:
            self._retrain.add(oid)
        else:
            self._start_training(oid)
        self.refresh_counts()

    def _start_training(self, oid: int) -> None:
        self._jobs[oid] = self._engine.call(
            self._engine.state.train,
            oid,
            pass_job=True,
            background=True,
            kind="train",
            label=f"train object {oid}",
            on_yield=lambda p: self._on_progress(oid, p),
            on_done=lambda: self._training_done(oid),
        )

    def _on_progress(self, oid: int, progress: Any) -> None:
        self.training[oid] = progress
        self.training_changed.emit(progress)

    def _training_done(self, oid: int) -> None:
        self._jobs.pop(oid, None)
        if oid in self._retrain:
            self._retrain.discard(oid)
            self._start_training(oid)
            return
        last = self.training.get(oid)
        if last is not None and not getattr(last, "finished", True):
            last.finished = True
            self.training_changed.emit(last)
        self.refresh_counts()
        self.refresh_candidates(self._current_frame())

    @property
    def training_active(self) -> bool:
        return bool(self._jobs)

    def refresh_counts(self) -> None:
        def done(counts: dict[int, tuple[int, int, int]]) -> None:
            self.counts = counts
            self.counts_changed.emit()

        self._engine.call(self._engine.state.lora_counts, label="lora counts", on_result=done)

    # ------------------------------------------------------------------ candidates
    def refresh_candidates(self, frame: int, object_ids: list[int] | None = None) -> None:
        """Ask the adapters for candidates on a frame SAM2 tracked (after training ends, say), for
        every object or those of ``object_ids``."""
        if self._store is None or not self.enabled:
            return
        st = self._engine.state
        for oid in [o.id for o in self._store.objects] if object_ids is None else object_ids:
            rec = self._store.get_record(frame, oid)
            if rec is None or rec.provenance.kind != "sam2":
                continue
            st.later.discard(frame, oid)

            self._engine.call(
                packed_candidates,
                st,
                oid,
                frame,
                label="candidates",
                on_result=lambda c, oid=oid: self._got_candidates([(frame, oid, c)]),
            )

    def show_frame(self, frame: int) -> None:
        """The user looks at ``frame`` (not a propagation passing it): its cells whose candidates a
        propagation left for later are computed now, ahead of the idle job. One request at a time,
        reading the shown frame when it runs: scrubbing past thirty frames asks for one or two."""
        self._shown = frame
        if self._shown_job is not None or not self.enabled:
            return
        asked: list[int] = []
        job: Any = None

        def frame_of() -> int:  # on the model thread: an int read under the GIL, the latest frame shown
            asked.append(self._shown)
            return asked[0]

        def done() -> None:  # after the result, or an error
            if self._shown_job is not job:  # cancelled (LIT_LoRA off, another video)
                return
            self._shown_job = None
            if asked and asked[0] != self._shown:  # the user moved on while it ran
                self.show_frame(self._shown)

        job = self._shown_job = self._engine.call(
            shown_frame_candidates,
            self._engine.state,
            frame_of,
            kind="shown-candidates",
            label="candidates of the shown frame",
            on_result=self._got_candidates,
            on_done=done,
        )

    def _run_later(self) -> None:
        """Compute the candidates left for later, one cell per step, when the model thread is idle."""
        if self._later_job is not None or not self.enabled:
            return
        job: Any = None

        def done() -> None:
            if self._later_job is job:  # not cancelled meanwhile (LIT_LoRA off, another video)
                self._later_job = None
                if len(self._engine.state.later):
                    self._run_later()  # cells queued after the job found the queue empty

        job = self._later_job = self._engine.call(
            run_later_candidates,
            self._engine.state,
            pass_job=True,
            idle=True,
            kind="later-candidates",
            label="candidates left for later",
            on_yield=self._got_candidates,
            on_done=done,
        )

    def _drop_later(self) -> None:
        """Stop computing candidates left for later (the engine forgets the cells when LIT_LoRA goes
        off or the video changes)."""
        if self._later_job is not None:
            self._later_job.cancel()
            self._later_job = None
        if self._shown_job is not None:
            self._shown_job.cancel()
            self._shown_job = None

    def _is_sam2(self, frame: int, oid: int) -> bool:
        """Whether the cell holds SAM2's tracked mask (the only kind candidates are offered for)."""
        rec = self._store.get_record(frame, oid) if self._store is not None else None
        return rec is not None and rec.provenance.kind == "sam2"

    def _got_candidates(self, found: list[tuple[int, int, list[Any]]]) -> None:
        """Candidates (frame, object, list) computed off the frame's tracking: shown if the cell
        still holds SAM2's mask and LIT_LoRA is still on."""
        found = [(f, oid, c) for f, oid, c in found if self.enabled and self._is_sam2(f, oid)]
        if not found:
            return
        for f, oid, cands in found:
            self.set_candidates(f, oid, cands)
        self.timeline_changed.emit()
        self.candidates_changed.emit()
        self.overlay_changed.emit()

    def set_candidates(self, frame: int, oid: int, cands: list[Any]) -> None:
        """The adapters' candidates for a tracked cell (none: the cell has none now)."""
        key = (frame, oid)
        self.cells_changed.emit({key})
        self._disagree.discard(key)
        if not cands:
            self.candidates.pop(key, None)
            return
        self.candidates[key] = packed = kept(cands)  # packed on the model thread; kept() is a no-op then
        top = packed[0]
        iou = float(top.iou_with_sam)
        if (
            top.confidence >= 0.5
            and not math.isnan(iou)
            and iou < float(self._settings.get("track/disagree_iou"))
        ):
            self._disagree.add(key)

    def clear_candidates(self, frame: int, oid: int) -> None:
        """The cell was corrected or SAM2's mask kept: its candidates go."""
        self._engine.state.later.discard(frame, oid)
        self.cells_changed.emit({(frame, oid)})
        if self.candidates.pop((frame, oid), None) is not None:
            self.candidates_changed.emit()
        self._disagree.discard((frame, oid))

    def disagrees(self, frame: int, oid: int) -> bool:
        """Whether a confident candidate disagrees with SAM2's mask there (the frame is suspect)."""
        return (frame, oid) in self._disagree

    def disagree_frames(self, oid: int) -> set[int]:
        """Every frame of ``oid`` where a confident candidate disagrees with SAM2 (a whole lane)."""
        return {f for f, o in self._disagree if o == oid}

    def after_tracked(self, outcome: TrackOutcome) -> None:
        """A tracked frame arrived: cells left for later start the idle job, cells whose candidates
        were computed as their captures were evicted are shown."""
        if any(u.candidates_later for u in outcome.updates.values()):
            self._run_later()
        self._got_candidates(outcome.late)
        if any(u.candidates or u.applied is not None for u in outcome.updates.values()):
            self.candidates_changed.emit()
            self.refresh_counts()

    def shown_candidates(self, frame: int, oid: int) -> list[Any]:
        """Candidates of a cell (empty while hidden)."""
        if not self.visible:
            return []
        return self.candidates.get((frame, oid), [])

    def write_candidate(self, frame: int, oid: int, cand: Any) -> None:
        """Store a candidate as the cell's mask (accepted, or auto-applied by the tracker)."""
        rec = self._store.set_mask(
            frame, oid, cand.mask, adapter_provenance(cand.adapter), score=float(cand.object_score)
        )
        self._prompts.remember(frame, oid, rec, Prompt(candidate=cand))
        self.candidates.pop((frame, oid), None)
        self._disagree.discard((frame, oid))

    def accept(self, frame: int, oid: int, index: int) -> bool:
        """Make the cell's candidate ``index`` (0 = best) its mask, as one undo step, and SAM2's memory."""
        cands = self.shown_candidates(frame, oid)
        if not 0 <= index < len(cands):
            self.message.emit(f"No candidate {index + 1} on this frame.")
            return False
        self._before_edit()
        cand = cands[index]
        before = self._store.get_record(frame, oid)
        if before is not None:
            self._taken[before] = list(cands)
            self._taken.move_to_end(before)
            while len(self._taken) > TAKEN_KEPT:
                self._taken.popitem(last=False)
        with self._store.group(f"Accept candidate {cand.adapter}"):
            self.write_candidate(frame, oid, cand)
        self._prompts.discard(frame, oid)
        self._engine.call(
            self._engine.state.prompt,
            oid,
            frame,
            Prompt(candidate=cand),
            False,
            kind="prompt",
            label="accept",
        )
        self.refresh_counts()
        self.candidates_changed.emit()
        self.history_changed.emit()
        self.message.emit(f"Accepted candidate {cand.adapter} ({cand.confidence:.0%}): a correction saved.")
        return True

    def _on_store_change(self, change: StoreChange) -> None:
        """After an undo or redo the candidates and counts show the store as it is now: an undone
        accept offers its candidates again, a redone one takes them away, and the "Corrections
        saved" count follows at once (the tracker is told first: its listener came before this)."""
        if change.reason not in ("undo", "redo") or self._store is None:
            return
        shown = False
        if self._taken or self.candidates:  # else no cell can change here: no lookups at all
            for frame, oid in change.masks:
                rec = self._store.get_record(frame, oid)
                if rec is not None and rec.provenance.kind == "sam2" and rec in self._taken:
                    self.set_candidates(frame, oid, self._taken[rec])
                    shown = True
                elif (frame, oid) in self.candidates and (rec is None or rec.provenance.kind != "sam2"):
                    self.clear_candidates(frame, oid)
                    shown = True
        if shown:
            self.candidates_changed.emit()
            self.timeline_changed.emit()
            self.overlay_changed.emit()
        if self.counts:
            self.refresh_counts()

    def keep_sam(self, frame: int, oid: int) -> None:
        """SAM2's mask of the cell is right: drop its candidates."""
        if (frame, oid) in self.candidates:
            self.clear_candidates(frame, oid)
            self.timeline_changed.emit()
            self.overlay_changed.emit()
            self.message.emit("Kept SAM2's mask.")

    def toggle_visible(self) -> None:
        self.visible = not self.visible
        self.candidates_changed.emit()
        self.overlay_changed.emit()

    def forget_object(self, oid: int) -> None:
        """The object left the store (deleted, or undone): its training and candidates go."""
        job = self._jobs.pop(oid, None)
        if job is not None:
            job.cancel()
        self._retrain.discard(oid)
        self.training.pop(oid, None)
        self._engine.state.later.drop_object(oid)
        for key in [k for k in self.candidates if k[1] == oid]:
            del self.candidates[key]
        self._disagree = {k for k in self._disagree if k[1] != oid}

    # ------------------------------------------------------------------ adapters on disk
    def load_adapters(self, folder: Path | None) -> None:
        """Load a project's saved adapters and samples into the new tracker (when ``folder`` has
        any); LIT_LoRA comes back on when it was on at the save."""
        if folder is None or not (folder / ADAPTER_META).is_file():
            return
        st, video = self._engine.state, self._video

        def load() -> Any:
            return st.lora.restore(folder) if st.lora is not None else None

        self._engine.call(
            load,
            label="load adapters",
            on_result=lambda r: self._adapters_loaded(r, video),
            on_error=lambda exc: self._adapters_failed(exc, folder, video),
        )

    def _adapters_failed(self, exc: BaseException, folder: Path, video: int) -> None:
        if video != self._video:
            return  # another video since: not its adapters
        self._unloaded.add(folder)
        self.problem.emit("Cannot load the LIT-LoRA adapters", adapters_not_loaded(str(exc)))

    def _adapters_loaded(self, report: Any, video: int) -> None:
        if report is None or video != self._video:
            return
        n = sum(len(v) for v in report.adapters.values())
        k = sum(report.samples.values())
        if report.enabled and not self.enabled and not self.unavailable_reason():
            self.set_enabled(True)
        if n or k:
            on = " LIT_LoRA is on, as it was." if report.enabled and self.enabled else ""
            self.message.emit(
                f"Loaded {count(n, 'LIT-LoRA adapter')} and {count(k, 'sample')} from the project.{on}"
            )
        self.refresh_counts()

    def save_adapters(self, folder: Path) -> bool:
        """On the model thread: ``EngineState.save_adapters``; adapters this video could not load
        from ``folder`` are moved aside there first (they are someone's work)."""
        aside = folder in self._unloaded
        saved = self._engine.state.save_adapters(folder, aside=aside)
        if saved:
            self._unloaded.discard(folder)
        return saved
