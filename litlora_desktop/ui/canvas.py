"""The video canvas: the frame, every object's mask, the prompt points, candidate outlines, the brush.

It only draws what it is given and reports what the user did through signals (image coordinates);
it never reaches the tracker or the store. Overlays are composed into one image when the masks change,
so a repaint (zoom, pan, cursor) only blits. What is drawn over the frame is in ``canvas_layers``; the
training progress box is ``training_overlay``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.ui.canvas_layers import (
    CandidateView,
    CompareView,
    MaskLike,
    ShownMask,
    compose_overlay,
    mask_path,
    paint_candidates,
    paint_compare,
    paint_prompts,
    rgb_to_qimage,
    same_overlay,
)
from litlora_desktop.ui.training_overlay import TrainingOverlay
from litlora_desktop.workers.latest import LatestJob

TOOLS = ("points", "brush", "eraser")
HIT_RADIUS = 9


class Canvas(QWidget):
    """See the module docstring. Coordinates in signals are video pixels (floats)."""

    clicked = Signal(float, float, bool)  # x, y, positive
    point_clicked = Signal(int)  # index of the clicked prompt point (to remove it)
    box_drawn = Signal(float, float, float, float)
    stroke_finished = Signal(list, float, bool)  # [(x, y)], radius in video pixels, erase
    brush_size_changed = Signal(int)
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.setAcceptDrops(False)  # the main window takes drops
        self._image: QImage | None = None
        self._img_size: tuple[int, int] | None = None  # (w, h)
        self._masks: list[ShownMask] = []
        self._overlay: QImage | None = None
        self._overlay_of: tuple | None = None  # what the overlay drawn (or being composed) shows
        # composing an overlay decodes and scans every mask at the video's size: never on this thread
        self._overlay_job = LatestJob("overlay", self)
        self._overlay_job.done.connect(self._on_overlay)
        self._compare_job = LatestJob("compare", self)
        self._compare_job.done.connect(self._on_compare)
        self._awaiting: set[str] = set()  # "overlay", "compare": asked for and not yet delivered
        self._points: list[Click] = []
        self._box: tuple[float, float, float, float] | None = None
        self._point_color = QColor(255, 255, 255)
        self._candidates: list[tuple[CandidateView, QPainterPath]] = []
        self.tag_rects: list[QRectF] = []  # where the candidates' tags were last painted (none overlap)
        self._compare: CompareView | None = None
        self.opacity = 0.5
        self.outline_only = False
        self.masks_visible = True
        self.tool = "points"
        self.brush_size = 12
        self.placeholder = "Open a video (Ctrl+O) or drop one here"
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self._fit = True
        self._press: QPointF | None = None
        self._press_button = Qt.MouseButton.NoButton
        self._drag_box: tuple[QPointF, QPointF] | None = None
        self._pan_from: QPointF | None = None
        self._stroke: list[tuple[float, float]] = []
        self._stroke_erase = False
        self._cursor: QPointF | None = None
        self._base: QPixmap | None = None
        self.training_overlay = TrainingOverlay(self)

    # ------------------------------------------------------------------ content
    def set_image(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self._image, self._img_size = None, None
        else:
            size = (rgb.shape[1], rgb.shape[0])
            new_size = size != self._img_size
            self._image, self._img_size = rgb_to_qimage(rgb), size
            if new_size:
                self._fit = True
        if self._fit:
            self._apply_fit()
        self.update()

    def set_masks(self, masks: list[ShownMask]) -> None:
        """The shown frame's masks (arrays or records); the overlay follows when it is composed.

        Until it arrives the previous overlay stays on screen, as the previous frame's image does
        until the frame loader delivers the new one: stepping never flashes an empty frame.
        """
        self._masks = list(masks)
        self._rebuild_overlay()

    def set_points(
        self, points: list[Click], box: tuple[float, float, float, float] | None, color: tuple[int, int, int]
    ) -> None:
        self._points = list(points)
        self._box = box
        self._point_color = QColor(*color)
        super().update()

    def set_candidates(self, cands: list[CandidateView]) -> None:
        self._candidates = [(c, mask_path(c.mask)) for c in cands]
        self.update()

    def set_compare(
        self,
        left: MaskLike | None,
        right: MaskLike | None,
        color: tuple[int, int, int],
        left_text: str,
        right_text: str,
    ) -> None:
        """Split view: ``left`` (SAM2) on the left half, ``right`` (a candidate) on the right half.

        The two mask images are composed off the GUI thread (see ``set_masks``); the split shows once
        they are ready.
        """
        opacity = max(self.opacity, 0.45)

        def img(m: MaskLike | None) -> QImage | None:
            return None if m is None else compose_overlay([(0, color, m, True)], opacity, False)

        self._compare_job.request(lambda: (img(left), img(right), left_text, right_text))
        self._awaiting.add("compare")

    def _on_compare(self, generation: int, compare: CompareView | None) -> None:
        if generation == self._compare_job.generation:
            self._awaiting.discard("compare")
            if compare is not None:
                self._compare = compare
                self.update()

    def clear_compare(self) -> None:
        self._compare_job.cancel()
        self._awaiting.discard("compare")
        if self._compare is not None:
            self._compare = None
            self.update()

    @property
    def comparing(self) -> bool:
        return self._compare is not None

    @property
    def overlay_pending(self) -> bool:
        """An overlay or compare split asked for has not arrived yet: what is drawn is about to change."""
        return bool(self._awaiting)

    def set_display(
        self, opacity: float | None = None, outline_only: bool | None = None, visible: bool | None = None
    ) -> None:
        if opacity is not None:
            self.opacity = max(0.0, min(1.0, opacity))
        if outline_only is not None:
            self.outline_only = outline_only
        if visible is not None:
            self.masks_visible = visible
        self._rebuild_overlay()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(tool)
        self.tool = tool
        self.setCursor(Qt.CursorShape.CrossCursor if tool == "points" else Qt.CursorShape.BlankCursor)
        self.update()

    def set_brush_size(self, size: int) -> None:
        size = max(1, min(200, int(size)))
        if size != self.brush_size:
            self.brush_size = size
            self.brush_size_changed.emit(size)
            self.update()

    def _rebuild_overlay(self) -> None:
        if not self.masks_visible or not self._masks:
            self._overlay_job.cancel()
            self._awaiting.discard("overlay")
            self._overlay, self._overlay_of = None, None
            self.update()
            return
        masks, opacity, outline_only = self._masks, self.opacity, self.outline_only
        if self._overlay_of is not None and same_overlay(self._overlay_of, (masks, opacity, outline_only)):
            return  # a re-render with the same records (a click in flight, a new candidate): nothing to do
        self._overlay_of = (masks, opacity, outline_only)
        self._overlay_job.request(lambda: compose_overlay(masks, opacity, outline_only))
        self._awaiting.add("overlay")

    def _on_overlay(self, generation: int, overlay: QImage | None) -> None:
        if generation == self._overlay_job.generation:
            self._awaiting.discard("overlay")
            self._overlay = overlay
            self.update()

    # ------------------------------------------------------------------ view transform
    @property
    def scale(self) -> float:
        return self._scale

    def to_image(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self._offset.x()) / self._scale, (p.y() - self._offset.y()) / self._scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(x * self._scale + self._offset.x(), y * self._scale + self._offset.y())

    def fit(self) -> None:
        self._fit = True
        self._apply_fit()
        self.update()

    def _apply_fit(self) -> None:
        if self._img_size is None:
            return
        w, h = self._img_size
        m = 8
        s = min((self.width() - 2 * m) / w, (self.height() - 2 * m) / h)
        self._scale = max(0.02, s)
        self._offset = QPointF((self.width() - w * self._scale) / 2, (self.height() - h * self._scale) / 2)
        self.view_changed.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._img_size is None:
            return
        anchor = anchor or QPointF(self.width() / 2, self.height() / 2)
        before = self.to_image(anchor)
        self._scale = max(0.05, min(40.0, self._scale * factor))
        self._offset = QPointF(anchor.x() - before.x() * self._scale, anchor.y() - before.y() * self._scale)
        self._fit = False
        self.view_changed.emit()
        self.update()

    def actual_size(self) -> None:
        self.zoom_by(1.0 / self._scale)

    def view_state(self) -> tuple[float, tuple[float, float] | None]:
        """(scale, image point at the widget's centre); the centre is None while fitted."""
        if self._fit or self._img_size is None:
            return self._scale, None
        c = self.to_image(QPointF(self.width() / 2, self.height() / 2))
        return self._scale, (c.x(), c.y())

    def set_view(self, scale: float, center: tuple[float, float] | None) -> None:
        """Restore a :meth:`view_state` (a None centre fits the frame)."""
        if center is None or self._img_size is None:
            self.fit()
            return
        self._scale = max(0.05, min(40.0, float(scale)))
        self._offset = QPointF(
            self.width() / 2 - center[0] * self._scale, self.height() / 2 - center[1] * self._scale
        )
        self._fit = False
        self.view_changed.emit()
        self.update()

    def resizeEvent(self, event) -> None:
        if self._fit:
            self._apply_fit()
        if self.training_overlay.isVisible():
            self.training_overlay.place()
        super().resizeEvent(event)

    # ------------------------------------------------------------------ painting
    def update(self, *args) -> None:
        if not args:
            self._base = None
        super().update(*args)

    def paintEvent(self, event: QPaintEvent) -> None:
        # The frame, masks and candidate outlines are drawn once into a pixmap per change; moving the
        # brush cursor repaints only the blit and the small things on top. Fewer Python->Qt calls per
        # paint also means fewer waits for the GIL while the model thread works.
        p = QPainter(self)
        dpr = self.devicePixelRatioF()
        if (
            self._base is None
            or self._base.deviceIndependentSize().toSize() != self.size()
            or self._base.devicePixelRatio() != dpr
        ):
            self._base = self._render_base(dpr)
        p.drawPixmap(0, 0, self._base)
        if self._image is None:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        paint_prompts(p, self._points, self._box, self._point_color, self.to_widget)
        self._paint_interaction(p)

    def _render_base(self, dpr: float) -> QPixmap:
        pm = QPixmap(self.size() * dpr)
        pm.setDevicePixelRatio(dpr)
        pm.fill(QColor(30, 31, 34))
        p = QPainter(pm)
        try:
            if self._image is None or self._img_size is None:
                p.setPen(QColor(160, 160, 160))
                f = QFont(p.font())
                f.setPointSize(f.pointSize() + 3)
                p.setFont(f)
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
                return pm
            w, h = self._img_size
            target = QRectF(self._offset.x(), self._offset.y(), w * self._scale, h * self._scale)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._scale < 1.0)
            p.drawImage(target, self._image)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            if self._compare is not None:
                paint_compare(p, target, self.width(), self.height(), self._compare)
            elif self._overlay is not None:
                p.drawImage(target, self._overlay)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            if self._compare is None:
                self.tag_rects = paint_candidates(
                    p, self._candidates, self._offset, self._scale, QRectF(self.rect())
                )
        finally:
            p.end()
        return pm

    def _paint_interaction(self, p: QPainter) -> None:
        if self._drag_box is not None:
            a, b = self._drag_box
            pen = QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(QColor(255, 255, 255, 30))
            p.drawRect(QRectF(a, b).normalized())
        if self._stroke:
            col = QColor(self._point_color)
            if self._stroke_erase:
                col = QColor(0, 0, 0)
            col.setAlpha(110)
            pen = QPen(
                col,
                2 * self.brush_size * self._scale,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )
            p.setPen(pen)
            path = QPainterPath(self.to_widget(*self._stroke[0]))
            for x, y in self._stroke[1:]:
                path.lineTo(self.to_widget(x, y))
            if len(self._stroke) == 1:
                path.lineTo(self.to_widget(*self._stroke[0]) + QPointF(0.01, 0))
            p.drawPath(path)
        if self.tool != "points" and self._cursor is not None:
            r = self.brush_size * self._scale
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(0, 0, 0, 180), 3))
            p.drawEllipse(self._cursor, r, r)
            p.setPen(
                QPen(
                    QColor(255, 255, 255),
                    1.5,
                    Qt.PenStyle.DashLine if self.tool == "eraser" else Qt.PenStyle.SolidLine,
                )
            )
            p.drawEllipse(self._cursor, r, r)

    # ------------------------------------------------------------------ mouse
    def _in_image(self, q: QPointF) -> bool:
        return (
            self._img_size is not None and 0 <= q.x() < self._img_size[0] and 0 <= q.y() < self._img_size[1]
        )

    def point_at(self, pos: QPointF) -> int:
        """Index of the prompt point under a widget position, or -1."""
        for i, c in enumerate(self._points):
            d = self.to_widget(c.x, c.y) - pos
            if d.x() ** 2 + d.y() ** 2 <= HIT_RADIUS**2:
                return i
        return -1

    def mousePressEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        self.setFocus()
        if e.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if self._image is None:
            return
        self._press, self._press_button = pos, e.button()
        if self.tool in ("brush", "eraser") and e.button() in (
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.RightButton,
        ):
            q = self.to_image(pos)
            self._stroke = [(q.x(), q.y())]
            self._stroke_erase = self.tool == "eraser" or e.button() == Qt.MouseButton.RightButton
            self.update()
        elif e.button() == Qt.MouseButton.LeftButton and e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._drag_box = (pos, pos)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        self._cursor = pos
        if self._pan_from is not None:
            d = pos - self._pan_from
            self._pan_from = pos
            self._offset += d
            self._fit = False
            self.view_changed.emit()
        elif self._stroke:
            q = self.to_image(pos)
            self._stroke.append((q.x(), q.y()))
        elif self._drag_box is not None:
            self._drag_box = (self._drag_box[0], pos)
        if self._pan_from is not None:
            self.update()
        else:
            super().update()

    def leaveEvent(self, event) -> None:
        self._cursor = None
        super().update()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        if e.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.set_tool(self.tool)
            return
        if self._stroke:
            stroke, self._stroke = self._stroke, []
            self.stroke_finished.emit(stroke, float(self.brush_size), self._stroke_erase)
            self.update()
            return
        if self._drag_box is not None:
            a, b = self.to_image(self._drag_box[0]), self.to_image(pos)
            self._drag_box = None
            self.update()
            if abs(a.x() - b.x()) >= 2 and abs(a.y() - b.y()) >= 2:
                x0, x1 = sorted((a.x(), b.x()))
                y0, y1 = sorted((a.y(), b.y()))
                w, h = self._img_size
                self.box_drawn.emit(max(0.0, x0), max(0.0, y0), min(w - 1.0, x1), min(h - 1.0, y1))
            return
        if self._press is None or self.tool != "points":
            return
        moved = (pos - self._press).manhattanLength()
        button, self._press = self._press_button, None
        if moved > 4 or button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        hit = self.point_at(pos)
        if hit >= 0:
            self.point_clicked.emit(hit)
            return
        q = self.to_image(pos)
        if self._in_image(q):
            self.clicked.emit(q.x(), q.y(), button == Qt.MouseButton.LeftButton)

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120.0
        if not steps:
            return
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier and self.tool in ("brush", "eraser"):
            self.set_brush_size(round(self.brush_size * (1.15**steps)) + (1 if steps > 0 else -1))
        else:
            self.zoom_by(1.2**steps, e.position())
        e.accept()
