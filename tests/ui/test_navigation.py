"""Playback tracks until a frame looks wrong; the suspect-frame key; lanes mark suspect frames."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui.test_main_window import click, idle, key

pytestmark = pytest.mark.gui


def clicked_window(qtbot, window_factory, tiny_model, **settings):
    w = window_factory(tiny_model, num_frames=10, settings=settings)
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: w.session.store.get_record(0, 1) is not None, timeout=10_000)
    return w


def test_space_plays_and_tracks_to_the_end(qtbot, window_factory, tiny_model):
    w = clicked_window(qtbot, window_factory, tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_Space)
    assert s.playing
    qtbot.waitUntil(lambda: not s.playing, timeout=20_000)
    idle(qtbot, w)
    assert s.current == 9
    assert s.store.frames_for_object(1) == list(range(10))
    assert "last frame" in w.statusBar().currentMessage()


def test_space_pauses(qtbot, window_factory, tiny_model):
    w = clicked_window(qtbot, window_factory, tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: s.current >= 2, timeout=20_000)
    key(qtbot, w, Qt.Key.Key_Space)
    assert not s.playing
    idle(qtbot, w)
    stopped = s.current
    qtbot.wait(150)
    assert s.current == stopped < 9


def test_playback_stops_on_a_suspect_frame_and_s_finds_them(qtbot, window_factory, tiny_model):
    # every tracked frame of a random model has presence ~0.5: a threshold of 0.99 makes each one suspect
    w = clicked_window(qtbot, window_factory, tiny_model, **{"track/suspect_threshold": 0.99})
    s = w.session
    key(qtbot, w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not s.playing, timeout=20_000)
    idle(qtbot, w)
    assert s.current == 1, "playback should stop on the first suspect frame"
    assert "looks wrong" in w.statusBar().currentMessage()
    lane = s.lanes()[0]
    assert lane.suspect[1] and not lane.suspect[0]  # the user's frame is never suspect
    key(qtbot, w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not s.propagating, timeout=20_000)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: s.current == 0)
    key(qtbot, w, Qt.Key.Key_S)
    assert s.current == 1
    key(qtbot, w, Qt.Key.Key_S)
    assert s.current == 2
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    assert s.current == 1


def test_no_suspect_frames_says_so(qtbot, window_factory, tiny_model):
    w = clicked_window(qtbot, window_factory, tiny_model)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_S)
    assert w.session.current == 1
    assert "No suspect frame" in w.statusBar().currentMessage()


def test_propagate_key_again_stops_it(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model, num_frames=60)
    s = w.session
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_P)
    assert s.propagating
    qtbot.waitUntil(lambda: s.current >= 2, timeout=20_000)
    key(qtbot, w, Qt.Key.Key_P)
    assert not s.propagating
    idle(qtbot, w)
    n = len(s.store.frames_for_object(1))
    assert 2 < n < 60
    qtbot.wait(100)
    assert len(s.store.frames_for_object(1)) == n
    # the stopped run is one undo step of its own, named for the frames it tracked; the click stays
    assert w.actions_by_id["edit.undo"].text() == f"Undo Propagate {n - 1} frames"
    s.undo()
    assert s.store.frames_for_object(1) == [0]


def test_lanes_update_cell_by_cell(qtbot, window_factory, tiny_model, monkeypatch):
    import numpy as np

    from litlora_desktop.core.annotations.store import TimelineCode

    w = window_factory(tiny_model, num_frames=300)
    s = w.session
    s.add_object()
    m = np.zeros((48, 80), bool)
    m[5:10, 5:10] = True
    with s.store.group("Track frames 0–299"):
        for f in range(300):
            s.store.set_mask(f, 1, m, "sam2", score=3.0)
    assert (s.lanes()[0].codes == TimelineCode.SAM2).all()
    rebuilt = []
    orig = s.lane_model._lane_arrays
    monkeypatch.setattr(s.lane_model, "_lane_arrays", lambda *a: rebuilt.append(a) or orig(*a))
    s.store.set_mask(150, 1, m, "user")
    lane = s.lanes()[0]
    assert rebuilt == [], "one changed frame rebuilt the whole lane"
    assert lane.codes[150] == TimelineCode.USER and lane.codes[149] == TimelineCode.SAM2
    s.store.set_mask(151, 1, m, "sam2", score=-5.0)  # low presence: suspect
    w.settings.set("track/suspect_threshold", 0.5)
    s.invalidate_lanes()
    lane = s.lanes()[0]
    assert lane.suspect[151] and not lane.suspect[150] and not lane.suspect[152]
    assert len(rebuilt) == 1


def test_rename_and_recolour_are_undoable(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    s.add_object()
    s.rename(1, "dog")
    s.recolor(1, (10, 20, 30))
    s.undo()
    assert s.store.object(1).color != (10, 20, 30) and s.store.object(1).name == "dog"
    s.undo()
    assert s.store.object(1).name == "object 1"
    s.redo()
    assert s.store.object(1).name == "dog"
    w.menuBar().actions()[1].menu().aboutToShow.emit()
    assert w.actions_by_id["edit.undo"].text() == "Undo Rename object"


def test_left_tracks_backwards_from_a_prompted_frame(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    s.go_to(5)
    qtbot.waitUntil(lambda: s.image is not None and s.image[0] == 5)
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(5, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_Left)
    key(qtbot, w, Qt.Key.Key_A)
    idle(qtbot, w)
    assert s.current == 3
    assert [f for f in s.store.frames_for_object(1)] == [3, 4, 5]
    assert s.store.get_record(3, 1).provenance.kind == "sam2"


def test_file_open_uses_the_chosen_file(qtbot, window_factory, tiny_model, tmp_path, monkeypatch):
    from tests.ui.test_app import frame_folder

    w = window_factory(tiny_model)
    folder = frame_folder(tmp_path / "picked", n=5)
    monkeypatch.setattr(
        "litlora_desktop.ui.main_window.QFileDialog.getOpenFileName", lambda *a, **k: (str(folder), "")
    )
    key(qtbot, w, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.session.num_frames == 5, timeout=10_000)
    assert w.session.video_path == str(folder)
