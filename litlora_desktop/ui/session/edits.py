"""The user's edits of a mask on their way into the store and to SAM2: prompts, brush strokes, overlap.

An edit applies to the selected object on the shown frame (an object is made when there is none) and
stops playback and propagation first, so it lands in its own undo step. A click or box becomes a
prompt job on the model thread; until it answers, the prompt is *in flight* and is what the canvas
draws (``current_prompt``). The answer is stored as the user's mask, one undo step, and the tracker
remembers which clicks made it. A brush or eraser stroke is stored at once, exactly as drawn, and
given to SAM2 as a mask prompt. Either is a correction: the cell's LoRA candidates go and, with
LIT-LoRA on, the object trains. With "no overlap" on, an edit takes its pixels from other objects.

Kept apart from the session because an edit has its own state (the prompts in flight) and its own
path through the tracker, the store and the LoRA side; it asks the object list which object, the
transport which frame, and the session whether a model can take a click now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.ui.session.lora import LoraController
from litlora_desktop.ui.session.objects import ObjectList
from litlora_desktop.ui.session.overlap import resolve_overlap
from litlora_desktop.ui.session.prompts import TrackerPrompts
from litlora_desktop.ui.session.transport import Transport
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.outcomes import ObjectUpdate, Prompt


class Editor(QObject):
    """Edits of one video's store; see the module docstring."""

    overlay_changed = Signal()  # a prompt went in flight or came back
    history_changed = Signal()  # an edit is in the store

    def __init__(
        self,
        engine: Engine,
        settings: AppSettings,
        prompts: TrackerPrompts,
        lora: LoraController,
        objects: ObjectList,
        transport: Transport,
        can_prompt: Callable[[], bool],
        has_model: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        """``objects`` and ``transport`` say which object and frame an edit is on (and stop playback
        first); ``can_prompt()`` says whether SAM2 can take a click now, telling the user if not."""
        super().__init__(parent)
        self._engine = engine
        self._settings = settings
        self._prompts = prompts
        self._lora = lora
        self._objects = objects
        self._transport = transport
        self._can_prompt = can_prompt
        self._has_model = has_model
        self._store: AnnotationStore | None = None
        self._inflight: dict[tuple[int, int], Prompt] = {}

    def attach(self, store: AnnotationStore | None) -> None:
        """A new video: prompts in flight on the old one are forgotten."""
        self._store = store
        self._inflight.clear()

    def current_prompt(self, oid: int | None = None, frame: int | None = None) -> Prompt:
        """The click prompt on a cell (what is in flight, else what the store's record was made from);
        the selected object on the shown frame by default."""
        oid = self._objects.selected if oid is None else oid
        frame = self._transport.current if frame is None else frame
        p = self._inflight.get((frame, oid))
        if p is not None:
            return p
        if self._store is None or not oid:
            return Prompt()
        return self._prompts.click_prompt(self._store.get_record(frame, oid))

    # ------------------------------------------------------------------ what the user does
    def click(self, x: float, y: float, positive: bool) -> None:
        """A point prompt for the selected object (a new object is made if there is none)."""
        if not self._can_prompt():
            return
        self._transport.stop()
        oid = self._objects.ensure()
        prev = self.current_prompt(oid)
        p = Prompt(clicks=(*prev.clicks, Click(float(x), float(y), bool(positive))), box=prev.box)
        self.prompt(oid, self._transport.current, p, "Click" if positive else "Negative click")

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A box prompt (any two corners) for the selected object; it replaces the frame's clicks."""
        if not self._can_prompt():
            return
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        self._transport.stop()
        oid = self._objects.ensure()
        self.prompt(oid, self._transport.current, Prompt(box=Box(x0, y0, x1, y1)), "Box")

    def remove_point(self, index: int) -> None:
        """Take one click back (clicking on a drawn point)."""
        oid = self._objects.selected
        if not self._can_prompt() or not oid:
            return
        self._transport.stop()
        prev = self.current_prompt()
        if not 0 <= index < len(prev.clicks):
            return
        clicks = prev.clicks[:index] + prev.clicks[index + 1 :]
        self.prompt(oid, self._transport.current, Prompt(clicks=clicks, box=prev.box), "Remove point")

    def clear_frame(self) -> None:
        """Remove the selected object's prompts and mask on the shown frame."""
        oid = self._objects.selected
        if self._store is None or not oid or not self._has_model():
            return
        self._transport.stop()
        self.prompt(oid, self._transport.current, Prompt(), "Clear frame")

    def paint_stroke(self, points: list[tuple[float, float]], radius: float, erase: bool) -> None:
        """A brush or eraser stroke on the selected object's mask; the result is the correction."""
        if self._store is None or not points:
            return
        if not self._objects.selected and erase:
            return
        self._transport.stop()
        oid = self._objects.ensure()
        f = self._transport.current
        base = self._store.get_mask(f, oid)
        if base is None:
            base = np.zeros((self._store.height, self._store.width), bool)
        stroke = np.zeros(base.shape, np.uint8)
        r = max(1, round(radius))
        pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
        for p in pts:
            cv2.circle(stroke, (int(p[0]), int(p[1])), r, 1, -1)
        if len(pts) > 1:
            cv2.polylines(stroke, [pts.reshape(-1, 1, 2)], False, 1, thickness=2 * r)
        mask = base & ~stroke.astype(bool) if erase else base | stroke.astype(bool)
        self.set_user_mask(oid, f, mask, "Erase" if erase else "Brush")

    # ------------------------------------------------------------------ on their way to the store
    def prompt(self, oid: int, frame: int, prompt: Prompt, label: str) -> None:
        """Give SAM2 a click/box prompt (an empty one clears the cell); the answer is stored."""
        self._prompts.discard(frame, oid)  # this prompt replaces a queued seed of the frame
        tracked = self._was_tracked(frame, oid)
        self._inflight[(frame, oid)] = prompt
        self.overlay_changed.emit()
        self._send(
            oid,
            frame,
            prompt,
            label,
            tracked,
            on_result=lambda upd: self._prompt_done(oid, frame, prompt, label, upd),
            on_done=lambda: self._inflight_done(frame, oid, prompt),
        )

    def _send(
        self,
        oid: int,
        frame: int,
        prompt: Prompt,
        label: str,
        tracked: bool,
        on_result: Callable[[ObjectUpdate], None] | None = None,
        **callbacks: Any,
    ) -> None:
        """The prompt to the model thread; with LIT_LoRA on it is also a correction to learn from
        (``tracked``: of a mask SAM2 tracked, maybe before this session, read before the store
        changed). A correction that taught LIT-LoRA nothing is said, with why, after ``on_result``."""

        def done(upd: ObjectUpdate) -> None:
            if on_result is not None:
                on_result(upd)
            if upd.unlearned and tracked:
                self._lora.not_learned(frame, upd.unlearned, loading=len(self._prompts.queue) > 0)

        self._engine.call(
            self._engine.state.prompt,
            oid,
            frame,
            prompt,
            self._lora.enabled,
            tracked,
            kind="prompt",
            label=label,
            on_result=done,
            **callbacks,
        )

    def _inflight_done(self, frame: int, oid: int, prompt: Prompt) -> None:
        if self._inflight.get((frame, oid)) is prompt:
            del self._inflight[(frame, oid)]
            self.overlay_changed.emit()

    def _was_tracked(self, frame: int, oid: int) -> bool:
        """Whether the cell holds a tracked mask, so that a prompt there corrects it (a first click on
        an empty cell, or another click on one's own, is no correction)."""
        held = self._store.get_record(frame, oid) if self._store is not None else None
        return held is not None and held.provenance.kind in ("sam2", "lora")

    def _prompt_done(self, oid: int, frame: int, prompt: Prompt, label: str, upd: ObjectUpdate) -> None:
        store = self._store
        if store is None or oid not in {o.id for o in store.objects}:
            return
        with store.group(label):
            if prompt.kind == "none":
                store.delete_mask(frame, oid)
                self._prompts.forget(frame, oid)
            else:
                mask = resolve_overlap(self._settings, store, frame, oid, upd.mask.mask, yield_to_all=True)
                clicks = [(c.x, c.y, c.positive) for c in prompt.clicks]
                rec = store.set_mask(frame, oid, mask, "user", clicks=clicks, score=float(upd.mask.score))
                self._prompts.remember(frame, oid, rec, prompt)
        self._lora.clear_candidates(frame, oid)
        self._lora.after_correction(oid)
        self.history_changed.emit()

    def set_user_mask(self, oid: int, frame: int, mask: np.ndarray, label: str) -> None:
        """Store an edited mask now (exactly as drawn) and give it to SAM2 as a mask prompt."""
        store = self._store
        tracked = self._was_tracked(frame, oid)
        with store.group(label):
            mask = resolve_overlap(self._settings, store, frame, oid, mask, yield_to_all=True)
            rec = store.set_mask(frame, oid, mask, "user")
        prompt = Prompt(mask=mask)
        self._prompts.remember(frame, oid, rec, prompt)
        self._prompts.discard(frame, oid)
        self._lora.clear_candidates(frame, oid)
        if self._has_model():
            self._send(oid, frame, prompt, label, tracked)
            self._lora.after_correction(oid)
        self.history_changed.emit()
