"""Projects in the window: save and reopen, dirty marker and close prompt, autosave recovery, export and
import through the File menu's dialogs and threads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from litlora_desktop.core import export as export_mod
from litlora_desktop.core.annotations import AnnotationStore
from litlora_desktop.core.project import AUTOSAVE, MANIFEST, Project
from litlora_desktop.core.video import VideoSource
from tests.model_fixtures import moving_squares
from tests.ui.conftest import make_loaded
from tests.ui.test_main_window import idle, key

pytestmark = pytest.mark.gui
Btn = QMessageBox.StandardButton


@pytest.fixture
def frames_dir(tmp_path) -> Path:
    """12 lossless PNG frames, 80x48: the "video" (its project is tmp_path/clip.litlora)."""
    d = tmp_path / "clip"
    d.mkdir()
    for i, f in enumerate(moving_squares(num_frames=12, height=48, width=80)):
        cv2.imwrite(str(d / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return d


@pytest.fixture
def answers(monkeypatch):
    """Scripted QMessageBox.question: pop the next answer (default Cancel); every call is recorded."""
    script: list = []
    asked: list[tuple[str, str]] = []

    def question(parent, title, text, buttons=None, default=None):
        asked.append((title, text))
        return script.pop(0) if script else Btn.Cancel

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return script, asked


@pytest.fixture
def open_window(qtbot):
    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.settings import AppSettings

    made = []

    def make(path: Path, model=None):
        s = AppSettings()
        s.set("track/suspect_threshold", 0.0)
        w = MainWindow(s)  # not qtbot.addWidget: its closing would come after the dialogs' patches are gone
        made.append(w)
        w.resize(900, 600)
        w.show()
        if model is not None:
            w.use_model(make_loaded(model))
            qtbot.waitUntil(lambda: w.session.model_ready, timeout=10_000)
        w.open_path(str(path))
        qtbot.waitUntil(
            lambda: w.project is not None and w.session.image is not None and w.autosaver is not None,
            timeout=10_000,
        )
        return w

    yield make
    for w in made:
        w._close_ok = True
        w.close()


def square(y0, y1, x0, x1, shape=(48, 80)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_save_then_reopen_resumes_frame_object_zoom_masks_prompts_and_undo(
    qtbot, open_window, frames_dir, tiny_model, answers
):
    _, asked = answers
    w = open_window(frames_dir, tiny_model)
    s = w.session
    proj = frames_dir.parent / "clip.litlora"
    assert w.project.path == proj and not proj.exists()  # nothing written before the first change
    assert "*" not in w.windowTitle()
    a = s.add_object()
    s.set_user_mask(a, 0, square(10, 30, 10, 30), "Brush")
    b = s.add_object()
    s.set_user_mask(b, 0, square(5, 15, 50, 70), "Brush")
    for _ in range(3):
        key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    assert s.store.get_record(3, a).provenance.kind == "sam2"
    s.select(a)
    s.go_to(2)
    w.canvas.zoom_by(2.0)
    zoom, center = w.canvas.view_state()
    qtbot.waitUntil(lambda: "*" in w.windowTitle())
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)
    masks = {(f, o): r.decode() for f, o, r in s.store.iter_records()}
    assert len(masks) == 8
    w.close()
    assert not asked  # nothing unsaved: no question on closing
    assert not w.isVisible()

    w2 = open_window(frames_dir, tiny_model)
    s2 = w2.session
    assert w2.project.loaded_from == "saved" and not asked
    qtbot.waitUntil(lambda: s2.current == 2 and s2.selected == a, timeout=5000)
    qtbot.waitUntil(lambda: abs(w2.canvas.scale - zoom) < 1e-6, timeout=5000)
    assert w2.canvas.view_state()[1] == pytest.approx(center, abs=1.5)  # layout may shift it a little
    assert {(f, o): r.decode() for f, o, r in s2.store.iter_records()}.keys() == masks.keys()
    for k, m in masks.items():
        assert np.array_equal(s2.store.get_mask(*k), m)
    # the tracker is re-seeded: the user frames are mask prompts, the tracked frames are not
    idle(qtbot, w2)
    tr = s2.engine.state.tracker
    assert set(tr.prompts(a)) == {0} and tr.prompts(a)[0].mask is not None
    assert set(tr.prompts(b)) == {0}
    assert s2.seeded == {a: [0], b: [0]}
    # tracking continues from the reopened prompts
    key(qtbot, w2, Qt.Key.Key_Right)
    idle(qtbot, w2)
    assert s2.store.get_record(3, a) is not None
    # undo after reopening: the history came back with the project
    before = s2.store.get_record(0, b)
    s2.undo()  # takes back the tracking and the brush on object b
    assert before is not None and s2.store.get_record(0, b) is None
    idle(qtbot, w2)
    assert 0 not in s2.engine.state.tracker.prompts(b)
    s2.redo()
    assert np.array_equal(s2.store.get_mask(0, b), masks[(0, b)])


def test_dirty_marker_and_close_prompt_cancel_discard_save(qtbot, open_window, frames_dir, answers):
    script, asked = answers
    w = open_window(frames_dir)
    s = w.session
    proj = frames_dir.parent / "clip.litlora"
    oid = s.add_object()
    s.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    qtbot.waitUntil(lambda: "clip*" in w.windowTitle())
    script.append(Btn.Cancel)
    w.close()
    assert w.isVisible() and len(asked) == 1 and "Save the changes" in asked[0][1]
    script.append(Btn.Save)
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    assert (proj / MANIFEST).exists()
    assert Project.open(proj).store.get_mask(0, oid) is not None

    # a second session: change, then Discard leaves the saved project as it was, with no autosave
    w2 = open_window(frames_dir)
    w2.session.delete_object(oid)
    qtbot.waitUntil(lambda: "*" in w2.windowTitle())
    w2.autosaver.flush()
    assert (proj / AUTOSAVE).exists()
    script.append(Btn.Discard)
    w2.close()
    assert not w2.isVisible()
    assert not (proj / AUTOSAVE).exists()
    assert Project.open(proj).store.get_mask(0, oid) is not None


def test_discarding_a_never_saved_project_leaves_nothing(qtbot, open_window, frames_dir, answers):
    script, _ = answers
    w = open_window(frames_dir)
    w.session.add_object()
    w.autosaver.flush()
    proj = frames_dir.parent / "clip.litlora"
    assert (proj / AUTOSAVE).exists()  # never saved, yet already safe from a crash
    script.append(Btn.Discard)
    w.close()
    assert not proj.exists()


def test_corrupt_project_offers_the_autosave(qtbot, open_window, frames_dir, answers):
    script, asked = answers
    proj = frames_dir.parent / "clip.litlora"
    src = VideoSource.open(frames_dir)
    p = Project.create(proj, frames_dir, src)
    src.close()
    oid = p.store.add_object("cat").id
    p.store.set_mask(0, oid, square(10, 30, 10, 30), "user")
    p.save()
    p.store.set_mask(4, oid, square(12, 32, 12, 32), "user")
    assert p.write_autosave()
    (proj / MANIFEST).write_bytes((proj / MANIFEST).read_bytes()[:40])  # truncated
    script.append(Btn.Yes)
    w = open_window(frames_dir)
    title, text = asked[0]
    assert title == "Project file damaged" and "autosave" in text
    assert w.project.loaded_from == "autosave"
    assert w.session.store.get_record(4, oid) is not None
    assert "*" in w.windowTitle()  # recovered work is unsaved until the user saves it


def test_newer_autosave_is_offered_and_can_be_declined(qtbot, open_window, frames_dir, answers):
    script, asked = answers
    proj = frames_dir.parent / "clip.litlora"
    src = VideoSource.open(frames_dir)
    p = Project.create(proj, frames_dir, src)
    src.close()
    oid = p.store.add_object().id
    p.save()
    p.store.set_mask(2, oid, square(1, 9, 1, 9), "user")
    p.write_autosave()
    script.append(Btn.No)
    w = open_window(frames_dir)
    assert asked[0][0] == "Recover unsaved work?"
    assert w.project.loaded_from == "saved" and w.session.store.get_record(2, oid) is None


def test_export_coco_through_the_dialog_loads_in_pycocotools(qtbot, open_window, frames_dir, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    m = square(10, 30, 10, 30)
    s.set_user_mask(oid, 3, m, "Brush")
    dlg = w.export_dialog()
    dlg.set_format("yolo")
    assert "lossy" in dlg.note.text().lower()
    dlg.set_format("coco")
    out = tmp_path / "out" / "ann.json"
    out.parent.mkdir()
    dlg.path_edit.setText(str(out))
    dlg.accept()
    qtbot.waitUntil(lambda: w.last_export is not None, timeout=10_000)
    assert w.transfer_task is None
    coco = COCO(str(out))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 1
    assert np.array_equal(mask_utils.decode(anns[0]["segmentation"]).astype(bool), m)
    assert [p.name for p in out.parent.iterdir()] == ["ann.json"]


def test_cancelled_export_leaves_nothing(qtbot, open_window, frames_dir, tmp_path, monkeypatch):
    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    with s.store.group("masks"):
        for f in range(12):
            s.store.set_mask(f, oid, square(5, 20, f, f + 20), "user")
    real = export_mod.encode_indexed_png

    def slow(index, palette):  # each frame takes a while, so the cancel lands mid-export
        time.sleep(0.05)
        return real(index, palette)

    monkeypatch.setattr(export_mod, "encode_indexed_png", slow)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    out = out_dir / "davis"
    task = w.start_export("davis", out)
    task.progress.connect(lambda done, total: task.cancel())
    qtbot.waitUntil(lambda: w.transfer_task is None, timeout=10_000)
    assert task.cancelled and w.last_export is None
    assert list(out_dir.iterdir()) == []  # neither the output nor a hidden partial folder
    assert "cancelled" in w.statusBar().currentMessage()


def test_import_davis_adds_masks_as_one_undo_step_and_as_prompts(
    qtbot, open_window, frames_dir, tiny_model, tmp_path
):
    ext = AnnotationStore(48, 80, 12)
    e = ext.add_object("dog").id
    ext.set_mask(0, e, square(10, 30, 10, 30), "user")
    ext.set_mask(5, e, square(12, 32, 14, 34), "user")
    davis = tmp_path / "davis"
    export_mod.export("davis", ext, davis, num_frames=12)
    w = open_window(frames_dir, tiny_model)
    s = w.session
    w.start_import(davis, "davis")
    qtbot.waitUntil(lambda: w.last_import is not None, timeout=10_000)
    assert len(s.store.objects) == 1
    oid = s.store.objects[0].id
    assert s.store.frames_for_object(oid) == [0, 5]
    assert s.store.get_record(5, oid).provenance.kind == "imported"
    assert np.array_equal(s.store.get_mask(5, oid), square(12, 32, 14, 34))
    idle(qtbot, w)
    prompts = s.engine.state.tracker.prompts(oid)
    assert set(prompts) == {0, 5} and all(prompts[f].mask is not None for f in (0, 5))
    # SAM2 tracks on from the imported masks
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    assert s.store.get_record(1, oid).provenance.kind == "sam2"
    s.undo()
    s.undo()
    assert s.store.objects == []
    idle(qtbot, w)
    assert oid not in s.engine.state.tracker.object_ids
    # the import survives a save: the project file names it
    s.redo()
    w.save_project()
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and not w.needs_save(), timeout=10_000)
    assert json.loads((proj / MANIFEST).read_text())["store"]["file"]


def test_opening_a_project_shows_a_wait_cursor_and_restores_it(
    qtbot, open_window, frames_dir, tiny_model, answers, monkeypatch
):
    w = open_window(frames_dir, tiny_model)
    s = w.session
    a = s.add_object()
    s.set_user_mask(a, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)
    w.close()

    from litlora_desktop.ui import project_mixin

    original = project_mixin.Project.open.__func__
    cursors = []

    def spy(cls, folder, which="saved"):
        cur = QApplication.overrideCursor()
        cursors.append(None if cur is None else cur.shape())
        return original(cls, folder, which)

    monkeypatch.setattr(project_mixin.Project, "open", classmethod(spy))
    w2 = open_window(frames_dir, tiny_model)
    assert cursors == [Qt.CursorShape.WaitCursor]
    assert QApplication.overrideCursor() is None
    assert w2.project.loaded_from == "saved"
