"""Undo undoes what the user sees (issue 14, item 3): an undone accept offers its candidates again and
the counters follow at once; a propagation is its own undo step; an undone delete selects the object."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui.test_lora import trained_window_on_frame_4
from tests.ui.test_main_window import click, idle, key

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_undoing_an_accept_brings_back_the_candidates_and_the_counters(qtbot, window_factory, fresh_model):
    w = trained_window_on_frame_4(qtbot, window_factory, fresh_model)
    s = w.session
    assert w.candidates_panel.list.count() == 1
    key(qtbot, w, Qt.Key.Key_Q)
    idle(qtbot, w)
    assert w.status_labels["saved"].text() == "Accepted: 1"
    assert w.candidates_panel.list.count() == 0
    assert w.actions_by_id["edit.undo"].text().startswith("Undo Accept candidate")

    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    idle(qtbot, w)  # the model thread is done; no other key is pressed, no frame changes
    assert s.current == 4 and s.store.get_record(4, 1).provenance.kind == "sam2"
    assert w.status_labels["saved"].text() == "Accepted: 0"
    assert w.candidates_panel.list.count() == 1 and "[Q]" in w.candidates_panel.list.item(0).text()
    qtbot.waitUntil(lambda: len(w.canvas._candidates) == 1)
    assert "Undid: Accept candidate" in w.statusBar().currentMessage()

    # redo accepts it again: the candidates go, the count comes back
    key(qtbot, w, Qt.Key.Key_Z, CTRL | SHIFT)
    idle(qtbot, w)
    assert s.store.get_record(4, 1).provenance.kind == "lora"
    assert w.status_labels["saved"].text() == "Accepted: 1"
    assert w.candidates_panel.list.count() == 0
    qtbot.waitUntil(lambda: w.canvas._candidates == [])


def test_a_propagation_is_its_own_undo_step(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, num_frames=12)
    s = w.session
    undo = w.actions_by_id["edit.undo"]
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == list(range(12))
    assert undo.text() == "Undo Propagate 11 frames"
    # one Ctrl+Z takes back the propagation, not the click that came before it
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == [0]
    assert "Undid: Propagate 11 frames" in w.statusBar().currentMessage()
    assert w.actions_by_id["edit.redo"].text() == "Redo Propagate 11 frames"
    # Shift+P from the last frame: its own step too, named for the way it went
    key(qtbot, w, Qt.Key.Key_End)
    click(qtbot, w, 40, 25)
    qtbot.waitUntil(lambda: s.store.get_record(11, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_P, SHIFT)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert undo.text() == "Undo Propagate back 11 frames"
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == [0, 11]
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == [0]


def test_undoing_a_delete_selects_the_object_again(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)
    click(qtbot, w, 20, 20)
    key(qtbot, w, Qt.Key.Key_N)
    click(qtbot, w, 60, 30)
    qtbot.waitUntil(lambda: s.store.get_record(0, 2) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_1)
    assert s.selected == 1
    key(qtbot, w, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: w.objects_panel.list.count() == 1)
    assert s.selected == 2
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: w.objects_panel.list.count() == 2)
    idle(qtbot, w)
    assert s.selected == 1 and w.objects_panel.current_id() == 1
    assert w.canvas.hasFocus() or w.isActiveWindow()  # the keys act on it again: Delete deletes it
    key(qtbot, w, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: [o.id for o in s.store.objects] == [2])
