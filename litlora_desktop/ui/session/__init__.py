"""What the annotator is doing, without any widget: the video, the store, the frame, the selection.

``AnnotationSession`` turns user intents (click here, next frame, undo) into model jobs on the
``Engine`` and writes what comes back into the ``AnnotationStore``; widgets render the store and the
session's signals. It lives on the GUI thread and never waits for the model.

The session opens videos and models and hands each of its parts the new store (or tracker); the parts
do the work, each with its own state, talking to the others through plain calls and Qt signals:

* ``ModelSlot`` (``model.py``): which SAM2 model is in, loading or missing.
* ``Transport`` (``transport.py``): the shown frame, stepping, playing, propagating.
* ``ObjectList`` (``objects.py``): object edits and the selection.
* ``Editor`` (``edits.py``): clicks, boxes and brush strokes on their way to the store and SAM2.
* ``Tracking`` (``tracking.py``): tracked frames into the store; the propagation job.
* ``TrackerPrompts`` (``prompts.py``): what the tracker has been told; seeding a new tracker.
* ``UndoHistory`` (``history.py``): how much one undo takes back; automatic tracking steps.
* ``LoraController`` (``lora.py``): LIT-LoRA: the switch, training, candidates, adapters.
* ``LaneModel`` (``lanes.py``): the timeline's lanes and suspect frames.
* ``SessionProject`` (``project.py``): the store and adapters a project hands the next video.

The session keeps the interface the window uses: its methods pass the work to a part, and the parts'
signals are passed on as the session's, so widgets listen to the session alone.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore, StoreChange
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui.session.edits import Editor
from litlora_desktop.ui.session.history import UndoHistory
from litlora_desktop.ui.session.lanes import Lane, LaneModel
from litlora_desktop.ui.session.lora import LoraController
from litlora_desktop.ui.session.model import ModelSlot
from litlora_desktop.ui.session.objects import ObjectList
from litlora_desktop.ui.session.project import SessionProject, copy_import
from litlora_desktop.ui.session.prompts import TrackerPrompts
from litlora_desktop.ui.session.tracking import Tracking
from litlora_desktop.ui.session.transport import Transport
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.frames import FrameLoader
from litlora_desktop.workers.outcomes import Prompt

if TYPE_CHECKING:
    from litlora_desktop.core.sam2.models import LoadedModel


class AnnotationSession(QObject):
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

    # State the parts own, read through the session (read-only here).
    loaded = property(attrgetter("model_slot.loaded"), doc="The SAM2 model in use (None: none).")
    model_loading = property(attrgetter("model_slot.loading"))
    model_ready = property(attrgetter("model_slot.ready"))
    store_mismatch = property(
        attrgetter("project_link.store_mismatch"), doc="Why a project's store was not used."
    )
    current = property(attrgetter("transport.current"), doc="The shown frame.")
    image = property(attrgetter("transport.image"), doc="(frame, RGB) of the shown frame once decoded.")
    playing = property(attrgetter("transport.playing"))
    propagating = property(attrgetter("tracking.propagating"))
    selected = property(attrgetter("objects.selected"), doc="The selected object (0: none).")
    lora_on = property(attrgetter("lora.enabled"))
    candidates = property(attrgetter("lora.candidates"), doc="LoRA candidates by (frame, object).")
    candidates_visible = property(attrgetter("lora.visible"))
    lora_counts = property(attrgetter("lora.counts"), doc="Object -> (samples, adapters, saved).")
    training = property(attrgetter("lora.training"), doc="Object -> its latest TrainProgress.")
    training_active = property(attrgetter("lora.training_active"))
    seeded = property(attrgetter("prompts.seeded"), doc="Object -> frames a new tracker got as mask prompts.")

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.engine = Engine(self)
        self.loader = FrameLoader(self)
        self.loader.frame_failed.connect(
            lambda i, msg: self.message.emit(f"Frame {i} could not be decoded: {msg}")
        )
        self.engine.video_opened.connect(self._on_video)
        self.engine.video_failed.connect(self._on_video_failed)
        self.model_slot = ModelSlot(self.engine, self)  # hears of a model before any widget does
        self.engine.error.connect(lambda msg: self.problem.emit("Model error", msg))
        self.engine.busy_changed.connect(self.busy_changed)
        self.source: FrameSource | None = None
        self.video_path: str | None = None
        self.store: AnnotationStore | None = None
        self._pending_path: str | None = None
        self._unlisten: Callable[[], None] | None = None
        self._make_parts()
        self._dirty_timer = QTimer(self)
        self._dirty_timer.setSingleShot(True)
        self._dirty_timer.setInterval(0)
        self._dirty_timer.timeout.connect(self._flush)
        self._dirty: set[str] = set()

    def _make_parts(self) -> None:
        """The parts the session owns; their signals are passed on as the session's."""
        settings, engine, stop = self.settings, self.engine, self._stop_auto
        has_model, here = (lambda: self.model_ready), (lambda: self.current)
        self.history = UndoHistory()
        self.project_link = SessionProject()
        self.prompts = prompts = TrackerPrompts(
            engine, has_model, here, lambda oid: self.lora.forget_object(oid)
        )
        self.lora = lora = LoraController(engine, settings, prompts, has_model, here, stop, self)
        self.lane_model = LaneModel(settings, lora.disagrees, lora.disagree_frames)
        self.objects = objects = ObjectList(stop, self)
        self.tracking = tracking = Tracking(engine, settings, self.history, prompts, lora, self)
        self.transport = transport = Transport(
            engine, self.loader, tracking, prompts, self.lane_model, has_model, self
        )
        self.editor = Editor(
            engine, settings, prompts, lora, objects, transport, self._can_prompt, has_model, self
        )
        passed_on = {  # part -> its signals the session passes on under the same name
            self.model_slot: "problem message",
            transport: "frame_changed image_changed overlay_changed playing_changed message",
            objects: "selection_changed overlay_changed stats_changed message",
            lora: "lora_changed training_changed candidates_changed timeline_changed overlay_changed "
            "history_changed message problem",
            self.editor: "overlay_changed history_changed",
            tracking: "propagating_changed",
        }
        for part, names in passed_on.items():
            for name in names.split():
                getattr(part, name).connect(getattr(self, name))
        self.model_slot.arrived.connect(self._on_model)
        self.model_slot.failed.connect(self._on_model_failed)
        lora.counts_changed.connect(self.stats_changed)
        lora.cells_changed.connect(self.lane_model.invalidate)
        tracking.tracked.connect(self.stats_changed)
        tracking.tracked.connect(transport.check_tracked)  # after the stats, as before
        tracking.finished.connect(self.history_changed)
        # candidates a propagation left for later: the shown frame's are asked for once it is shown
        # for its own sake (not while a propagation runs through it) and when the propagation ends
        transport.frame_changed.connect(lambda f: None if tracking.propagating else lora.show_frame(f))
        tracking.finished.connect(lambda: lora.show_frame(self.current))

    # ================================================================== videos and models
    def close(self) -> None:
        """Stop playback and the worker threads; frees the tracker."""
        self.transport.close()
        self.history.close_propagation()
        self.loader.stop()
        self.engine.shutdown()

    def load_model(self, spec: str, device: str | None = None) -> Any:
        """Start loading a model (returns the job, cancellable); ``model_changed`` says when it is in."""
        self._stop_model_work()
        return self.model_slot.load(spec, device)

    def use_model(self, loaded: LoadedModel) -> None:
        self._stop_model_work()
        self.model_slot.use(loaded)

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

    def open_video_with_store(
        self, path: str, store: AnnotationStore | None, adapters: Path | None = None
    ) -> None:
        """Open a video and annotate it into ``store`` (a reopened project's) instead of a new one."""
        self.project_link.expect(store, adapters)
        self.open_video(path)

    def open_source(self, source: FrameSource) -> None:
        self._stop_model_work(new_video=True)
        self._pending_path = None
        self.engine.set_source(source)

    def _on_video(self, source: FrameSource) -> None:
        self.history.close_propagation()  # on the old store, while it is still listened to
        self.source = source
        self.video_path, self._pending_path = self._pending_path, None
        self.store = store = self.project_link.take_store(source) or AnnotationStore(
            source.height, source.width, source.num_frames
        )
        # the parts that follow the store's changes listen before the session (tracker, lanes, widgets)
        for part in (self.history, self.prompts, self.editor, self.tracking, self.lora, self.objects):
            part.attach(store)
        self.transport.attach(source)
        self.lane_model.attach(store, source.num_frames)
        if self._unlisten is not None:
            self._unlisten()
        self._unlisten = store.add_listener(self._on_store_change)
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
        self.prompts.resume()
        name = Path(path).name
        self.problem.emit("Cannot open video", msg if name in msg else f"{name}: {msg}")  # the name once
        self.project_link.open_failed()

    def _on_model(self, loaded: LoadedModel) -> None:
        self._seed_tracker()  # a new model means a new tracker: give it the objects and prompts
        self.model_changed.emit(loaded)
        self.stats_changed.emit()

    def _on_model_failed(self) -> None:
        self.prompts.resume()
        self.model_changed.emit(self.loaded)

    def _seed_tracker(self) -> None:
        """A new tracker gets the store's objects and prompts, and the project's saved adapters."""
        self.prompts.seed_tracker()
        if self.store is not None and self.model_ready:
            self.lora.load_adapters(self.project_link.adapters_folder)

    @property
    def adapters_folder(self) -> Path | None:
        """The project's adapters folder, loaded into each new tracker."""
        return self.project_link.adapters_folder

    @adapters_folder.setter
    def adapters_folder(self, folder: Path | None) -> None:
        self.project_link.adapters_folder = folder

    def save_adapters(self, folder: Path) -> bool:
        """On the model thread: write the adapters into ``folder``; False when there are none."""
        return self.lora.save_adapters(folder)

    # ================================================================== frames (the Transport's)
    @property
    def num_frames(self) -> int:
        return self.source.num_frames if self.source is not None else 0

    def go_to(self, frame: int) -> None:
        self.transport.go_to(frame)

    def step(self, delta: int) -> None:
        self.transport.step(delta)

    def toggle_play(self) -> None:
        self.transport.toggle_play()

    def propagate(self, reverse: bool = False, end: int | None = None, selected_only: bool = False) -> None:
        """Track to the end (start); ``selected_only``: the selected object alone, the others untouched."""
        if selected_only and not self.selected and not self.propagating:
            self.message.emit("Select an object to propagate (1–9, or click it in the Objects list).")
            return
        self.transport.propagate(reverse, end, self.selected if selected_only else None)

    def next_suspect(self, direction: int = 1) -> int | None:
        return self.transport.next_suspect(direction)

    def _stop_auto(self) -> None:
        self.transport.stop()

    # ================================================================== objects (the ObjectList's)
    def add_object(self) -> int:
        return self.objects.add()

    def select(self, oid: int) -> None:
        self.objects.select(oid)

    def select_index(self, index: int) -> None:
        self.objects.select_index(index)

    def rename(self, oid: int, name: str) -> None:
        self.objects.rename(oid, name)

    def recolor(self, oid: int, color: tuple[int, int, int]) -> None:
        self.objects.recolor(oid, color)

    def set_hidden(self, oid: int, hidden: bool) -> None:
        self.objects.set_hidden(oid, hidden)

    def delete_object(self, oid: int) -> None:
        self.objects.delete(oid)

    def commit_import(self, scratch: AnnotationStore, label: str) -> list[Any]:
        """Copy what an importer read into ``scratch`` into the store as one undo step; the imported
        masks become mask prompts of the tracker on their frames. Returns the new objects."""
        if self.store is None:
            return []
        self._stop_auto()
        made = copy_import(self.store, scratch, label)
        self.prompts.seed_objects([new.id for new in made])
        if made and not self.selected:
            self.select(made[0].id)
        self.history_changed.emit()
        return made

    def visible_masks(
        self, frame: int | None = None
    ) -> list[tuple[int, tuple[int, int, int], np.ndarray, bool]]:
        """[(object id, colour, mask, selected)] of the shown frame, hidden objects left out."""
        return self.objects.visible_masks(self.current if frame is None else frame)

    def visible_records(
        self, frame: int | None = None
    ) -> list[tuple[int, tuple[int, int, int], MaskRecord, bool]]:
        """As :meth:`visible_masks`, not decoded (for the canvas, which decodes off the GUI thread)."""
        return self.objects.visible_records(self.current if frame is None else frame)

    # ================================================================== edits (the Editor's)
    def _can_prompt(self) -> bool:
        return self.store is not None and self.model_slot.can_prompt()

    def current_prompt(self, oid: int | None = None, frame: int | None = None) -> Prompt:
        return self.editor.current_prompt(oid, frame)

    def click(self, x: float, y: float, positive: bool) -> None:
        self.editor.click(x, y, positive)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.editor.box(x0, y0, x1, y1)

    def remove_point(self, index: int) -> None:
        self.editor.remove_point(index)

    def clear_frame(self) -> None:
        self.editor.clear_frame()

    def paint_stroke(self, points: list[tuple[float, float]], radius: float, erase: bool) -> None:
        self.editor.paint_stroke(points, radius, erase)

    def set_user_mask(self, oid: int, frame: int, mask: np.ndarray, label: str) -> None:
        self.editor.set_user_mask(oid, frame, mask, label)

    # ================================================================== LIT-LoRA (the LoraController's)
    def lora_unavailable_reason(self) -> str:
        return self.lora.unavailable_reason()

    def set_lora(self, on: bool) -> bool:
        return self.lora.set_enabled(on)

    def apply_auto_settings(self) -> None:
        self.lora.apply_auto_settings()

    def current_candidates(self) -> list[Any]:
        """Candidates of the selected object on the shown frame (empty while hidden)."""
        return self.lora.shown_candidates(self.current, self.selected)

    def accept_candidate(self, index: int) -> bool:
        """Make candidate ``index`` (0 = best) the selected object's mask here, and SAM2's memory."""
        return self.lora.accept(self.current, self.selected, index)

    def keep_sam(self) -> None:
        """Enter: SAM2's mask is right; drop the candidates of this frame."""
        self.lora.keep_sam(self.current, self.selected)

    def toggle_candidates_visible(self) -> None:
        self.lora.toggle_visible()

    # ================================================================== timeline (the LaneModel's)
    def invalidate_lanes(self, cells: set[tuple[int, int]] | None = None) -> None:
        self.lane_model.invalidate(cells)

    def lanes(self) -> list[Lane]:
        return self.lane_model.lanes()

    # ================================================================== undo / redo and store changes
    def undo(self) -> None:
        self._history_step(self.history.undo, "Undid")

    def redo(self) -> None:
        self._history_step(self.history.redo, "Redid")

    def _history_step(self, step: Callable[[], str | None], done: str) -> None:
        if self.store is not None:
            self._stop_auto()
            label = step()
            if label is not None:
                self.message.emit(f"{done}: {label}")
            self.history_changed.emit()

    def undo_text(self) -> str:
        return self.history.undo_text()

    def _on_store_change(self, change: StoreChange) -> None:
        """Widgets hear of store changes once per event-loop turn (``_flush``), however many came."""
        self._dirty.add("objects" if change.objects else "masks")
        self.objects.note_change(change.objects, change.reason in ("undo", "redo"))
        if any(f == self.current for f, _ in change.masks) or change.objects:
            self._dirty.add("overlay")
        self._dirty_timer.start()

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if "objects" in dirty:
            self.objects.settle()
            self.objects_changed.emit()
        if "overlay" in dirty:
            self.overlay_changed.emit()
        self.timeline_changed.emit()
        self.history_changed.emit()

    def stats(self) -> dict[str, Any]:
        """What the status bar shows."""
        counts, loaded = self.lora.counts, self.loaded
        live = {o.id: o.name for o in self.store.objects} if self.store is not None else {}
        counts = {o: c for o, c in counts.items() if o in live}
        # the selected object's counts; with none selected, every object's (not a misleading 0)
        mine = [counts.get(self.selected, (0, 0, 0))] if self.selected in live else list(counts.values())
        return {
            "device": loaded.device.label if loaded else "—",
            "model": loaded.name if loaded else "no model",
            "frame_ms": self.tracking.frame_ms,
            "object": live.get(self.selected),  # None: the counts are all objects'
            "samples": sum(c[0] for c in mine),
            "adapters": sum(c[1] for c in mine),
            "saved": sum(v[2] for v in counts.values()),
        }
