"""What the model thread owns: the tracker, LIT-LoRA and the video (``EngineState``), in plain Python.

The app drives it from its one model thread (``workers/engine.py``: ``Engine``, the GUI's handle);
``litlora-desktop track`` drives the same object headless, so a batch run tracks exactly as the app
does. Nothing here imports Qt.

torch, transformers and the modules built on them (the tracker, LIT-LoRA, model loading) are imported
only inside the methods, never at module level: the window imports this module, and importing torch on
its way to the first paint kept the screen empty for seconds at start-up.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from litlora_desktop.core.model_ids import DEMO_MODEL, TINY_RANDOM
from litlora_desktop.core.resources import demo_model_dir
from litlora_desktop.core.sam2.results import ObjectMask
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.workers.kept_candidates import kept
from litlora_desktop.workers.later_candidates import LaterCells, evicted_candidates, packed_candidates
from litlora_desktop.workers.outcomes import ObjectUpdate, Prompt, TrackOutcome

if TYPE_CHECKING:
    from litlora_desktop.core.lora.settings import LoraSettings
    from litlora_desktop.core.sam2.models import LoadedModel
    from litlora_desktop.core.sam2.results import FrameResult
    from litlora_desktop.core.sam2.tracker import Tracker

log = logging.getLogger(__name__)

__all__ = ["APP_CORRECTIONS_AS_COND", "EngineState", "load_any_model", "load_model"]


class Cancellable(Protocol):
    """What ``propagate`` and ``train`` read of a job: the model thread's ``Job``, or batch tracking's."""

    cancelled: bool


# why a correction taught LIT-LoRA nothing (``ObjectUpdate.unlearned``); the window says it in words
UNLEARNED_PROMPTED = "prompted"  # the frame holds a prompt (an accepted candidate of an earlier session)
UNLEARNED_NO_PROMPT = "no prompt"  # the object has no prompt in the tracker (yet, or any more)
UNLEARNED_FAILED = "failed"  # SAM2's pass there could not be made

APP_CORRECTIONS_AS_COND = True
"""The app keeps a corrected frame as SAM2 conditioning memory (Meta's add_all_frames_to_correct_as_cond),
unlike Meta's predictor's default and the paper's evaluation: an annotator's correction is checked by
a person, so it should keep teaching the frames after it instead of fading after SAM2's 7-frame
window; the tracker attends to the 4 nearest conditioning frames, so many corrections cost nothing
per frame. README, "The tracker" and "Reproducing the paper" (the measured effect of both)."""


def load_model(
    spec: str, device: str | None = None, progress: Callable[[int, int], None] | None = None
) -> LoadedModel:
    """``core.sam2.models.load_model``, imported when first called (on the model thread)."""
    from litlora_desktop.core.sam2.models import load_model as load

    return load(spec, device=device, progress=progress)


def load_any_model(spec: str, device: str | None, progress: Callable[[int, int], None] | None) -> LoadedModel:
    """``load_model`` plus the developer id ``tiny-random`` (tests, demos, machines without weights).
    On the model thread: this is where torch and transformers are first imported."""
    from litlora_desktop.core.sam2.models import LoadedModel, ModelNotAvailable, fallback_to_demo

    if spec == TINY_RANDOM:
        from litlora_desktop.core.sam2.models import choose_device, random_model, tiny_config

        choice = choose_device(device)
        # larger initial weights give visible (if meaningless) masks
        model = random_model(tiny_config(64, init_std=0.2), seed=0).to(choice.device)
        return LoadedModel(model=model, source=TINY_RANDOM, device=choice)
    try:
        return load_model(spec, device=device, progress=progress)
    except ModelNotAvailable as exc:  # offline and not cached: work with the demo model meanwhile
        if spec == DEMO_MODEL or not demo_model_dir().joinpath("config.json").is_file():
            raise
        return fallback_to_demo(spec, exc, device)


def _why_unlearned(prompted: set[int], frame: int) -> str:
    """Why a correction of a tracked mask gave LIT-LoRA no lesson (``Tracker.observe`` could not run):
    one of the ``UNLEARNED_*`` reasons."""
    if frame in prompted:
        return UNLEARNED_PROMPTED
    if not prompted:
        return UNLEARNED_NO_PROMPT
    return UNLEARNED_FAILED


class EngineState:
    """Everything the model thread owns. Never touched from the GUI thread, except ``later`` (a
    thread-safe queue the GUI discards cells from when the user changes them)."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None
        self.source: FrameSource | None = None
        self.tracker: Tracker | None = None
        self.lora: Any = None
        self._lora_settings: LoraSettings | None = None  # made on the model thread (it imports torch)
        self.lora_enabled = False
        self.object_ids: list[int] = []
        self.later = LaterCells()  # tracked cells whose candidates a propagation left for later

    @property
    def lora_settings(self) -> LoraSettings:
        """LIT-LoRA's settings (defaults until a model sets its own); read on the model thread only."""
        if self._lora_settings is None:
            from litlora_desktop.core.lora.settings import LoraSettings

            self._lora_settings = LoraSettings()
        return self._lora_settings

    @lora_settings.setter
    def lora_settings(self, value: LoraSettings) -> None:
        self._lora_settings = value

    # ---------------------------------------------------------------- set-up
    def set_model(self, loaded: LoadedModel) -> None:
        from litlora_desktop.core.lora.settings import LoraSettings, preset_for

        self._close_tracker()
        self.loaded = loaded
        # torch and transformers leave millions of long-lived objects; a full GC pass over them takes
        # hundreds of milliseconds with the GIL held, freezing the window. Freezing them (instant)
        # keeps later collections to what the session itself allocates.
        gc.freeze()
        # fresh defaults per model; the user's auto-apply choice stays
        old, self.lora_settings = self.lora_settings, LoraSettings()
        self.lora_settings.auto_apply = old.auto_apply
        self.lora_settings.auto_apply_threshold = old.auto_apply_threshold
        for k, v in preset_for(loaded.source).items():  # tiny-random and the demo model
            setattr(self.lora_settings, k, v)
        self._make_tracker()

    def set_source(self, source: FrameSource) -> None:
        self._close_tracker()
        old, self.source = self.source, source
        if old is not None and old is not source and hasattr(old, "close"):
            old.close()
        self.object_ids = []
        self._make_tracker()

    def _make_tracker(self) -> None:
        if self.loaded is None or self.source is None:
            return
        from litlora_desktop.core.lora.litlora import LitLoRA
        from litlora_desktop.core.sam2.tracker import Tracker

        self.tracker = Tracker(
            self.loaded.model,
            self.source,
            autocast_dtype=self.loaded.device.autocast_dtype,
            corrections_as_conditioning=APP_CORRECTIONS_AS_COND,
        )
        for oid in self.object_ids:
            self.tracker.add_object(oid)
        self.tracker.captures.on_evict = self.later.evicting
        self.lora = LitLoRA(self.tracker, self.lora_settings)

    def _close_tracker(self) -> None:
        self.later.clear()
        if self.lora is not None:
            self.lora.close()
            self.lora = None
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None

    def close(self) -> None:
        self._close_tracker()
        if self.source is not None and hasattr(self.source, "close"):
            self.source.close()
        self.source = None

    # ---------------------------------------------------------------- objects
    def add_object(self, oid: int) -> None:
        if oid not in self.object_ids:
            self.object_ids.append(oid)
            if self.tracker is not None and oid not in self.tracker.object_ids:
                self.tracker.add_object(oid)
            if self.lora is not None:
                self.lora.unpark(oid)  # an undone delete: the object's lessons come back with it

    def remove_object(self, oid: int) -> None:
        if oid in self.object_ids:
            self.object_ids.remove(oid)
        if self.lora is not None:
            self.lora.park(oid)  # kept for an undo
        if self.tracker is not None and oid in self.tracker.object_ids:
            self.tracker.remove_object(oid)

    def _need_tracker(self) -> Tracker:
        if self.tracker is None:
            from litlora_desktop.core.sam2.models import ModelLoadError

            if self.loaded is None:
                raise ModelLoadError("No SAM2 model is loaded: pick one in Settings ▸ Model (Ctrl+,).")
            raise ModelLoadError("No video is open.")
        return self.tracker

    # ---------------------------------------------------------------- prompts
    def prompt(
        self, oid: int, frame: int, prompt: Prompt, learn: bool, tracked: bool = False
    ) -> ObjectUpdate:
        """Apply a user prompt; with LIT-LoRA on, a prompt on a tracked frame is also a correction.

        ``tracked``: the cell holds a mask SAM2 tracked (the store says so), maybe in an earlier
        session or by ``litlora-desktop track``. When this tracker has no pass of its own there to
        learn from, it makes one first (``Tracker.observe``), so that the correction still teaches.
        """
        tr = self._need_tracker()
        self.add_object(oid)
        learning = learn and prompt.kind in ("clicks", "mask") and self.lora_enabled and self.lora is not None
        # only a correction needs them (why it may teach nothing): not copied on every click
        prompted_before = set(tr.prompts(oid)) if learning and oid in tr.object_ids else set()
        observed = True
        if learning and tracked:
            try:  # before the prompt replaces the frame's result; only LIT-LoRA needs it
                tr.observe(oid, frame)
            except Exception:  # out of memory, a frame that no longer decodes: the click goes on
                log.exception("SAM2's pass for LIT-LoRA on frame %d failed", frame)
                observed = False
        if prompt.kind == "candidate" and self.lora is not None:
            res = self.lora.accept(prompt.candidate)
        elif prompt.kind == "candidate":
            res = tr.add_mask(oid, frame, prompt.candidate.mask)
        elif prompt.kind == "mask":
            res = tr.add_mask(oid, frame, prompt.mask)
        elif prompt.kind == "clicks":
            res = tr.add_clicks(oid, frame, list(prompt.clicks), box=prompt.box, replace=True)
        else:
            tr.clear_prompts(oid, frame)
            res = ObjectMask(
                oid, frame, np.zeros((tr.source.height, tr.source.width), bool), -1.0, "prompted"
            )
        unlearned = ""
        if learning:
            # a painted mask is learned exactly as drawn; after clicks, SAM2's corrected mask is the target
            target = prompt.mask if prompt.kind == "mask" else res.mask
            if self.lora.add_correction(oid, frame, target) is None:
                unlearned = _why_unlearned(prompted_before, frame) if observed else UNLEARNED_FAILED
        return ObjectUpdate(res, unlearned=unlearned)

    def sync_prompt(self, oid: int, frame: int, prompt: Prompt) -> None:
        """Make the tracker's prompt on a frame match the store after an undo or redo."""
        tr = self.tracker
        if tr is None:
            return
        if oid not in tr.object_ids:
            return
        if self.lora is not None and prompt.kind != "candidate":
            self.lora.undo_accept(oid, frame)  # no-op unless a candidate was accepted on that frame
        elif self.lora is not None:  # the cell is an accepted candidate again: a correction of it is undone
            self.lora.remove_correction(oid, frame)
        current = tr.prompts(oid).get(frame)
        if prompt.kind == "none":
            if current is not None:
                tr.clear_prompts(oid, frame)
            if self.lora is not None:
                self.lora.remove_correction(oid, frame)  # an undone correction is no lesson
            return
        if prompt.kind == "clicks" and current is not None and current.mask is None:
            if tuple(current.clicks) == prompt.clicks and current.box == prompt.box:
                return
        self.prompt(oid, frame, prompt, learn=False)

    # ---------------------------------------------------------------- tracking
    def set_lora_enabled(self, on: bool) -> None:
        """Switch LIT-LoRA's part of tracking; off, the cells waiting for candidates are forgotten."""
        self.lora_enabled = bool(on)
        if not on:
            self.later.clear()

    def _needs(self, tr: Tracker, frame: int, reverse: bool) -> list[int]:
        """Objects to track on ``frame``: prompted, not yet tracked there, and tracked on the frame before."""
        prev = frame + (1 if reverse else -1)
        out = []
        for oid in tr.object_ids:
            if not tr.prompts(oid):
                continue
            done = tr.tracked_frames(oid)
            if frame not in done and prev in done:
                out.append(oid)
        return out

    def track(self, frame: int, reverse: bool = False, force: bool = False) -> TrackOutcome | None:
        """Track a frame for the objects that need it (all prompted ones with ``force``)."""
        tr = self.tracker
        if tr is None or not 0 <= frame < tr.source.num_frames:
            return None
        ids = [o for o in tr.object_ids if tr.prompts(o)] if force else self._needs(tr, frame, reverse)
        if not ids:
            return None
        t0 = time.perf_counter()
        res = tr.track(frame, reverse=reverse, object_ids=ids)
        return self._outcome(res, (time.perf_counter() - t0) * 1000)

    def _outcome(self, res: FrameResult, ms: float, candidates_later: bool = False) -> TrackOutcome:
        """The frame's result with LIT-LoRA's part: an auto-applied candidate, the candidates, or
        (``candidates_later``, while propagating) a note in ``later`` that they are still to be
        computed. With auto-apply on they are always computed here: an applied candidate changes
        what SAM2 tracks next, so it cannot wait. Cells whose capture was evicted while tracking
        this frame get theirs now (``TrackOutcome.late``)."""
        out = TrackOutcome(res.frame_index, {}, ms, dict(res.timings))
        f = res.frame_index
        for oid, om in res.masks.items():
            upd = ObjectUpdate(om)
            self.later.discard(f, oid)  # its mask is new: what waited was for the old one
            if self.lora is not None and self.lora_enabled and om.kind == "tracked":
                auto = self.lora.settings.auto_apply
                # computed once: what auto-apply declines is what the annotator is shown
                cands = self.lora.candidates(oid, f) if auto else None
                applied = self.lora.auto_apply(oid, f, cands)
                if applied is not None:
                    upd.applied = applied
                elif candidates_later and not auto:
                    upd.candidates_later = self.lora.num_adapters(oid) > 0
                    if upd.candidates_later:
                        self.later.put([(f, oid, om.score)])
                else:
                    upd.candidates = kept(cands) if cands is not None else packed_candidates(self, oid, f)
            out.updates[oid] = upd
        out.late = evicted_candidates(self, skip=[(f, oid) for oid in res.masks])
        return out

    def propagate(
        self,
        start: int,
        end: int,
        reverse: bool,
        job: Cancellable,
        object_ids: list[int] | None = None,
        candidates_later: bool = True,
    ) -> Iterator[TrackOutcome]:
        """Track the prompted objects (those of ``object_ids`` only, when given) frame by frame.

        LIT-LoRA's candidates of these frames are left for later (``ObjectUpdate.candidates_later``;
        ``candidates_later=False`` computes them with each frame, as ``benchmarks/lora_propagation.py``
        does for comparison): one per adapter per object on every frame doubled a propagation's time."""
        tr = self._need_tracker()
        ids = [o for o in tr.object_ids if tr.prompts(o) and (object_ids is None or o in object_ids)]
        if not ids:
            return
        t0 = time.perf_counter()
        for res in tr.propagate(
            start, end, reverse=reverse, object_ids=ids, should_cancel=lambda: job.cancelled
        ):
            now = time.perf_counter()
            yield self._outcome(res, (now - t0) * 1000, candidates_later=candidates_later)
            t0 = time.perf_counter()

    # ---------------------------------------------------------------- LIT-LoRA
    def train(self, oid: int, job: Cancellable) -> Iterator[Any]:
        if self.lora is None:
            return
        yield from self.lora.train_steps(oid, should_cancel=lambda: job.cancelled)

    def save_adapters(self, folder: Path, aside: bool = False) -> bool:
        """Write the adapters, samples and the LIT_LoRA switch into ``folder``; False when there is
        nothing to write (no adapter, no sample, LIT_LoRA off and nothing saved there before).
        ``aside``: the adapter files there could not be loaded: they are moved into a folder of their
        own first (``adapter_files.set_aside``), never replaced or deleted."""
        lora = self.lora
        if lora is None:
            return False
        has = any(lora.num_adapters(o) or lora.num_samples(o) for o in self.object_ids)
        if not (has or self.lora_enabled or (folder / "litlora.json").is_file()):
            return False
        if aside:
            from litlora_desktop.core.lora.adapter_files import set_aside

            set_aside(folder)
        lora.save(folder, enabled=self.lora_enabled)
        return True

    def lora_counts(self) -> dict[int, tuple[int, int, int]]:
        """{object: (samples, adapters, corrections saved)}."""
        if self.lora is None:
            return {}
        return {
            o: (self.lora.num_samples(o), self.lora.num_adapters(o), self.lora.corrections_saved(o))
            for o in self.object_ids
        }
