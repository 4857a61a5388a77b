"""Status and dialogs that read well (issue 14, item 7): the autosave has its own status field, candidate
tags never overlap, imports get names, colours and a legend entry of their own and a picker beside the
video, the recovery question gives a local time, undo back to the save clears the title's ``*``, no
"press N" without a video, and the auto-apply threshold reaches 0.05."""

from __future__ import annotations

import datetime
import time

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from litlora_desktop.core.annotations.formats import export
from litlora_desktop.core.annotations.manifest import AUTOSAVE, MANIFEST
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.ui.canvas_layers import CandidateView
from litlora_desktop.ui.timeline import STATUS_COLORS, LanesView
from tests.ui import test_project_ui as project_ui
from tests.ui.test_main_window import click, idle, key
from tests.ui.test_project_ui import square

# the project tests' fixtures: a frame folder, a window on it, scripted answers to questions
frames_dir, open_window, answers = project_ui.frames_dir, project_ui.open_window, project_ui.answers

pytestmark = pytest.mark.gui
Btn = QMessageBox.StandardButton
CTRL = Qt.KeyboardModifier.ControlModifier


def test_autosaved_has_its_own_field_and_leaves_the_message_alone(qtbot, open_window, frames_dir):
    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    s.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    assert w.statusBar().currentMessage().startswith("Undid: ")
    undid = w.statusBar().currentMessage()
    w.projects.autosaver.flush()
    qtbot.waitUntil(lambda: w.status_labels["autosave"].text().startswith("Autosaved "))
    assert w.statusBar().currentMessage() == undid
    assert w.status_labels["autosave"].isVisible()


def test_undo_back_to_the_saved_state_drops_the_star(qtbot, open_window, frames_dir):
    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    s.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_S, CTRL)
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)
    # the frame folder "clip" and its project "clip.litlora": the name once
    assert w.windowTitle() == "clip — LIT-LoRA Desktop"
    s.set_user_mask(oid, 2, square(12, 30, 10, 30), "Brush")
    qtbot.waitUntil(lambda: "clip*" in w.windowTitle())
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: "*" not in w.windowTitle())
    assert not w.projects.needs_save()
    key(qtbot, w, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)  # redo: unsaved again
    qtbot.waitUntil(lambda: "clip*" in w.windowTitle())
    key(qtbot, w, Qt.Key.Key_Z, CTRL)
    key(qtbot, w, Qt.Key.Key_Z, CTRL)  # before the save: unsaved too
    qtbot.waitUntil(lambda: "clip*" in w.windowTitle())


def test_the_recovery_question_says_a_local_readable_time(
    qtbot, open_window, frames_dir, answers, monkeypatch
):
    script, asked = answers
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30: a UTC time shown raw would not match
    time.tzset()
    try:
        proj = frames_dir.parent / "clip.litlora"
        src = VideoSource.open(frames_dir)
        p = Project.create(proj, frames_dir, src)
        src.close()
        oid = p.store.add_object().id
        p.save()
        p.store.set_mask(2, oid, square(1, 9, 1, 9), "user")
        p.write_autosave()
        import json

        saved_at = json.loads((proj / AUTOSAVE).read_text())["saved_at"]
        local = datetime.datetime.fromisoformat(saved_at).astimezone()
        script.append(Btn.No)
        open_window(frames_dir)
        title, text = asked[0]
        assert title == "Recover unsaved work?"
        assert saved_at not in text and "+00:00" not in text
        assert f"at {local.hour:02d}:{local.minute:02d}" in text, text
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_imports_get_their_own_names_colours_legend_and_a_picker_beside_the_video(
    qtbot, open_window, frames_dir, tiny_model, tmp_path, monkeypatch
):
    ext = AnnotationStore(48, 80, 12)
    for name, rows in (("object 1", (10, 30)), ("cat", (30, 44))):
        e = ext.add_object(name).id  # "object 1" in the first palette colour, as the user's own
        ext.set_mask(0, e, square(*rows, 10, 30), "user")
    ext.set_mask(0, ext.objects[0].id, square(10, 30, 10, 30), "user")
    davis = tmp_path / "elsewhere" / "davis"
    davis.parent.mkdir()
    export("davis", ext, davis, num_frames=12)
    w = open_window(frames_dir, tiny_model)
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)
    click(qtbot, w, 60, 30)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    s.rename(1, "cat")
    picked = []
    monkeypatch.setattr(
        QInputDialog,
        "getItem",
        staticmethod(lambda parent, title, label, items, *a: (next(i for i in items if "DAVIS" in i), True)),
    )

    def pick_dir(parent, caption, start="", *a):
        picked.append(start)
        return str(davis)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(pick_dir))
    w.actions_by_id["file.import"].trigger()
    qtbot.waitUntil(lambda: w.transfers.last_import is not None, timeout=10_000)
    assert picked == [str(frames_dir.parent.resolve())]  # beside the video (a frame folder here)
    objs = s.store.objects
    assert len(objs) == 3
    names = [o.name for o in objs]
    assert len(set(names)) == 3 and names[0] == "cat", names
    assert "cat (2)" in names
    colors = [o.color for o in objs]
    assert all(
        sum(abs(a - b) for a, b in zip(c, d, strict=True)) >= 60
        for i, c in enumerate(colors)
        for d in colors[i + 1 :]
    ), colors
    # the timeline's legend has an entry for the imported frames' colour
    idle(qtbot, w)
    lanes = w.timeline.lanes
    img = lanes.grab().toImage()
    legend_y = lanes.height() - 15 + 7
    want = STATUS_COLORS[4][:3]
    row = [img.pixelColor(x, legend_y).getRgb()[:3] for x in range(img.width())]
    assert want in row


def test_no_press_n_without_a_video_and_candidate_tags_never_overlap(qtbot, window_factory):
    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.settings import AppSettings

    empty = MainWindow(AppSettings())
    qtbot.addWidget(empty)
    empty.show()
    assert empty.timeline.lanes.hint == ""
    w = window_factory()
    qtbot.waitUntil(lambda: "press N" in w.timeline.lanes.hint)
    # three candidates of nearly one mask: their tags would all sit on one corner
    m = np.zeros((48, 80), bool)
    m[10:30, 10:40] = True
    w.canvas.set_candidates([CandidateView(k, f"{k} · A{i + 1} 90%", m, i) for i, k in enumerate("QWR")])
    w.canvas.grab()
    rects = w.canvas.tag_rects
    assert len(rects) == 3
    bounds = QRectF(w.canvas.rect())
    for i, r in enumerate(rects):
        assert bounds.contains(r)
        assert not any(r.intersects(q) for q in rects[i + 1 :])


def test_auto_apply_threshold_goes_down_to_five_percent(qtbot, window_factory):
    w = window_factory()
    spin = w.candidates_panel.threshold
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0.05")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: abs(float(w.settings.get("lora/auto_threshold")) - 0.05) < 1e-9)
    dlg = w.open_settings()
    assert dlg.auto_threshold.minimum() == pytest.approx(0.05)
    dlg.close()


def test_the_frame_cursor_never_cuts_the_empty_timeline_hint(qtbot):
    """The white frame cursor was drawn across "No objects yet: press N…", cutting a word in two."""
    lanes = LanesView()
    qtbot.addWidget(lanes)
    lanes.resize(900, lanes.height())
    lanes.set_lanes([], 40)
    assert "press N" in lanes.hint
    metrics = QFontMetrics(lanes.font())
    text_width = metrics.horizontalAdvance(lanes.hint)
    for frame in range(0, 40, 3):  # the cursor walks along the bar, over the text's whole width
        lanes.set_current(frame)
        image = lanes.grab().toImage()
        rows = range(lanes.height() - 16)  # the cursor's whole height and its end, not just the letters'
        white = [
            (x, y)
            for x in range(8, 8 + text_width)
            for y in rows
            if min(QColor(image.pixel(x, y)).getRgb()[:3]) >= 250
        ]
        assert not white, f"frame {frame}: the cursor shows through the hint at {white[:3]}"


def test_a_problem_says_its_words_once(qtbot, open_window, frames_dir, tmp_path):
    """The status bar read "Cannot export: Cannot export to …", and a file that is not a video was
    named twice: "notavideo.mp4: The file 'notavideo.mp4' is not a video…" (found by the user test)."""
    w = open_window(frames_dir)
    w.show_problem("Cannot export", "Cannot export to /x: it is the project.\n\nmore")
    assert w.statusBar().currentMessage() == "Cannot export to /x: it is the project."
    w.show_problem("Cannot save the project", "The disk is full.")
    assert w.statusBar().currentMessage() == "Cannot save the project: The disk is full."
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"just some text\n" * 20)
    w.open_path(str(bad))
    qtbot.waitUntil(lambda: w.problems[-1][0] == "Cannot open video", timeout=10_000)
    assert w.problems[-1][1].count("notavideo.mp4") == 1
