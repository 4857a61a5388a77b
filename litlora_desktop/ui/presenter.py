"""What the session says, shown in the window's widgets: the canvas's masks, prompts, candidate outlines
and compare split, the timeline, the objects and candidates panels, the undo/redo and LIT-LoRA actions,
the status bar's labels and the training box.

``SessionPresenter`` is owned by ``MainWindow`` and kept apart from it because it runs one way only
(session state in, widget state out) and is coalesced: however many signals ask for an overlay render
in one turn of the event loop, it renders once. The window builds the widgets and turns the user's
input into session calls; it asks the presenter for a refresh where its own changes need one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from litlora_desktop.ui.canvas_layers import CandidateView
from litlora_desktop.ui.session.history import AUTO_PREFIX
from litlora_desktop.ui.shortcuts import ACTIONS
from litlora_desktop.ui.window_actions import LORA_TIP, icon
from litlora_desktop.ui.words import count, short_name

if TYPE_CHECKING:
    from litlora_desktop.ui.candidates_panel import CandidatesPanel
    from litlora_desktop.ui.canvas import Canvas
    from litlora_desktop.ui.objects_panel import ObjectsPanel
    from litlora_desktop.ui.session import AnnotationSession
    from litlora_desktop.ui.timeline import Timeline

TRAINING_SHOWN_MS = 4000  # how long a finished training stays on screen when no other one follows


class SessionPresenter(QObject):
    """Renders the session into the widgets it is given (see the module docstring)."""

    def __init__(
        self,
        session: AnnotationSession,
        canvas: Canvas,
        timeline: Timeline,
        objects_panel: ObjectsPanel,
        candidates_panel: CandidatesPanel,
        actions: dict[str, QAction],
        status_labels: dict[str, QLabel],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._canvas = canvas
        self._timeline = timeline
        self._objects = objects_panel
        self._candidates = candidates_panel
        self._actions = actions
        self._labels = status_labels
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.render_now)
        s = session
        s.image_changed.connect(lambda _i, rgb: canvas.set_image(rgb))
        s.frame_changed.connect(self._on_frame)
        s.overlay_changed.connect(self.schedule_render)
        s.objects_changed.connect(self.refresh_objects)
        s.selection_changed.connect(self._on_selection)
        s.timeline_changed.connect(self.refresh_timeline)
        s.history_changed.connect(self.refresh_history)
        s.stats_changed.connect(self.refresh_status)
        s.playing_changed.connect(self._on_playing)
        s.propagating_changed.connect(self._on_propagating)
        s.lora_changed.connect(self._on_lora)
        s.training_changed.connect(self._on_training)
        s.candidates_changed.connect(self.schedule_render)
        s.busy_changed.connect(self._on_busy)
        s.model_changed.connect(self._on_model)
        s.engine.model_loading.connect(lambda spec: status_labels["model"].setText(f"loading {spec}…"))

    def refresh_all(self) -> None:
        self.refresh_objects()
        self.refresh_timeline()
        self.refresh_history()
        self.refresh_status()
        self.schedule_render()
        self.refresh_lora_action()

    # ------------------------------------------------------------------ canvas
    def schedule_render(self) -> None:
        """Schedule one overlay render for this turn of the event loop, however many asked for it."""
        if not self._render_timer.isActive():
            self._render_timer.start()

    def render_now(self) -> None:
        """Give the canvas and the candidates panel what the session says about the shown frame."""
        self._render_timer.stop()
        s, canvas = self._session, self._canvas
        canvas.set_masks(s.visible_records())  # decoded where the overlay is composed, off this thread
        color = (255, 255, 255)
        if s.store is not None and s.selected:
            color = s.store.object(s.selected).color
        p = s.current_prompt()
        box = (p.box.x0, p.box.y0, p.box.x1, p.box.y1) if p.box is not None else None
        canvas.set_points(list(p.clicks), box, color)
        cands = s.current_candidates()
        keys = self._candidates.keys
        canvas.set_candidates(
            [
                CandidateView(
                    keys[i] if i < len(keys) else "",
                    f"{keys[i] if i < len(keys) else ''} · {c.adapter} {c.confidence:.0%}",
                    c.mask,
                    i,
                )
                for i, c in enumerate(cands[:3])
            ]
        )
        compare = self._actions["lora.compare"].isChecked() and bool(cands)
        if compare:
            sam = s.store.get_record(s.current, s.selected) if s.store is not None else None
            top = cands[0]
            canvas.set_compare(sam, top.mask, color, "SAM2", f"LoRA {top.adapter} · {top.confidence:.0%}")
        else:
            canvas.clear_compare()
        self._candidates.set_candidates(
            s.candidates.get((s.current, s.selected), []), s.lora_on, hidden=not s.candidates_visible
        )

    def _on_frame(self, frame: int) -> None:
        self._timeline.set_current(frame)
        compare = self._actions["lora.compare"]
        if compare.isChecked() and not self._session.current_candidates():
            compare.setChecked(False)

    def _on_training(self, p: Any) -> None:
        s = self._session
        name = (
            s.store.object(p.object_id).name
            if s.store is not None and p.object_id in {o.id for o in s.store.objects}
            else f"object {p.object_id}"
        )
        self._canvas.training_overlay.show_progress(
            name, p.adapter, p.epoch, p.max_epochs, p.best_iou if p.finished else p.iou, p.finished
        )
        if p.finished:
            QTimer.singleShot(TRAINING_SHOWN_MS, self._hide_training_if_idle)

    def _hide_training_if_idle(self) -> None:
        if not self._session.training_active:
            self._canvas.training_overlay.hide()

    # ------------------------------------------------------------------ panels and timeline
    def refresh_objects(self) -> None:
        s = self._session
        infos = s.store.objects if s.store is not None else []
        details = {oid: f"LIT-LoRA: {n} samples, {a} adapters" for oid, (n, a, _) in s.lora_counts.items()}
        self._objects.set_objects(infos, s.selected, details)
        self.refresh_lora_action()
        self.schedule_render()

    def _on_selection(self, oid: int) -> None:
        self._objects.set_selected(oid)
        self._timeline.lanes.set_selected(oid)
        self.schedule_render()
        self.refresh_status()

    def refresh_timeline(self) -> None:
        s = self._session
        self._timeline.lanes.set_lanes(s.lanes(), s.num_frames)
        self._timeline.lanes.set_selected(s.selected)

    # ------------------------------------------------------------------ actions
    def refresh_history(self, full: bool = False) -> None:
        """Enable undo/redo; the label names the user step undo takes back (``full`` scans the history,
        which copies it: only when the Edit menu opens, not after every tracked frame)."""
        s = self._session
        st = s.store
        undo, redo = self._actions["edit.undo"], self._actions["edit.redo"]
        undo.setEnabled(bool(st is not None and st.can_undo))
        redo.setEnabled(bool(st is not None and st.can_redo))
        top = st.undo_label if st is not None else None
        label = s.undo_text() if full else (top if top and not top.startswith(AUTO_PREFIX) else "")
        undo.setText(f"Undo {label}" if label else "Undo")
        redo.setText(f"Redo {st.redo_label}" if st is not None and st.redo_label else "Redo")

    def refresh_lora_action(self) -> None:
        act = self._actions["lora.toggle"]
        why = self._session.lora_unavailable_reason()
        act.setEnabled(not why or self._session.lora_on)
        act.setToolTip(why or LORA_TIP)

    def _on_lora(self, on: bool) -> None:
        act = self._actions["lora.toggle"]
        act.blockSignals(True)
        act.setChecked(on)
        act.blockSignals(False)
        act.setIcon(icon("lora-on" if on else "lora-off"))
        act.setText("LIT_LoRA on" if on else "LIT_LoRA")
        self.refresh_status()
        self.schedule_render()

    def _on_playing(self, on: bool) -> None:
        self._actions["nav.play"].setIcon(icon("pause" if on else "play"))

    def _on_propagating(self, on: bool) -> None:
        for aid in ("nav.propagate", "nav.propagate_object"):
            self._actions[aid].setText("Stop propagating" if on else ACTIONS[aid].label)

    # ------------------------------------------------------------------ status bar
    def refresh_status(self) -> None:
        s = self._session
        st = s.stats()
        lab = self._labels
        # no "Device:"/"Model:" words (their tooltips say it): the message beside them needs the room
        lab["device"].setText(st["device"])
        lab["model"].setText(st["model"])
        lab["frame_ms"].setText(f"Frame: {st['frame_ms']:.0f} ms")
        whose = short_name(st["object"]) if st["object"] is not None else "All objects"
        lab["lora"].setText(f"{whose}: {count(st['adapters'], 'adapter')} · {count(st['samples'], 'sample')}")
        # LIT-LoRA's fields only where LIT-LoRA is at work: off and unused, they took the room of the
        # message the user reads
        used = s.lora_on or any(any(c) for c in s.lora_counts.values())
        lab["lora"].setVisible(used)
        lab["saved"].setVisible(used)
        per_object = [
            f"{s.store.object(oid).name}: {n} samples, {a} adapters, {saved} candidates accepted"
            for oid, (n, a, saved) in s.lora_counts.items()
            if s.store is not None and oid in {o.id for o in s.store.objects}
        ]
        lab["lora"].setToolTip(
            "\n".join(
                [
                    "LIT-LoRA adapters and correction samples of the selected object (all, none selected)",
                    *per_object,
                ]
            )
        )
        lab["saved"].setText(f"Accepted: {st['saved']}")
        lab["saved"].setToolTip(
            "LoRA candidates accepted instead of correcting by hand, all objects: each is a correction saved"
        )
        if s.loaded is not None:
            lab["device"].setToolTip(f"Device: {s.loaded.device.message}")

    def _on_model(self, _loaded: Any) -> None:
        self.refresh_status()
        self.refresh_lora_action()

    def _on_busy(self, busy: bool) -> None:
        lab = self._labels["busy"]
        lab.setText("● working" if busy else "")
        lab.setStyleSheet("color: #e0b040;" if busy else "")
        lab.setToolTip("The model thread is tracking or training; the window stays usable.")
