"""The main window driven like an annotator would: clicks, keys, the timeline, objects, undo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from litlora_desktop.core.annotations.store import TimelineCode

pytestmark = pytest.mark.gui


def canvas_point(w, x: float, y: float) -> QPoint:
    return w.canvas.to_widget(x, y).toPoint()


def click(qtbot, w, x, y, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(w.canvas, button, modifier, canvas_point(w, x, y))


def key(qtbot, w, k, modifier=Qt.KeyboardModifier.NoModifier):
    w.activateWindow()
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, k, modifier)


def idle(qtbot, w, timeout=10_000):
    """Wait until the model thread has nothing queued or running, its results have arrived, and it
    stays so for 50 ms: a result may queue follow-up work (a candidate refresh, the next step) from
    a later event, which a single check right after the last result missed on a loaded machine."""

    def settled() -> bool:
        if w.session.engine.pending():
            return False
        qtbot.wait(50)
        return w.session.engine.pending() == 0

    qtbot.waitUntil(settled, timeout=timeout)


def test_click_gives_a_mask_and_a_point(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    rec = s.store.get_record(0, 1)
    assert rec.provenance.kind == "user"
    assert len(rec.clicks) == 1 and rec.clicks[0].positive
    assert (rec.clicks[0].x, rec.clicks[0].y) == pytest.approx((30, 20), abs=1)
    qtbot.waitUntil(lambda: len(w.canvas._points) == 1 and w.canvas._points[0].positive)
    # a right click adds a negative point on the same frame and object
    click(qtbot, w, 60, 30, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: len(s.store.get_record(0, 1).clicks) == 2, timeout=10_000)
    assert [c.positive for c in s.store.get_record(0, 1).clicks] == [True, False]
    qtbot.waitUntil(lambda: [c.positive for c in w.canvas._points] == [True, False])


def test_clicking_a_point_removes_it(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    click(qtbot, w, 30, 20)
    click(qtbot, w, 60, 30)
    qtbot.waitUntil(
        lambda: s.store.get_record(0, 1) is not None and len(s.store.get_record(0, 1).clicks) == 2,
        timeout=10_000,
    )
    click(qtbot, w, 30, 20)  # on the first point
    qtbot.waitUntil(lambda: len(s.store.get_record(0, 1).clicks) == 1, timeout=10_000)
    assert s.store.get_record(0, 1).clicks[0].x == pytest.approx(60, abs=1)
    click(qtbot, w, 60, 30)  # the last point: the frame has no prompt any more
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is None, timeout=10_000)
    qtbot.waitUntil(lambda: w.canvas._points == [])


def test_shift_drag_draws_a_box_prompt(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    a, b = canvas_point(w, 10, 8), canvas_point(w, 40, 30)
    qtbot.mousePress(w.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(w.canvas, b)
    qtbot.mouseRelease(w.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    p = s.current_prompt(1, 0)
    assert p.box is not None and p.box.x0 == pytest.approx(10, abs=1) and p.box.x1 == pytest.approx(40, abs=1)
    qtbot.waitUntil(lambda: w.canvas._box is not None)


def test_stepping_tracks_and_the_timeline_shows_it(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_Right)
    key(qtbot, w, Qt.Key.Key_D)
    idle(qtbot, w)
    assert s.current == 2
    assert w.timeline.slider.value() == 2
    codes = s.lanes()[0].codes
    assert codes[0] == TimelineCode.USER and codes[1] in (TimelineCode.SAM2, TimelineCode.EMPTY)
    assert codes[2] in (TimelineCode.SAM2, TimelineCode.EMPTY) and codes[3] == TimelineCode.NONE
    # the lane widget got the same data
    assert len(w.timeline.lanes._lanes) == 1
    # left goes back without tracking; Home/End jump
    key(qtbot, w, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: s.current == 1)
    key(qtbot, w, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: s.current == s.num_frames - 1)
    key(qtbot, w, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: s.current == 0)
    assert "Frame:" in w.status_labels["frame_ms"].text()


def test_shift_right_tracks_ten_frames(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, num_frames=14)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.current == 10
    assert s.store.frames_for_object(1) == list(range(11))


def test_propagate_then_undo_and_redo(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, num_frames=8)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == list(range(8))
    assert s.current == 7  # the view followed the propagation
    # the propagation is its own undo step, then the click is one
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == [0]
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == []
    for _ in range(2):
        key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    idle(qtbot, w)
    assert s.store.frames_for_object(1) == list(range(8))
    assert s.store.get_record(0, 1).provenance.kind == "user"
    # after the redo the tracker has the click again: a new step from frame 0 tracks frame 1
    s.go_to(0)
    s.store.delete_mask(1, 1)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    assert s.store.get_record(1, 1) is not None


def test_undo_of_a_click_restores_the_previous_clicks_in_the_tracker(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    click(qtbot, w, 60, 30, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: len(s.store.get_record(0, 1).clicks) == 2, timeout=10_000)
    s.undo()
    idle(qtbot, w)
    assert len(s.store.get_record(0, 1).clicks) == 1
    prompts = s.engine.state.tracker.prompts(1)
    assert len(prompts[0].clicks) == 1
    s.undo()
    idle(qtbot, w)
    assert s.store.get_record(0, 1) is None
    assert s.engine.state.tracker.prompts(1) == {}


def test_objects_add_select_rename_hide_delete_undo(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)
    key(qtbot, w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: len(s.store.objects) == 2)
    assert s.selected == 2
    key(qtbot, w, Qt.Key.Key_1)
    assert s.selected == 1
    qtbot.waitUntil(lambda: w.objects_panel.current_id() == 1)
    # click in the list selects too
    item = w.objects_panel.list.item(1)
    rect = w.objects_panel.list.visualItemRect(item)
    qtbot.mouseClick(w.objects_panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert s.selected == 2
    # rename through the list's editor
    item.setText("car")
    qtbot.waitUntil(lambda: s.store.object(2).name == "car")
    key(qtbot, w, Qt.Key.Key_H)
    qtbot.waitUntil(lambda: s.store.object(2).hidden)
    s.recolor(2, (1, 2, 3))
    assert s.store.object(2).color == (1, 2, 3)
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 2) is not None, timeout=10_000)
    assert all(oid != 2 for oid, *_ in s.visible_masks())  # hidden objects are not drawn
    key(qtbot, w, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: len(s.store.objects) == 1)
    idle(qtbot, w)
    assert 2 not in s.engine.state.tracker.object_ids
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(s.store.objects) == 2)
    idle(qtbot, w)
    assert s.store.object(2).name == "car"
    assert s.store.get_record(0, 2) is not None
    assert 2 in s.engine.state.tracker.object_ids
    assert 0 in s.engine.state.tracker.prompts(2)  # its click is back in the tracker
    assert w.objects_panel.list.count() == 2


def test_a_bad_file_gives_a_dialog_and_the_app_stays_usable(qtbot, window_factory, tiny_model, tmp_path):
    w = window_factory(tiny_model)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    w.open_path(str(bad))
    qtbot.waitUntil(lambda: bool(w.problems), timeout=10_000)
    title, text = w.problems[-1]
    assert "broken.mp4" in text
    # this window's own dialog (an earlier test in the process may have left one of its own open)
    boxes = [b for b in w.findChildren(QMessageBox, "problemDialog") if b.isVisible()]
    assert any("broken.mp4" in b.text() for b in boxes)
    for b in boxes:
        b.close()
    # the clip that was open still works
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: w.session.store.get_record(0, 1) is not None, timeout=10_000)
    w.open_path(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: len(w.problems) == 2, timeout=10_000)
    assert "does not exist" in w.problems[-1][1]


def test_without_a_model_the_video_opens_and_a_click_says_what_to_do(qtbot, window_factory):
    w = window_factory(model=None)
    assert w.session.image is not None
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: bool(w.problems))
    assert "Settings" in w.problems[-1][1] and "model" in w.problems[-1][1].lower()
    assert "no model" in w.status_labels["model"].text()


def test_status_bar_shows_device_model_and_counts(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    labels = {k: v.text() for k, v in w.status_labels.items()}
    assert labels["device"] == "cpu fp32"
    assert labels["model"] == "tiny-test"
    assert labels["lora"] == "All objects: 0 adapters · 0 samples"  # none selected: all objects
    # LIT_LoRA off and unused: its fields leave the room to the message
    assert w.status_labels["lora"].isHidden() and w.status_labels["saved"].isHidden()
    w.session.add_object()  # LIT_LoRA needs one
    w.session.set_lora(True)
    assert w.session.lora_on
    assert not w.status_labels["lora"].isHidden() and not w.status_labels["saved"].isHidden()
    assert labels["saved"] == "Accepted: 0"


def test_zoom_pan_and_fit(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    c = w.canvas
    fit_scale = c.scale
    key(qtbot, w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert c.scale > fit_scale
    before = c.to_widget(0, 0)
    qtbot.mousePress(c, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(c, QPoint(140, 120))
    qtbot.mouseRelease(c, Qt.MouseButton.MiddleButton, pos=QPoint(140, 120))
    after = c.to_widget(0, 0)
    assert (after.x() - before.x(), after.y() - before.y()) == pytest.approx((40, 20), abs=1)
    key(qtbot, w, Qt.Key.Key_F)
    assert c.scale == pytest.approx(fit_scale)


def test_overlay_draws_masks_in_object_colours(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    s.add_object()
    m = np.zeros((48, 80), bool)
    m[10:30, 20:50] = True
    s.set_user_mask(1, 0, m, "Brush")
    qtbot.waitUntil(lambda: w.canvas._overlay is not None)
    img = w.canvas._overlay
    inside = img.pixelColor(35, 20)
    outside = img.pixelColor(5, 5)
    color = s.store.object(1).color
    assert (inside.red(), inside.green(), inside.blue()) == pytest.approx(color, abs=3) and inside.alpha() > 0
    assert outside.alpha() == 0
    key(qtbot, w, Qt.Key.Key_O)  # outline only: the inside is no longer filled
    qtbot.waitUntil(lambda: w.canvas._overlay.pixelColor(35, 20).alpha() == 0)
    assert w.canvas._overlay.pixelColor(20, 20).alpha() == 255
