"""Decoding frames for display off the GUI thread.

A seek in a long video can take tens of milliseconds, so the canvas asks this loader for a frame and
draws it when it arrives. Only the latest request matters: scrubbing through 500 frames decodes the
few the user stops on, not all of them. The loader is separate from the model thread so a training
epoch never delays showing a frame.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from litlora_desktop.core.video.sources import FrameSource

log = logging.getLogger(__name__)


class FrameLoader(QThread):
    """Latest-request-wins frame decoding; emits ``frame_ready(index, rgb)`` or ``frame_failed``."""

    frame_ready = Signal(int, object)
    frame_failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frame-loader")
        self._cond = threading.Condition()
        self._source: FrameSource | None = None
        self._wanted: int | None = None
        self._stop = False

    def set_source(self, source: FrameSource | None) -> None:
        with self._cond:
            self._source = source
            self._wanted = None

    def request(self, index: int) -> None:
        """Ask for a frame; replaces any request not yet started."""
        with self._cond:
            self._wanted = index
            self._cond.notify()
        if not self.isRunning():
            self.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self.wait(5000)

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and self._wanted is None:
                    self._cond.wait()
                if self._stop:
                    return
                index, self._wanted = self._wanted, None
                source = self._source
            if source is None:
                continue
            try:
                rgb = np.ascontiguousarray(source.frame(index))
            except Exception as exc:  # a damaged frame must not kill the loader
                log.warning("frame %d failed to decode: %s", index, exc)
                self.frame_failed.emit(index, str(exc))
                continue
            self.frame_ready.emit(index, rgb)
