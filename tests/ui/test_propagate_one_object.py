"""Propagate one object (issue 14, item 4): Ctrl+P / Ctrl+Shift+P track only the selected object, and
no tracking (a propagation of one object or all, a step) overwrites a mask the user made, accepted or
imported."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from tests.ui.test_editing import drag
from tests.ui.test_main_window import click, idle, key

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_propagating_the_selected_object_back_leaves_the_other_objects_alone(
    qtbot, window_factory, tiny_model
):
    w = window_factory(tiny_model, num_frames=12)
    s = w.session
    undo = w.actions_by_id["edit.undo"]
    click(qtbot, w, 30, 20)  # object 1 on the first frame, tracked to the end
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == list(range(12))
    first = s.store.records_for_object(1)

    # object 2 appears on the last frame; only it needs back-filling
    key(qtbot, w, Qt.Key.Key_End)
    key(qtbot, w, Qt.Key.Key_N)
    click(qtbot, w, 60, 30)
    qtbot.waitUntil(lambda: s.store.get_record(11, 2) is not None, timeout=10_000)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_P, CTRL | SHIFT)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.store.frames_for_object(2) == list(range(12))
    assert s.store.records_for_object(1) == first  # not one of object 1's masks was re-tracked
    assert undo.text() == "Undo Propagate object 2 back 11 frames"

    # one Ctrl+Z takes back that propagation and nothing of object 1
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    idle(qtbot, w)
    assert s.store.frames_for_object(2) == [11]
    assert s.store.records_for_object(1) == first


def test_propagating_the_selected_object_forward_tracks_it_alone(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, num_frames=10)
    s = w.session
    click(qtbot, w, 30, 20)  # object 1
    key(qtbot, w, Qt.Key.Key_N)
    click(qtbot, w, 60, 30)  # object 2, selected
    qtbot.waitUntil(lambda: s.store.get_record(0, 2) is not None, timeout=10_000)
    assert s.selected == 2
    # the menu entry says what it does, and Ctrl+P runs it
    assert w.actions_by_id["nav.propagate_object"].text().startswith("Propagate the selected object")
    key(qtbot, w, Qt.Key.Key_P, CTRL)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.store.frames_for_object(2) == list(range(10))
    assert s.store.frames_for_object(1) == [0]
    assert w.actions_by_id["edit.undo"].text() == "Undo Propagate object 2 9 frames"


def test_a_propagation_keeps_the_users_accepted_and_imported_masks(qtbot, window_factory, tiny_model):
    """Both propagations (all objects, one object) pass over frames the user drew on: the masks stay."""
    w = window_factory(tiny_model, num_frames=10)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_Right)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_B)
    w.canvas.set_brush_size(3)
    drag(qtbot, w, [(5, 40), (20, 40)])  # a stroke on frame 2
    qtbot.waitUntil(lambda: s.store.get_record(2, 1).provenance.kind == "user")
    drawn = s.store.get_record(2, 1)
    key(qtbot, w, Qt.Key.Key_Home)
    for keys in (CTRL, Qt.KeyboardModifier.NoModifier):  # the selected object, then all objects
        key(qtbot, w, Qt.Key.Key_P, keys)
        qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
        idle(qtbot, w)
        assert s.store.frames_for_object(1) == list(range(10))
        assert s.store.get_record(2, 1) == drawn
        key(qtbot, w, Qt.Key.Key_Home)


def test_a_frame_tracked_after_a_brush_stroke_keeps_the_stroke(qtbot, window_factory, tiny_model):
    """Shift+Right moves the view at once and tracks the frames behind it; a stroke on the new frame
    before SAM2 got there is the user's mask, and the late tracking result must not replace it."""
    w = window_factory(tiny_model, num_frames=12)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    idle(qtbot, w)
    busy = threading.Event()  # the model thread is busy with a slow frame meanwhile
    s.engine.call(busy.wait, 20.0, label="a slow frame")
    key(qtbot, w, Qt.Key.Key_Right, SHIFT)
    assert s.current == 10
    key(qtbot, w, Qt.Key.Key_B)
    w.canvas.set_brush_size(3)
    drag(qtbot, w, [(5, 40), (20, 40)])
    drawn = s.store.get_record(10, 1)
    assert drawn is not None and drawn.provenance.kind == "user"
    busy.set()
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == list(range(11))
    assert s.store.get_record(10, 1) == drawn
