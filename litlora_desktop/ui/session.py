"""What the annotator is doing, without any widget: the video, the store, the frame, the selection.

``AnnotationSession`` turns user intents (click here, next frame, undo) into model jobs on the
``Engine`` and writes what comes back into the ``AnnotationStore``; widgets render the store and the
session's signals. It lives on the GUI thread and never waits for the model.

Undo rules. The store records everything, tracking included; steps whose label starts with "Track" are
automatic. Undo takes back automatic steps until it has taken back one user step (a click, a brush
stroke, an accept, an object edit); redo brings back one user step and the tracking that followed it.
After an undo or redo the tracker's prompts are made to match the store again: a record made by clicks
remembers them (``prompt_by_record``), a user, LoRA or imported mask is given back as a mask prompt.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore, StoreChange
from litlora_desktop.core.sam2.models import LoadedModel
from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui.session_lanes import LanesMixin
from litlora_desktop.ui.session_lora import LoraMixin
from litlora_desktop.ui.session_project import ProjectSessionMixin
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.workers.engine import Engine, ObjectUpdate, Prompt, TrackOutcome
from litlora_desktop.workers.frames import FrameLoader
from litlora_desktop.workers.seeding import apply_seeds, run_seeds

log = logging.getLogger(__name__)

AUTO_PREFIX = "Track"
SYNC_AT_ONCE = 16  # an undo or redo touching more prompts than this re-seeds them in the background


class AnnotationSession(ProjectSessionMixin, LanesMixin, LoraMixin, QObject):
    """The GUI-thread state of one annotation session; see the module docstring."""

    video_changed = Signal(object)  # FrameSource (or None)
    image_changed = Signal(int, object)  # frame index, RGB array
    frame_changed = Signal(int)
    overlay_changed = Signal()  # masks, points or candidates of the shown frame changed
    objects_changed = Signal()
    selection_changed = Signal(int)  # object id, 0 for none
    timeline_changed = Signal()
    history_changed = Signal()
    message = Signal(str)  # a status-bar message
    problem = Signal(str, str)  # title, text: worth a dialog
    model_changed = Signal(object)  # LoadedModel or None
    stats_changed = Signal()
    playing_changed = Signal(bool)
    propagating_changed = Signal(bool)
    busy_changed = Signal(bool)
    lora_changed = Signal(bool)
    training_changed = Signal(object)  # TrainProgress (finished=True at the end)
    candidates_changed = Signal()

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.engine = Engine(self)
        self.loader = FrameLoader(self)
        self.loader.frame_ready.connect(self._on_image)
        self.loader.frame_failed.connect(
            lambda i, msg: self.message.emit(f"Frame {i} could not be decoded: {msg}")
        )
        self.engine.video_opened.connect(self._on_video)
        self.engine.video_failed.connect(self._on_video_failed)
        self.engine.model_loaded.connect(self._on_model)
        self.engine.model_failed.connect(self._on_model_failed)
        self.model_loading = False
        self.engine.model_loading.connect(lambda _spec: setattr(self, "model_loading", True))
        self.engine.error.connect(lambda msg: self.problem.emit("Model error", msg))
        self.engine.busy_changed.connect(self.busy_changed)
        self.source: FrameSource | None = None
        self.video_path: str | None = None
        self.store: AnnotationStore | None = None
        self.loaded: LoadedModel | None = None
        self.current = 0
        self.selected = 0
        self._pending_path: str | None = None
        self.image: tuple[int, np.ndarray] | None = None
        self.frame_ms = 0.0
        self.prompt_by_record: dict[MaskRecord, Prompt] = {}
        self._inflight: dict[tuple[int, int], Prompt] = {}
        self._prompted: set[tuple[int, int]] = set()
        self._engine_objects: set[int] = set()
        self._unlisten = None
        self._auto_group: contextlib.ExitStack | None = None
        self._prop_job = None
        self._dirty_timer = QTimer(self)
        self._dirty_timer.setSingleShot(True)
        self._dirty_timer.setInterval(0)
        self._dirty_timer.timeout.connect(self._flush)
        self._dirty: set[str] = set()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        self._init_lanes()
        self._init_lora()
        self._init_project()

    # ================================================================== lifecycle
    def close(self) -> None:
        """Stop playback and the worker threads; frees the tracker."""
        self.play_timer.stop()
        self._close_auto_group()
        self.loader.stop()
        self.engine.shutdown()

    @property
    def model_ready(self) -> bool:
        return self.loaded is not None

    def load_model(self, spec: str, device: str | None = None):
        """Start loading a model (returns the job, cancellable); ``model_changed`` says when it is in."""
        self._stop_model_work()
        return self.engine.load_model(spec, device)

    def use_model(self, loaded: LoadedModel) -> None:
        self._stop_model_work()
        self.engine.set_loaded_model(loaded)

    def _stop_model_work(self, new_video: bool = False) -> None:
        """A new model or video replaces the tracker: stop what runs on the old one first."""
        self._stop_auto()
        self.engine.cancel("train")
        self.engine.cancel("track")
        self.engine.cancel("seed")  # seeds of the old tracker; the new one is seeded afresh
        if new_video:  # the model thread closes the old video: the loader must not be reading it then
            self.loader.set_source(None)

    def open_video(self, path: str) -> None:
        """Open a file or frame folder on the model thread; ``video_changed`` or ``problem`` follows."""
        self._stop_model_work(new_video=True)
        self.message.emit(f"Opening {Path(path).name}…")
        self._pending_path = str(path)
        self.engine.open_video(str(path))

    def open_source(self, source: FrameSource) -> None:
        self._stop_model_work(new_video=True)
        self._pending_path = None
        self.engine.set_source(source)

    def _on_video(self, source: FrameSource) -> None:
        self._close_auto_group()
        if self._unlisten is not None:
            self._unlisten()
        self.source = source
        self.video_path, self._pending_path = self._pending_path, None
        self.store = self._take_next_store(source) or AnnotationStore(
            source.height, source.width, source.num_frames
        )
        self._unlisten = self.store.add_listener(self._on_store_change)
        self.prompt_by_record.clear()
        self._inflight.clear()
        self._prompted.clear()
        self._engine_objects.clear()
        self._reset_lora()
        self.selected = 0
        self.current = 0
        self.image = None
        self.invalidate_lanes()
        self._seed_tracker()
        self.loader.set_source(source)
        self.loader.request(0)
        self.video_changed.emit(source)
        self.objects_changed.emit()
        self.selection_changed.emit(0)
        self.frame_changed.emit(0)
        self.timeline_changed.emit()
        self.history_changed.emit()
        self.message.emit(f"Opened {source.name}: {source.num_frames} frames, {source.width}×{source.height}")

    def _on_video_failed(self, path: str, msg: str) -> None:
        self.loader.set_source(self.source)  # the video that was open stays open
        self._resume_seeding()
        self.problem.emit("Cannot open video", f"{Path(path).name}: {msg}")

    def _on_model(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model_loading = False
        self._engine_objects.clear()
        self._seed_tracker()  # a new model means a new tracker: give it the objects and prompts
        self.model_changed.emit(loaded)
        self.stats_changed.emit()

    def _on_model_failed(self, msg: str) -> None:
        self.model_loading = False
        self._resume_seeding()
        self.model_changed.emit(self.loaded)
        if msg:
            self.problem.emit("No SAM2 model", msg)
        else:
            self.message.emit("Model download cancelled.")

    # ================================================================== frames
    @property
    def num_frames(self) -> int:
        return self.source.num_frames if self.source is not None else 0

    def go_to(self, frame: int) -> None:
        """Show a frame (no tracking)."""
        if self.source is None:
            return
        frame = max(0, min(int(frame), self.num_frames - 1))
        if frame == self.current and self.image is not None and self.image[0] == frame:
            return
        self.current = frame
        self._seeds.recenter(frame)
        self.loader.request(frame)
        self.frame_changed.emit(frame)
        self.overlay_changed.emit()

    def _on_image(self, index: int, rgb: np.ndarray) -> None:
        if index != self.current:
            return
        self.image = (index, rgb)
        self.image_changed.emit(index, rgb)

    def step(self, delta: int) -> None:
        """Move ``delta`` frames and track the frames passed over, in order, on the model thread.

        A frame is tracked when the frame before it (in that direction) was; the view moves at once
        and each mask appears when its frame is done, so holding the key never waits for the model.
        """
        if self.source is None or not delta:
            return
        target = max(0, min(self.current + delta, self.num_frames - 1))
        if target == self.current:
            return
        start = self.current
        self.go_to(target)
        if not self.model_ready:
            return
        direction = 1 if delta > 0 else -1
        self._seed_first([start, *range(start + direction, target + direction, direction)])
        for f in range(start + direction, target + direction, direction):
            self.engine.call(
                self.engine.state.track, f, direction < 0, kind="track", on_result=self._on_track
            )

    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.pause()
            return
        if self.source is None:
            return
        if self.current >= self.num_frames - 1:
            self.go_to(0)
        fps = self.source.fps or 24.0
        self.play_timer.start(max(1, int(1000 / fps)))
        self.playing_changed.emit(True)

    def pause(self, why: str = "") -> None:
        if self.play_timer.isActive():
            self.play_timer.stop()
            self.playing_changed.emit(False)
            if why:
                self.message.emit(why)

    @property
    def playing(self) -> bool:
        return self.play_timer.isActive()

    def _play_tick(self) -> None:
        if self.engine.pending("track"):
            return  # paced by tracking: never queue ahead of the model
        if self.current >= self.num_frames - 1:
            self.pause("Reached the last frame.")
            return
        self.step(+1)

    def propagate(self, reverse: bool = False, end: int | None = None) -> None:
        """Track every prompted object frame by frame to the end (or start); again to stop."""
        if self._prop_job is not None:
            self.cancel_propagation()
            return
        if self.source is None or not self.model_ready:
            self.message.emit("Load a model first (Settings ▸ Model).")
            return
        self.pause()
        if end is None:
            end = 0 if reverse else self.num_frames - 1
        if end == self.current:
            return
        lo, hi = sorted((self.current, end))
        self._open_auto_group(f"{AUTO_PREFIX} frames {lo}–{hi}")
        state, seeds, start = self.engine.state, self._seeds, self.current

        def run(job: Any) -> Any:
            yield from run_seeds(state, seeds, job)  # every prompt is in before tracking over it
            yield from state.propagate(start, end, reverse, job)

        self._prop_job = self.engine.call(
            run,
            pass_job=True,
            background=True,
            kind="propagate",
            label="propagate",
            on_yield=self._on_propagated,
            on_done=self._propagation_done,
        )
        self.propagating_changed.emit(True)

    def cancel_propagation(self) -> None:
        if self._prop_job is not None:
            self._prop_job.cancel()
            self._propagation_done()

    @property
    def propagating(self) -> bool:
        return self._prop_job is not None

    def _on_propagated(self, outcome: TrackOutcome | int) -> None:
        if not isinstance(outcome, TrackOutcome):
            return  # a step of the seeding that comes first
        self._on_track(outcome)
        self.go_to(outcome.frame_index)

    def _propagation_done(self) -> None:
        if self._prop_job is None:
            return
        self._prop_job = None
        self._close_auto_group()
        self.propagating_changed.emit(False)
        self.history_changed.emit()

    def _stop_auto(self) -> None:
        """A user edit stops playback and propagation first, so it lands in its own undo step."""
        self.pause()
        self.cancel_propagation()

    def _open_auto_group(self, label: str) -> None:
        self._close_auto_group()
        if self.store is None:
            return
        stack = contextlib.ExitStack()
        stack.enter_context(self.store.group(label))
        self._auto_group = stack

    def _close_auto_group(self) -> None:
        if self._auto_group is not None:
            stack, self._auto_group = self._auto_group, None
            stack.close()

    # ================================================================== tracking results
    def _on_track(self, outcome: TrackOutcome | None) -> None:
        if outcome is None or self.store is None:
            return
        f = outcome.frame_index
        self.frame_ms = outcome.ms
        known = {o.id for o in self.store.objects}
        ctx = (
            self.store.group(f"{AUTO_PREFIX} frame {f}")
            if self._auto_group is None
            else contextlib.nullcontext()
        )
        with ctx:
            for oid, upd in outcome.updates.items():
                if oid not in known:
                    continue
                self._write_tracked(f, oid, upd)
        self._after_tracked(outcome)
        self.stats_changed.emit()
        if self.playing and self.is_suspect_frame(f):
            self.pause(
                f"Paused at frame {f}: a mask there looks wrong (low confidence or a disagreeing candidate)."
            )

    def _write_tracked(self, f: int, oid: int, upd: ObjectUpdate) -> None:
        om = upd.mask
        if upd.applied is not None:
            self._write_candidate(f, oid, upd.applied)
            return
        if om.kind == "reused" or self._seeds.pending(f, oid):
            return  # a prompt (or one still on its way to the tracker) keeps its stored mask
        mask = self._resolve_overlap(f, oid, om.mask, yield_to_all=False)
        self.store.set_mask(f, oid, mask, "sam2", score=float(om.score))
        self._set_candidates(f, oid, upd.candidates)

    # ================================================================== objects
    def add_object(self) -> int:
        """New object, selected; returns its id."""
        if self.store is None:
            return 0
        self._stop_auto()
        info = self.store.add_object()
        self.select(info.id)
        self.message.emit(f"Added {info.name}: click on it (left = it, right = not it).")
        return info.id

    def select(self, oid: int) -> None:
        if self.store is None or oid == self.selected:
            return
        if oid and oid not in {o.id for o in self.store.objects}:
            return
        self.selected = oid
        self.selection_changed.emit(oid)
        self.overlay_changed.emit()
        self.stats_changed.emit()

    def select_index(self, index: int) -> None:
        if self.store is not None and 0 <= index < len(self.store.objects):
            self.select(self.store.objects[index].id)

    def rename(self, oid: int, name: str) -> None:
        if self.store is not None and name.strip():
            self.store.rename_object(oid, name.strip())

    def recolor(self, oid: int, color: tuple[int, int, int]) -> None:
        if self.store is not None:
            self.store.recolor_object(oid, tuple(int(c) for c in color))

    def set_hidden(self, oid: int, hidden: bool) -> None:
        if self.store is not None:
            self.store.update_object(oid, hidden=hidden)

    def delete_object(self, oid: int) -> None:
        if self.store is None or oid not in {o.id for o in self.store.objects}:
            return
        self._stop_auto()
        name = self.store.object(oid).name
        self.store.delete_object(oid)
        if self.selected == oid:
            objs = self.store.objects
            self.selected = 0
            self.select(objs[0].id if objs else 0)
            self.selection_changed.emit(self.selected)
        self.message.emit(f"Deleted {name} (Ctrl+Z brings it back).")

    def _engine_add(self, oid: int) -> None:
        self._engine_objects.add(oid)
        self.engine.call(self.engine.state.add_object, oid)

    def _reconcile_objects(self, ids: tuple[int, ...]) -> None:
        live = {o.id for o in self.store.objects} if self.store is not None else set()
        for oid in ids:
            if oid in live and oid not in self._engine_objects:
                self._engine_add(oid)
            elif oid not in live and oid in self._engine_objects:
                self._engine_objects.discard(oid)
                self._forget_object_lora(oid)
                self.engine.call(self.engine.state.remove_object, oid)

    # ================================================================== prompts
    def _ensure_object(self) -> int:
        if self.selected:
            return self.selected
        objs = self.store.objects if self.store is not None else []
        if objs:
            self.select(objs[0].id)
            return self.selected
        return self.add_object()

    def _can_prompt(self) -> bool:
        if self.store is None:
            return False
        if not self.model_ready and self.model_loading:
            self.message.emit("The SAM2 model is still loading: click again in a moment.")
            return False
        if not self.model_ready:
            self.problem.emit(
                "No SAM2 model",
                "Clicks need a SAM2 model and none is loaded. Open Settings ▸ Model (Ctrl+,) to pick one, "
                "or start with --model pointing to a local model folder or a Meta .pt checkpoint.",
            )
            return False
        return True

    def current_prompt(self, oid: int | None = None, frame: int | None = None) -> Prompt:
        """The click prompt on a frame (what is in flight, else what the store's record was made from)."""
        oid = self.selected if oid is None else oid
        frame = self.current if frame is None else frame
        p = self._inflight.get((frame, oid))
        if p is not None:
            return p
        if self.store is None or not oid:
            return Prompt()
        p = self.prompt_by_record.get(self.store.get_record(frame, oid))
        return p if p is not None and p.kind == "clicks" else Prompt()

    def click(self, x: float, y: float, positive: bool) -> None:
        """A point prompt for the selected object (a new object is made if there is none)."""
        if not self._can_prompt():
            return
        self._stop_auto()
        oid = self._ensure_object()
        prev = self.current_prompt(oid)
        p = Prompt(clicks=(*prev.clicks, Click(float(x), float(y), bool(positive))), box=prev.box)
        self._prompt(oid, self.current, p, "Click" if positive else "Negative click")

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if not self._can_prompt():
            return
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        self._stop_auto()
        oid = self._ensure_object()
        self._prompt(oid, self.current, Prompt(box=Box(x0, y0, x1, y1)), "Box")

    def remove_point(self, index: int) -> None:
        """Take one click back (clicking on a drawn point)."""
        if not self._can_prompt() or not self.selected:
            return
        self._stop_auto()
        prev = self.current_prompt()
        if not 0 <= index < len(prev.clicks):
            return
        clicks = prev.clicks[:index] + prev.clicks[index + 1 :]
        self._prompt(self.selected, self.current, Prompt(clicks=clicks, box=prev.box), "Remove point")

    def clear_frame(self) -> None:
        """Remove the selected object's prompts and mask on the shown frame."""
        if self.store is None or not self.selected or not self.model_ready:
            return
        self._stop_auto()
        self._prompt(self.selected, self.current, Prompt(), "Clear frame")

    def _prompt(self, oid: int, frame: int, prompt: Prompt, label: str) -> None:
        self._seeds.discard(frame, oid)  # this prompt replaces a queued seed of the frame
        self._inflight[(frame, oid)] = prompt
        self.overlay_changed.emit()
        learn = self.lora_on
        self.engine.call(
            self.engine.state.prompt,
            oid,
            frame,
            prompt,
            learn,
            kind="prompt",
            label=label,
            on_result=lambda upd: self._prompt_done(oid, frame, prompt, label, upd),
            on_done=lambda: self._inflight_done(frame, oid, prompt),
        )

    def _inflight_done(self, frame: int, oid: int, prompt: Prompt) -> None:
        if self._inflight.get((frame, oid)) is prompt:
            del self._inflight[(frame, oid)]
            self.overlay_changed.emit()

    def _prompt_done(self, oid: int, frame: int, prompt: Prompt, label: str, upd: ObjectUpdate) -> None:
        if self.store is None or oid not in {o.id for o in self.store.objects}:
            return
        with self.store.group(label):
            if prompt.kind == "none":
                self.store.delete_mask(frame, oid)
                self._prompted.discard((frame, oid))
            else:
                mask = self._resolve_overlap(frame, oid, upd.mask.mask, yield_to_all=True)
                clicks = [(c.x, c.y, c.positive) for c in prompt.clicks]
                rec = self.store.set_mask(
                    frame, oid, mask, "user", clicks=clicks, score=float(upd.mask.score)
                )
                self.prompt_by_record[rec] = prompt
                self._prompted.add((frame, oid))
        self._clear_candidates(frame, oid)
        self._after_correction(oid, frame)
        self.history_changed.emit()

    def paint_stroke(self, points: list[tuple[float, float]], radius: float, erase: bool) -> None:
        """A brush or eraser stroke on the selected object's mask; the result is the correction."""
        if self.store is None or not points:
            return
        if not self.selected and erase:
            return
        self._stop_auto()
        oid = self._ensure_object()
        f = self.current
        base = self.store.get_mask(f, oid)
        if base is None:
            base = np.zeros((self.source.height, self.source.width), bool)
        stroke = np.zeros(base.shape, np.uint8)
        r = max(1, round(radius))
        pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
        for p in pts:
            cv2.circle(stroke, (int(p[0]), int(p[1])), r, 1, -1)
        if len(pts) > 1:
            cv2.polylines(stroke, [pts.reshape(-1, 1, 2)], False, 1, thickness=2 * r)
        mask = base & ~stroke.astype(bool) if erase else base | stroke.astype(bool)
        self.set_user_mask(oid, f, mask, "Erase" if erase else "Brush")

    def set_user_mask(self, oid: int, frame: int, mask: np.ndarray, label: str) -> None:
        """Store an edited mask now (exactly as drawn) and give it to SAM2 as a mask prompt."""
        with self.store.group(label):
            mask = self._resolve_overlap(frame, oid, mask, yield_to_all=True)
            rec = self.store.set_mask(frame, oid, mask, "user")
        prompt = Prompt(mask=mask)
        self.prompt_by_record[rec] = prompt
        self._seeds.discard(frame, oid)
        self._prompted.add((frame, oid))
        self._clear_candidates(frame, oid)
        if self.model_ready:
            self.engine.call(
                self.engine.state.prompt, oid, frame, prompt, self.lora_on, kind="prompt", label=label
            )
            self._after_correction(oid, frame)
        self.history_changed.emit()

    def _resolve_overlap(self, frame: int, oid: int, mask: np.ndarray, yield_to_all: bool) -> np.ndarray:
        """With "no overlap" on: an edit takes its pixels from the other objects (``yield_to_all``);
        a tracked mask gives way to objects listed before it and to every user or LoRA mask."""
        if not self.settings.get("edit/no_overlap") or self.store is None:
            return mask
        mask = np.asarray(mask, bool)
        order = [o.id for o in self.store.objects]
        for other, rec in self.store.records_for_frame(frame).items():
            if other == oid:
                continue
            other_mask = rec.decode()
            if not (other_mask & mask).any():
                continue
            if yield_to_all:
                self.store.set_record(
                    frame,
                    other,
                    MaskRecord.from_mask(other_mask & ~mask, rec.provenance, rec.clicks, rec.score),
                )
            elif rec.provenance.kind != "sam2" or order.index(other) < order.index(oid):
                mask = mask & ~other_mask
        return mask

    def _prompt_for(self, rec: MaskRecord | None) -> Prompt:
        """The tracker prompt a store record stands for (see the module docstring)."""
        if rec is None or rec.provenance.kind == "sam2":
            return Prompt()
        p = self.prompt_by_record.get(rec)
        if p is not None:
            return p
        return Prompt(mask=rec.decode())

    # ================================================================== undo / redo
    def undo(self) -> None:
        if self.store is None:
            return
        self._stop_auto()
        while self.store.can_undo and (self.store.undo_label or "").startswith(AUTO_PREFIX):
            self.store.undo()
        if self.store.can_undo:
            label = self.store.undo_label
            self.store.undo()
            self.message.emit(f"Undid: {label}")
        self.history_changed.emit()

    def redo(self) -> None:
        if self.store is None:
            return
        self._stop_auto()
        if self.store.can_redo:
            label = self.store.redo_label
            self.store.redo()
            while self.store.can_redo and (self.store.redo_label or "").startswith(AUTO_PREFIX):
                self.store.redo()
            self.message.emit(f"Redid: {label}")
        self.history_changed.emit()

    def undo_text(self) -> str:
        if self.store is None:
            return ""
        for step in reversed(self.store.snapshot().undo):
            if not step.label.startswith(AUTO_PREFIX):
                return step.label
        return self.store.undo_label or ""

    def _on_store_change(self, change: StoreChange) -> None:
        if change.objects:
            self._reconcile_objects(change.objects)
        if change.reason in ("undo", "redo") and self.store is not None and self.model_ready:
            self._sync_after_history(change)
        self.invalidate_lanes(set(change.masks))
        if change.objects:
            self.invalidate_lanes()
        self._dirty.add("objects" if change.objects else "masks")
        if any(f == self.current for f, _ in change.masks) or change.objects:
            self._dirty.add("overlay")
        self._dirty_timer.start()

    def _sync_after_history(self, change: StoreChange) -> None:
        """After an undo or redo, make the tracker's prompts match the store: the records are listed
        here (no decoding); a few are given at once, many go to the background seeding."""
        live = {o.id for o in self.store.objects}
        seeds = []
        for f, oid in change.masks:
            if oid not in live:
                continue
            rec = self.store.get_record(f, oid)
            if rec is None or rec.provenance.kind == "sam2":
                if (f, oid) not in self._prompted:
                    continue
                self._prompted.discard((f, oid))
                seeds.append((f, oid, Prompt()))
            else:
                self._prompted.add((f, oid))
                seeds.append((f, oid, self.prompt_by_record.get(rec, rec)))
        if len(seeds) <= SYNC_AT_ONCE:
            for f, oid, _ in seeds:
                self._seeds.discard(f, oid)
            if seeds:
                self.engine.call(apply_seeds, self.engine.state, seeds, kind="sync", label="sync prompts")
        else:
            self._queue_seeds(seeds)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if "objects" in dirty:
            if self.store is not None and self.selected not in {o.id for o in self.store.objects}:
                objs = self.store.objects
                self.selected = objs[0].id if objs else 0
                self.selection_changed.emit(self.selected)
            self.objects_changed.emit()
        if "overlay" in dirty:
            self.overlay_changed.emit()
        self.timeline_changed.emit()
        self.history_changed.emit()

    # ================================================================== what widgets render
    def visible_masks(
        self, frame: int | None = None
    ) -> list[tuple[int, tuple[int, int, int], np.ndarray, bool]]:
        """[(object id, colour, mask, selected)] of the shown frame, hidden objects left out."""
        if self.store is None:
            return []
        frame = self.current if frame is None else frame
        recs = self.store.records_for_frame(frame)
        out = []
        for info in self.store.objects:
            rec = recs.get(info.id)
            if rec is None or info.hidden:
                continue
            out.append((info.id, info.color, rec.decode(), info.id == self.selected))
        return out

    def stats(self) -> dict[str, Any]:
        """What the status bar shows."""
        lora = self.lora_counts.get(self.selected, (0, 0, 0))
        return {
            "device": self.loaded.device.label if self.loaded else "—",
            "model": self.loaded.name if self.loaded else "no model",
            "frame_ms": self.frame_ms,
            "samples": lora[0],
            "adapters": lora[1],
            "saved": sum(v[2] for v in self.lora_counts.values()),
        }
