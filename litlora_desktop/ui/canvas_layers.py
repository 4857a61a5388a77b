"""What the canvas draws over the frame: the composed mask overlay, candidate outlines, the SAM2-versus-
candidate split, prompt points and box, and the small text tags on them.

Each is a function of the data it draws, a ``QPainter`` and the view transform (offset and scale); none
keeps state. They live apart from ``canvas.py`` so that the widget keeps only what is interactive
(its content, the view transform, the mouse and the brush) and the drawing can be read on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen

from litlora_desktop.core.sam2.prompts import Click

CANDIDATE_STYLES = (Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
CANDIDATE_COLORS = ((255, 255, 255), (255, 230, 0), (0, 230, 255))
POINT_RADIUS = 6

# (SAM2's mask image, the candidate's mask image, their labels): the compare split's content
CompareView = tuple[QImage | None, QImage | None, str, str]


@dataclass
class CandidateView:
    """A candidate outline to draw: its key, text, mask and style index."""

    key: str
    text: str
    mask: np.ndarray
    style: int = 0


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage that owns its pixels (no dangling numpy buffer)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    # RGB32 is the raster engine's native format: scaling it on every paint needs no conversion.
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )


class _Decodes(Protocol):
    def decode(self) -> np.ndarray: ...


# a mask as an array, or as something that decodes to one (a MaskRecord: decoded where it is composed)
MaskLike = np.ndarray | _Decodes
ShownMask = tuple[int, tuple[int, int, int], MaskLike, bool]  # (object id, colour, mask, selected)

_EDGE_MARGIN = 3  # pixels kept around a mask's box: the erosion (two steps at most) sees what it saw


def compose_overlay(masks: list[ShownMask], opacity: float, outline_only: bool) -> QImage | None:
    """All masks in one RGBA image: fill in each object's colour at ``opacity``, and its outline.

    It decodes and scans every mask at the video's size, so it runs off the GUI thread (the canvas
    hands it to a ``LatestJob``). Each mask is filled and eroded only inside its bounding box (plus a
    margin), which gives the same image as working on the whole frame for a fraction of the time.
    """
    if not masks:
        return None
    arrays = [(color, _as_array(mask), selected) for _, color, mask, selected in masks]
    h, w = arrays[0][1].shape
    rgba = np.zeros((h, w, 4), np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    alpha = round(255 * max(0.0, min(1.0, opacity)))
    for color, mask, selected in arrays:
        rows = np.flatnonzero(mask.any(axis=1))
        if not len(rows):
            continue
        cols = np.flatnonzero(mask.any(axis=0))
        y0, y1 = max(0, rows[0] - _EDGE_MARGIN), min(h, rows[-1] + 1 + _EDGE_MARGIN)
        x0, x1 = max(0, cols[0] - _EDGE_MARGIN), min(w, cols[-1] + 1 + _EDGE_MARGIN)
        m = np.ascontiguousarray(mask[y0:y1, x0:x1])
        out = rgba[y0:y1, x0:x1]
        if not outline_only and alpha:
            out[m] = (*color, alpha)
        edge = m & ~cv2.erode(m.view(np.uint8), kernel, iterations=2 if selected else 1).astype(bool)
        out[edge] = (*color, 255)
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).convertToFormat(
        QImage.Format.Format_ARGB32_Premultiplied
    )


def same_overlay(old: tuple[list[ShownMask], float, bool], new: tuple[list[ShownMask], float, bool]) -> bool:
    """Whether an overlay of ``old`` (masks, opacity, outline only) already shows ``new``: records are
    immutable, so the same record objects mean the same pixels (an array may have changed in place)."""
    (a_masks, a_opacity, a_outline), (b_masks, b_opacity, b_outline) = old, new
    return (
        a_opacity == b_opacity
        and a_outline == b_outline
        and len(a_masks) == len(b_masks)
        and all(
            a[:2] == b[:2] and a[2] is b[2] and a[3] == b[3] and not isinstance(b[2], np.ndarray)
            for a, b in zip(a_masks, b_masks, strict=True)
        )
    )


def _as_array(mask: MaskLike) -> np.ndarray:
    return np.asarray(mask.decode() if hasattr(mask, "decode") else mask, bool)


def mask_path(mask: np.ndarray) -> QPainterPath:
    """The outline of a mask as a path in image coordinates (for dashed candidate outlines)."""
    path = QPainterPath()
    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    for c in contours:
        pts = c.reshape(-1, 2)
        if len(pts) < 2:
            continue
        path.moveTo(float(pts[0][0]) + 0.5, float(pts[0][1]) + 0.5)
        for x, y in pts[1:]:
            path.lineTo(float(x) + 0.5, float(y) + 0.5)
        path.closeSubpath()
    return path


def tag_size(p: QPainter, text: str) -> tuple[float, float]:
    """Width and height of the box :func:`paint_tag` draws around ``text``."""
    fm = p.fontMetrics()
    return fm.horizontalAdvance(text) + 12, fm.height() + 6


def stack_tags(wanted: list[QRectF], bounds: QRectF, gap: float = 2) -> list[QRectF]:
    """The rectangles moved so that none overlaps another and each stays in ``bounds`` where it fits:
    a tag that would cover an earlier one goes just below it (candidates of one object are often
    almost the same mask, so their tags all wanted the same corner and hid each other)."""
    placed: list[QRectF] = []
    for r in wanted:
        r = QRectF(r)
        r.moveLeft(max(bounds.left(), min(r.left(), bounds.right() - r.width())))
        r.moveTop(max(bounds.top(), r.top()))
        moved = True
        while moved:
            moved = False
            for q in placed:
                if r.intersects(q):
                    r.moveTop(q.bottom() + gap)
                    moved = True
        placed.append(r)
    return placed


def paint_tag(
    p: QPainter, at: QPointF, text: str, right_align: bool = False, color: QColor | None = None
) -> None:
    """A label on a dark rounded box at ``at`` (its top-left, or top-right with ``right_align``)."""
    w, h = tag_size(p, text)
    x = at.x() - w if right_align else at.x()
    rect = QRectF(x, at.y(), w, h)
    p.save()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(20, 22, 28, 210))
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(color or QColor(235, 235, 235))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    p.restore()


def paint_compare(p: QPainter, target: QRectF, width: float, height: float, compare: CompareView) -> None:
    """SAM2's mask on the left half of the widget, the candidate's on the right, a divider, two tags."""
    left, right, lt, rt = compare
    mid = width / 2
    for img, clip in (
        (left, QRectF(0, 0, mid, height)),
        (right, QRectF(mid, 0, width - mid, height)),
    ):
        if img is not None:
            p.save()
            p.setClipRect(clip)
            p.drawImage(target, img)
            p.restore()
    p.setPen(QPen(QColor(255, 255, 255), 2))
    p.drawLine(QPointF(mid, 0), QPointF(mid, height))
    paint_tag(p, QPointF(mid - 10, 10), lt, right_align=True)
    paint_tag(p, QPointF(mid + 10, 10), rt)


def paint_candidates(
    p: QPainter,
    candidates: list[tuple[CandidateView, QPainterPath]],
    offset: QPointF,
    scale: float,
    bounds: QRectF,
) -> list[QRectF]:
    """Each candidate's outline (dashed, in its style's colour, over a shadow) and its tag above it,
    the tags stacked so none hides another (:func:`stack_tags`); returns where the tags went."""
    wanted: list[tuple[QRectF, CandidateView, QColor]] = []
    for view, path in candidates:
        col = QColor(*CANDIDATE_COLORS[view.style % len(CANDIDATE_COLORS)])
        p.save()
        p.translate(offset)
        p.scale(scale, scale)
        shadow = QPen(QColor(0, 0, 0, 160), 3.5)
        shadow.setCosmetic(True)
        p.setPen(shadow)
        p.drawPath(path)
        pen = QPen(col, 2, CANDIDATE_STYLES[view.style % len(CANDIDATE_STYLES)])
        pen.setCosmetic(True)
        p.setPen(pen)
        p.drawPath(path)
        p.restore()
        if not path.isEmpty():
            r = path.boundingRect()
            w, h = tag_size(p, view.text)
            wanted.append(
                (QRectF(r.left() * scale + offset.x(), r.top() * scale + offset.y() - 24, w, h), view, col)
            )
    rects = stack_tags([r for r, _, _ in wanted], bounds)
    for r, (_, view, col) in zip(rects, wanted, strict=True):
        paint_tag(p, r.topLeft(), view.text, color=col)
    return rects


def paint_prompts(
    p: QPainter,
    points: list[Click],
    box: tuple[float, float, float, float] | None,
    color: QColor,
    to_widget: Callable[[float, float], QPointF],
) -> None:
    """The prompt box in the selected object's colour, and each click: green plus or red minus."""
    if box is not None:
        x0, y0, x1, y1 = box
        pen = QPen(color, 2)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(to_widget(x0, y0), to_widget(x1, y1)))
    for c in points:
        center = to_widget(c.x, c.y)
        fill = QColor(60, 200, 90) if c.positive else QColor(230, 60, 60)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.setBrush(fill)
        p.drawEllipse(center, POINT_RADIUS, POINT_RADIUS)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        d = POINT_RADIUS - 3
        p.drawLine(center - QPointF(d, 0), center + QPointF(d, 0))
        if c.positive:
            p.drawLine(center - QPointF(0, d), center + QPointF(0, d))
