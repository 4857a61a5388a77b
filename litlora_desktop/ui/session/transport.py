"""Moving through the video: the shown frame and its image, stepping, playing, propagating.

Stepping moves the view at once and queues the frames passed over for tracking; playing steps one
frame per tick, paced by tracking (it never queues ahead of the model) and pauses on a frame whose
mask looks wrong; propagating tracks to the end (or start) in the background, the view following it.

Kept apart from the session because it is the one owner of the shown frame (``current``) and of the
play timer: everything else reads the frame from here, and stopping playback and propagation before
an edit (``stop``) is one call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui.session.lanes import LaneModel
from litlora_desktop.ui.session.prompts import TrackerPrompts
from litlora_desktop.ui.session.tracking import Tracking
from litlora_desktop.workers.engine import Engine
from litlora_desktop.workers.frames import FrameLoader


class Transport(QObject):
    """The shown frame and playback over one video; see the module docstring."""

    frame_changed = Signal(int)
    image_changed = Signal(int, object)  # frame index, RGB array
    overlay_changed = Signal()  # the shown frame changed: so do its masks
    playing_changed = Signal(bool)
    message = Signal(str)

    def __init__(
        self,
        engine: Engine,
        loader: FrameLoader,
        tracking: Tracking,
        prompts: TrackerPrompts,
        lanes: LaneModel,
        has_model: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._loader = loader
        self._tracking = tracking
        self._prompts = prompts
        self._lanes = lanes
        self._has_model = has_model
        self._source: FrameSource | None = None
        self.current = 0
        self.image: tuple[int, np.ndarray] | None = None  # the shown frame's image, once decoded
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._play_tick)
        loader.frame_ready.connect(self._on_image)
        tracking.reached.connect(self.go_to)

    def close(self) -> None:
        """The session closes: the play timer stops (no signal: nothing listens any more)."""
        self._timer.stop()

    def attach(self, source: FrameSource) -> None:
        """A new video: frame 0, no image yet."""
        self._source = source
        self.current = 0
        self.image = None

    @property
    def _last(self) -> int:
        return self._source.num_frames - 1 if self._source is not None else -1

    def go_to(self, frame: int) -> None:
        """Show a frame (no tracking)."""
        if self._source is None:
            return
        frame = max(0, min(int(frame), self._last))
        if frame == self.current and self.image is not None and self.image[0] == frame:
            return
        self.current = frame
        self._prompts.recenter(frame)
        self._loader.request(frame)
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
        if self._source is None or not delta:
            return
        target = max(0, min(self.current + delta, self._last))
        if target == self.current:
            return
        start = self.current
        self.go_to(target)
        if self._has_model():
            self._tracking.track(start, target)

    # ------------------------------------------------------------------ playing
    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def toggle_play(self) -> None:
        if self._timer.isActive():
            self.pause()
            return
        if self._source is None:
            return
        if self.current >= self._last:
            self.go_to(0)
        fps = self._source.fps or 24.0
        self._timer.start(max(1, int(1000 / fps)))
        self.playing_changed.emit(True)

    def pause(self, why: str = "") -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playing_changed.emit(False)
            if why:
                self.message.emit(why)

    def _play_tick(self) -> None:
        if self._engine.pending("track"):
            return  # paced by tracking: never queue ahead of the model
        if self.current >= self._last:
            self.pause("Reached the last frame.")
            return
        self.step(+1)

    def check_tracked(self, frame: int) -> None:
        """A frame was tracked: playback stops there when its mask looks wrong."""
        if self.playing and self._lanes.is_suspect_frame(frame):
            self.pause(
                f"Paused at frame {frame}: a mask there looks wrong (low confidence or a disagreeing "
                "candidate)."
            )

    def next_suspect(self, direction: int = 1) -> int | None:
        """Go to the next (or previous) frame where a mask looks wrong; None when there is none."""
        idx = self._lanes.suspect_frames()
        if idx is None:
            return None
        cand = idx[idx > self.current] if direction > 0 else idx[idx < self.current][::-1]
        if len(cand) == 0:
            self.message.emit("No suspect frame " + ("after" if direction > 0 else "before") + " this one.")
            return None
        self.go_to(int(cand[0]))
        return int(cand[0])

    # ------------------------------------------------------------------ propagating
    def propagate(self, reverse: bool = False, end: int | None = None, object_id: int | None = None) -> None:
        """Track every prompted object (or only ``object_id``) frame by frame to the end (or start);
        again to stop."""
        if self._tracking.propagating:
            self._tracking.cancel()
            return
        if self._source is None or not self._has_model():
            self.message.emit("Load a model first (Settings ▸ Model).")
            return
        self.pause()
        if end is None:
            end = 0 if reverse else self._last
        if end != self.current:
            self._tracking.propagate(self.current, end, reverse, object_id)

    def stop(self) -> None:
        """Stop playback and propagation (a user edit then lands in its own undo step)."""
        self.pause()
        self._tracking.cancel()
