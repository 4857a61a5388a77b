"""The frame scrubber and one lane per object showing, per frame, where its mask came from."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget
from superqt import QLabeledSlider

from litlora_desktop.core.annotations.store import TimelineCode

NAME_WIDTH = 120
LANE_HEIGHT = 16
LANE_GAP = 3

# What each per-frame status looks like, independent of the object's colour so the lanes read alike.
STATUS_COLORS: dict[int, tuple[int, int, int, int]] = {
    TimelineCode.NONE: (0, 0, 0, 0),
    TimelineCode.SAM2: (88, 140, 220, 255),  # tracked
    TimelineCode.USER: (250, 204, 21, 255),  # corrected by the user
    TimelineCode.LORA: (60, 200, 120, 255),  # taken from a LoRA candidate
    TimelineCode.IMPORTED: (150, 150, 160, 255),
    TimelineCode.EMPTY: (70, 72, 80, 255),  # tracked, object absent
}
SUSPECT_COLOR = (235, 64, 52, 255)
LEGEND = (
    ("tracked", STATUS_COLORS[TimelineCode.SAM2]),
    ("corrected", STATUS_COLORS[TimelineCode.USER]),
    ("LoRA candidate", STATUS_COLORS[TimelineCode.LORA]),
    ("imported", STATUS_COLORS[TimelineCode.IMPORTED]),
    ("suspect", SUSPECT_COLOR),
)


def format_time(frame: int, fps: float) -> str:
    """mm:ss.ff for a frame index (ff = hundredths)."""
    t = frame / fps if fps > 0 else 0.0
    m, s = divmod(t, 60)
    return f"{int(m):02d}:{s:05.2f}"


def lane_image(codes: np.ndarray, suspect: np.ndarray) -> QImage:
    """A 2-row RGBA strip, one pixel per frame: status on row 1, status or suspect on row 0."""
    n = len(codes)
    lut = np.zeros((max(STATUS_COLORS) + 1, 4), np.uint8)
    for code, col in STATUS_COLORS.items():
        lut[int(code)] = col
    row = lut[np.clip(codes, 0, len(lut) - 1)]
    top = row.copy()
    top[suspect] = SUSPECT_COLOR
    img = np.ascontiguousarray(np.stack([top, row]))
    return QImage(img.data, n, 2, 4 * n, QImage.Format.Format_RGBA8888).copy()


class LanesView(QWidget):
    """Object lanes under the slider; click or drag to seek, click a name to select the object."""

    frame_requested = Signal(int)
    object_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._lanes: list = []
        self._images: list[QImage] = []
        self._n = 0
        self._current = 0
        self._selected = 0
        self._dragging = False
        self.setMouseTracking(False)
        self._update_height()

    def set_lanes(self, lanes: list, num_frames: int) -> None:
        self._lanes = list(lanes)
        self._n = num_frames
        self._images = [lane_image(lane.codes, lane.suspect) for lane in self._lanes]
        self._update_height()
        self.update()

    def set_current(self, frame: int) -> None:
        self._current = frame
        self.update()

    def set_selected(self, oid: int) -> None:
        self._selected = oid
        self.update()

    @property
    def hint(self) -> str:
        """What the empty lanes say: how to start, once there is a video to start on (without one the
        canvas says to open one, and N would do nothing)."""
        if self._lanes or self._n <= 0:
            return ""
        return "No objects yet: press N, then click on the object."

    def _update_height(self) -> None:
        rows = max(1, len(self._lanes))
        self.setFixedHeight(rows * (LANE_HEIGHT + LANE_GAP) + LANE_GAP + 18)

    def sizeHint(self) -> QSize:
        return QSize(600, self.height())

    def _bar_rect(self) -> QRectF:
        return QRectF(NAME_WIDTH, 0, max(1.0, self.width() - NAME_WIDTH - 8), self.height() - 18)

    def frame_at(self, x: float) -> int:
        bar = self._bar_rect()
        if self._n <= 0:
            return 0
        u = (x - bar.left()) / bar.width()
        return int(max(0, min(self._n - 1, u * self._n)))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(36, 37, 41))
        bar = self._bar_rect()
        for i, (lane, img) in enumerate(zip(self._lanes, self._images, strict=True)):
            y = LANE_GAP + i * (LANE_HEIGHT + LANE_GAP)
            sel = lane.object_id == self._selected
            if sel:
                p.fillRect(QRectF(0, y - 1, self.width(), LANE_HEIGHT + 2), QColor(60, 62, 70))
            p.fillRect(QRectF(6, y + 3, 10, LANE_HEIGHT - 6), QColor(*lane.color))
            p.setPen(QColor(240, 240, 240) if sel else QColor(180, 180, 180))
            name = lane.name + (" (hidden)" if lane.hidden else "")
            p.drawText(
                QRectF(22, y, NAME_WIDTH - 26, LANE_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter,
                p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, NAME_WIDTH - 26),
            )
            p.fillRect(QRectF(bar.left(), y, bar.width(), LANE_HEIGHT), QColor(48, 50, 56))
            p.drawImage(QRectF(bar.left(), y, bar.width(), LANE_HEIGHT), img)
        if self._n > 0:
            x = bar.left() + (self._current + 0.5) / self._n * bar.width()
            pen = QPen(QColor(255, 255, 255), 2)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)  # ends at the bar: no dot over the legend
            p.setPen(pen)
            p.drawLine(int(x), 0, int(x), int(bar.height()))
        if self.hint:  # over the cursor, on its own background, so the cursor never cuts a word
            box = QRectF(8, 0, self.width() - 16, bar.height())
            text = p.boundingRect(box, Qt.AlignmentFlag.AlignVCenter, self.hint)
            p.fillRect(QRectF(text.left() - 4, 0, text.width() + 8, bar.height()), QColor(36, 37, 41))
            p.setPen(QColor(140, 140, 140))
            p.drawText(box, Qt.AlignmentFlag.AlignVCenter, self.hint)
        # legend
        p.setPen(QColor(170, 170, 170))
        x = bar.left()
        ly = self.height() - 15
        for text, col in LEGEND:
            p.fillRect(QRectF(x, ly + 3, 10, 8), QColor(*col))
            p.drawText(QRectF(x + 14, ly - 1, 200, 16), Qt.AlignmentFlag.AlignVCenter, text)
            x += 24 + p.fontMetrics().horizontalAdvance(text)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        if pos.x() < NAME_WIDTH:
            row = int((pos.y() - LANE_GAP) // (LANE_HEIGHT + LANE_GAP))
            if 0 <= row < len(self._lanes):
                self.object_clicked.emit(self._lanes[row].object_id)
            return
        self._dragging = True
        self.frame_requested.emit(self.frame_at(pos.x()))

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._dragging:
            self.frame_requested.emit(self.frame_at(e.position().x()))

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._dragging = False


class Timeline(QWidget):
    """Labelled frame slider, time readout and the object lanes."""

    frame_requested = Signal(int)
    object_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = 24.0
        self.num_frames = 0
        self.slider = QLabeledSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self._slider_moved)
        self.time_label = QLabel("00:00.00 / 00:00.00", self)
        self.time_label.setMinimumWidth(150)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.lanes = LanesView(self)
        self.lanes.frame_requested.connect(self.frame_requested)
        self.lanes.object_clicked.connect(self.object_clicked)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Frame", self))
        top.addWidget(self.slider, 1)
        top.addWidget(self.time_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.lanes)

    def set_video(self, num_frames: int, fps: float) -> None:
        self.num_frames, self.fps = num_frames, fps or 24.0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, num_frames - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.set_current(0)

    def set_current(self, frame: int) -> None:
        if self.slider.value() != frame:
            self.slider.blockSignals(True)
            self.slider.setValue(frame)
            self.slider.blockSignals(False)
        end = max(0, self.num_frames - 1)
        self.time_label.setText(f"{format_time(frame, self.fps)} / {format_time(end, self.fps)}")
        self.lanes.set_current(frame)

    def _slider_moved(self, value: int) -> None:
        self.frame_requested.emit(int(value))
