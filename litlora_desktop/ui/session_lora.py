"""The LIT-LoRA half of the annotation session: training after corrections, candidates, accepts.

A mixin of ``AnnotationSession`` (it shares its store, engine and signals) kept in its own file so
each half stays readable.
"""

from __future__ import annotations

import math
import re
from typing import Any

from litlora_desktop.workers.engine import Prompt, TrackOutcome

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def adapter_provenance(adapter: str) -> str:
    """``lora:<adapter>`` with the adapter label made safe for the store's provenance format."""
    return "lora:" + (_SAFE.sub("_", adapter)[:64] or "adapter")


class LoraMixin:
    """Needs the host's ``store``, ``engine``, ``settings``, ``current``, ``selected`` and signals."""

    def _init_lora(self) -> None:
        self.lora_on = False
        self.candidates: dict[tuple[int, int], list[Any]] = {}
        self.disagree: set[tuple[int, int]] = set()
        self.candidates_visible = True
        self.lora_counts: dict[int, tuple[int, int, int]] = {}
        self.training: dict[int, Any] = {}  # object -> latest TrainProgress
        self._train_jobs: dict[int, Any] = {}
        self._retrain: set[int] = set()
        self.auto_applied = 0

    def _reset_lora(self) -> None:
        for job in self._train_jobs.values():
            job.cancel()
        self._train_jobs.clear()
        self._retrain.clear()
        self.candidates.clear()
        self.disagree.clear()
        self.training.clear()
        self.lora_counts = {}
        if self.lora_on:
            self.lora_on = False
            self.lora_changed.emit(False)

    # ------------------------------------------------------------------ switching
    def lora_unavailable_reason(self) -> str:
        """Why LIT_LoRA cannot be switched on now ("" when it can)."""
        if not self.model_ready:
            return "LIT_LoRA needs a SAM2 model: load one in Settings ▸ Model."
        if self.store is None or not self.store.objects:
            return "LIT_LoRA needs an object: add one (N) and click on it first."
        return ""

    def set_lora(self, on: bool) -> bool:
        """Switch LIT_LoRA; returns the new state (stays off, with a message, when unavailable)."""
        if on:
            why = self.lora_unavailable_reason()
            if why:
                self.message.emit(why)
                if self.lora_on:
                    self.lora_on = False
                self.lora_changed.emit(False)
                return False
        self.lora_on = bool(on)
        self.engine.call(setattr, self.engine.state, "lora_enabled", self.lora_on, label="lora switch")
        self.apply_auto_settings()
        self.lora_changed.emit(self.lora_on)
        self.message.emit(
            "LIT_LoRA on: every correction now trains a small adapter in the background; its candidates "
            "appear on the next frames."
            if self.lora_on
            else "LIT_LoRA off: corrections no longer train adapters (existing adapters are kept)."
        )
        return self.lora_on

    def apply_auto_settings(self) -> None:
        """Send the auto-apply setting and threshold to the engine."""
        st = self.engine.state
        on = bool(self.settings.get("lora/auto_apply"))
        thr = float(self.settings.get("lora/auto_threshold"))

        def apply() -> None:
            if st.lora_settings is not None:
                st.lora_settings.auto_apply = on
                st.lora_settings.auto_apply_threshold = thr

        self.engine.call(apply, label="auto-apply settings")

    # ------------------------------------------------------------------ training
    def _after_correction(self, oid: int, frame: int) -> None:
        if not self.lora_on:
            return
        if oid in self._train_jobs:
            self._retrain.add(oid)
        else:
            self._start_training(oid)
        self.refresh_counts()

    def _start_training(self, oid: int) -> None:
        self._train_jobs[oid] = self.engine.call(
            self.engine.state.train,
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
        self._train_jobs.pop(oid, None)
        if oid in self._retrain:
            self._retrain.discard(oid)
            self._start_training(oid)
            return
        last = self.training.get(oid)
        if last is not None and not getattr(last, "finished", True):
            last.finished = True
            self.training_changed.emit(last)
        self.refresh_counts()
        self.refresh_candidates()

    @property
    def training_active(self) -> bool:
        return bool(self._train_jobs)

    def refresh_counts(self) -> None:
        def done(counts: dict[int, tuple[int, int, int]]) -> None:
            self.lora_counts = counts
            self.stats_changed.emit()

        self.engine.call(self.engine.state.lora_counts, label="lora counts", on_result=done)

    # ------------------------------------------------------------------ candidates
    def refresh_candidates(self, frame: int | None = None) -> None:
        """Ask the adapters for candidates on a frame SAM2 tracked (after training ends, say)."""
        if self.store is None or not self.lora_on:
            return
        f = self.current if frame is None else frame
        st = self.engine.state
        for info in self.store.objects:
            rec = self.store.get_record(f, info.id)
            if rec is None or rec.provenance.kind != "sam2":
                continue

            def run(oid: int = info.id) -> list[Any]:
                return st.lora.candidates(oid, f) if st.lora is not None else []

            self.engine.call(
                run, label="candidates", on_result=lambda c, oid=info.id: self._got_candidates(f, oid, c)
            )

    def _got_candidates(self, frame: int, oid: int, cands: list[Any]) -> None:
        rec = self.store.get_record(frame, oid) if self.store is not None else None
        if rec is None or rec.provenance.kind != "sam2":
            return
        self._set_candidates(frame, oid, cands)
        self.timeline_changed.emit()
        self.candidates_changed.emit()
        self.overlay_changed.emit()

    def _set_candidates(self, frame: int, oid: int, cands: list[Any]) -> None:
        key = (frame, oid)
        self.invalidate_lanes({key})
        self.disagree.discard(key)
        if not cands:
            self.candidates.pop(key, None)
            return
        self.candidates[key] = list(cands)
        top = cands[0]
        iou = float(top.iou_with_sam)
        if (
            top.confidence >= 0.5
            and not math.isnan(iou)
            and iou < float(self.settings.get("track/disagree_iou"))
        ):
            self.disagree.add(key)

    def _clear_candidates(self, frame: int, oid: int) -> None:
        self.invalidate_lanes({(frame, oid)})
        if self.candidates.pop((frame, oid), None) is not None:
            self.candidates_changed.emit()
        self.disagree.discard((frame, oid))

    def _after_tracked(self, outcome: TrackOutcome) -> None:
        if any(u.candidates or u.applied is not None for u in outcome.updates.values()):
            self.candidates_changed.emit()
            self.refresh_counts()

    def current_candidates(self) -> list[Any]:
        """Candidates of the selected object on the shown frame (empty while hidden)."""
        if not self.candidates_visible:
            return []
        return self.candidates.get((self.current, self.selected), [])

    def _write_candidate(self, frame: int, oid: int, cand: Any) -> None:
        rec = self.store.set_mask(
            frame, oid, cand.mask, adapter_provenance(cand.adapter), score=float(cand.object_score)
        )
        self.prompt_by_record[rec] = Prompt(candidate=cand)
        self._prompted.add((frame, oid))
        self.candidates.pop((frame, oid), None)
        self.disagree.discard((frame, oid))

    def accept_candidate(self, index: int) -> bool:
        """Make candidate ``index`` (0 = best) the selected object's mask here, and SAM2's memory."""
        cands = self.current_candidates()
        if not 0 <= index < len(cands):
            self.message.emit(f"No candidate {index + 1} on this frame.")
            return False
        self._stop_auto()
        cand = cands[index]
        f, oid = self.current, self.selected
        with self.store.group(f"Accept candidate {cand.adapter}"):
            self._write_candidate(f, oid, cand)
        self._seeds.discard(f, oid)
        self.engine.call(
            self.engine.state.prompt, oid, f, Prompt(candidate=cand), False, kind="prompt", label="accept"
        )
        self.refresh_counts()
        self.candidates_changed.emit()
        self.history_changed.emit()
        self.message.emit(f"Accepted candidate {cand.adapter} ({cand.confidence:.0%}): a correction saved.")
        return True

    def keep_sam(self) -> None:
        """Enter: SAM2's mask is right; drop the candidates of this frame."""
        if (self.current, self.selected) in self.candidates:
            self._clear_candidates(self.current, self.selected)
            self.timeline_changed.emit()
            self.overlay_changed.emit()
            self.message.emit("Kept SAM2's mask.")

    def toggle_candidates_visible(self) -> None:
        self.candidates_visible = not self.candidates_visible
        self.candidates_changed.emit()
        self.overlay_changed.emit()

    def _forget_object_lora(self, oid: int) -> None:
        job = self._train_jobs.pop(oid, None)
        if job is not None:
            job.cancel()
        self._retrain.discard(oid)
        self.training.pop(oid, None)
        for key in [k for k in self.candidates if k[1] == oid]:
            del self.candidates[key]
        self.disagree = {k for k in self.disagree if k[1] != oid}
