"""Brush and eraser edit the selected object's mask; the edit is the correction; no-overlap option."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from tests.ui.test_main_window import canvas_point, click, idle, key

pytestmark = pytest.mark.gui


def drag(qtbot, w, pts, button=Qt.MouseButton.LeftButton):
    qp = [canvas_point(w, x, y) for x, y in pts]
    qtbot.mousePress(w.canvas, button, pos=qp[0])
    for p in qp[1:]:
        qtbot.mouseMove(w.canvas, p)
    qtbot.mouseRelease(w.canvas, button, pos=qp[-1])


def test_brush_and_eraser_edit_the_mask_and_prompt_sam2(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)
    key(qtbot, w, Qt.Key.Key_B)
    assert w.canvas.tool == "brush"
    w.canvas.set_brush_size(4)
    drag(qtbot, w, [(10, 20), (40, 20), (60, 20)])
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None)
    m = s.store.get_mask(0, 1)
    assert m[20, 10] and m[20, 40] and m[20, 60] and m[16, 30] and not m[20, 70] and not m[5, 30]
    assert s.store.get_record(0, 1).provenance.kind == "user"
    idle(qtbot, w)
    assert s.engine.state.tracker.prompts(1)[0].mask is not None  # SAM2 got it as a mask prompt
    key(qtbot, w, Qt.Key.Key_E)
    assert w.canvas.tool == "eraser"
    drag(qtbot, w, [(40, 10), (40, 30)])
    qtbot.waitUntil(lambda: not s.store.get_mask(0, 1)[20, 40])
    m = s.store.get_mask(0, 1)
    assert m[20, 10] and m[20, 60]
    # each stroke is one undo step
    s.undo()
    assert s.store.get_mask(0, 1)[20, 40]


def test_ctrl_wheel_sizes_the_brush(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    key(qtbot, w, Qt.Key.Key_B)
    before = w.canvas.brush_size
    pos = QPointF(canvas_point(w, 40, 20))
    ev = QWheelEvent(
        pos,
        w.canvas.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    w.canvas.wheelEvent(ev)
    assert w.canvas.brush_size > before
    assert int(w.settings.get("brush/size")) == w.canvas.brush_size
    scale = w.canvas.scale
    ev = QWheelEvent(
        pos,
        w.canvas.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    w.canvas.wheelEvent(ev)
    assert w.canvas.scale > scale  # the wheel alone zooms
    size = w.canvas.brush_size
    key(qtbot, w, Qt.Key.Key_BracketLeft)
    assert w.canvas.brush_size < size
    key(qtbot, w, Qt.Key.Key_BracketRight)
    assert w.canvas.brush_size >= size


def test_no_overlap_takes_pixels_from_other_objects(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, settings={"edit/no_overlap": True})
    s = w.session
    assert w.actions_by_id["edit.no_overlap"].isChecked()
    a = np.zeros((48, 80), bool)
    a[10:30, 10:40] = True
    s.add_object()
    s.set_user_mask(1, 0, a, "Brush")
    s.add_object()
    b = np.zeros((48, 80), bool)
    b[20:40, 30:60] = True
    s.set_user_mask(2, 0, b, "Brush")
    m1, m2 = s.store.get_mask(0, 1), s.store.get_mask(0, 2)
    assert not (m1 & m2).any()
    assert m2[25, 35] and not m1[25, 35]
    # with the option off, masks may overlap
    key(qtbot, w, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)
    assert not w.settings.get("edit/no_overlap")
    s.set_user_mask(1, 0, a, "Brush")
    assert (s.store.get_mask(0, 1) & s.store.get_mask(0, 2)).any()


def test_clear_frame_removes_prompts_and_mask(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None)
    key(qtbot, w, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is None)
    idle(qtbot, w)
    assert s.engine.state.tracker.prompts(1) == {}
