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
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from litlora_desktop.core.annotations.formats import davis as davis_format
from litlora_desktop.core.annotations.formats import export
from litlora_desktop.core.annotations.manifest import AUTOSAVE, BACKUP, MANIFEST
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.sources import VideoSource
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

    def make(path: Path, model=None, ready=None):
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
        done = ready or (lambda w: w.projects.autosaver is not None)
        qtbot.waitUntil(
            lambda: w.project is not None and w.session.image is not None and done(w),
            timeout=10_000,
        )
        return w

    yield make
    for w in made:
        w.projects.close_ok = True
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
    w2.projects.autosaver.flush()
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
    w.projects.autosaver.flush()
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
    w.projects.close_ok = True
    w.close()
    p = Project.open(proj)
    p.store.set_mask(2, oid, square(1, 9, 1, 9), "user")
    p.write_autosave()  # newer than the save the window kept the view in on closing
    # recovered: the message says what the autosave does not hold (a crash lost LIT-LoRA's training
    # since the last save, and nothing said so; found by the user test)
    script.append(Btn.Yes)
    w = open_window(frames_dir)
    assert w.project.loaded_from == "autosave" and w.session.store.get_record(2, oid) is not None
    qtbot.waitUntil(lambda: "adapters: as of the last save" in w.statusBar().currentMessage(), timeout=5000)


def test_export_coco_through_the_dialog_loads_in_pycocotools(qtbot, open_window, frames_dir, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    m = square(10, 30, 10, 30)
    s.set_user_mask(oid, 3, m, "Brush")
    dlg = w.transfers.export_dialog()
    dlg.set_format("yolo")
    assert "lossy" in dlg.note.text().lower()
    dlg.set_format("coco")
    out = tmp_path / "out" / "ann.json"
    out.parent.mkdir()
    dlg.path_edit.setText(str(out))
    dlg.accept()
    qtbot.waitUntil(lambda: w.transfers.last_export is not None, timeout=10_000)
    assert w.transfers.task is None
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
    real = davis_format.encode_indexed_png

    def slow(index, palette):  # each frame takes a while, so the cancel lands mid-export
        time.sleep(0.05)
        return real(index, palette)

    monkeypatch.setattr(davis_format, "encode_indexed_png", slow)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    out = out_dir / "davis"
    task = w.transfers.start_export("davis", out)
    task.progress.connect(lambda done, total: task.cancel())
    qtbot.waitUntil(lambda: w.transfers.task is None, timeout=10_000)
    assert task.cancelled and w.transfers.last_export is None
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
    export("davis", ext, davis, num_frames=12)
    w = open_window(frames_dir, tiny_model)
    s = w.session
    w.transfers.start_import(davis, "davis")
    qtbot.waitUntil(lambda: w.transfers.last_import is not None, timeout=10_000)
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
    w.projects.save_project()
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and not w.projects.needs_save(), timeout=10_000)
    assert json.loads((proj / MANIFEST).read_text())["store"]["file"]


def save_a_brushed_project(qtbot, open_window, frames_dir, tiny_model) -> None:
    """One object brushed on frame 0, saved with Ctrl+S, the window closed: a project to reopen."""
    w = open_window(frames_dir, tiny_model)
    s = w.session
    a = s.add_object()
    s.set_user_mask(a, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)
    w.close()


def test_an_opened_project_is_kept_out_of_the_cyclic_garbage_collector(
    qtbot, open_window, frames_dir, tiny_model, answers
):
    """A full collection walked every record of a long project with the GIL held (~250 ms at
    10,000 frames x 3 objects, a frozen window); opening freezes them out of it."""
    import gc

    save_a_brushed_project(qtbot, open_window, frames_dir, tiny_model)
    gc.unfreeze()
    w2 = open_window(frames_dir, tiny_model)
    masks = w2.project.store._masks  # the records' container: tracked by the GC unless frozen
    assert gc.is_tracked(masks) and gc.get_freeze_count() > 0
    assert not any(o is masks for o in gc.get_objects())  # not in a generation a collection walks


def test_opening_a_project_shows_a_wait_cursor_and_restores_it(
    qtbot, open_window, frames_dir, tiny_model, answers, monkeypatch
):
    save_a_brushed_project(qtbot, open_window, frames_dir, tiny_model)

    from litlora_desktop.ui import project_open

    original = project_open.Project.open.__func__
    cursors = []

    def spy(cls, *args, **kwargs):
        cur = QApplication.overrideCursor()
        cursors.append(None if cur is None else cur.shape())
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(project_open.Project, "open", classmethod(spy))
    w2 = open_window(frames_dir, tiny_model)
    assert cursors == [Qt.CursorShape.WaitCursor]
    assert QApplication.overrideCursor() is None
    assert w2.project.loaded_from == "saved"


def dismiss_problems(qtbot, w) -> None:
    """Close the problem dialogs (window-modal: they take the keyboard) as the user would."""
    for box in w.findChildren(QMessageBox, "problemDialog"):
        box.close()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_project_whose_video_changed_size_opens_read_only_and_is_never_written(
    qtbot, open_window, frames_dir, tmp_path, monkeypatch
):
    """Issue 11: the project of a video that now has another resolution was replaced by an empty one
    on quitting, its backup too on the next quit, and its store files were collected."""
    proj = frames_dir.parent / "clip.litlora"
    src = VideoSource.open(frames_dir)
    p = Project.create(proj, frames_dir, src)
    src.close()
    oid = p.store.add_object("cat").id
    p.store.set_mask(0, oid, square(10, 30, 10, 30), "user")
    p.save()
    p.store.set_mask(4, oid, square(12, 32, 12, 32), "user")
    p.save()  # the backup holds the first save
    p.store.set_mask(6, oid, square(14, 34, 14, 34), "user")
    assert p.write_autosave()  # and there is unsaved work in the autosave
    before = _folder_bytes(proj)
    assert {MANIFEST, BACKUP, AUTOSAVE} <= set(before)
    for f in frames_dir.iterdir():  # the video is replaced by one of another resolution
        f.unlink()
    for i, f in enumerate(moving_squares(num_frames=12, height=40, width=64)):
        cv2.imwrite(str(frames_dir / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))

    asked: list[str] = []

    def question(parent, title, text, buttons=None, default=None):
        asked.append(title)
        return {"Recover unsaved work?": Btn.Yes, "Unsaved changes": Btn.Discard}.get(title, Btn.Cancel)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    targets: list[str] = []
    starts: list[str] = []

    def get_save(parent, caption="", start="", *args, **kwargs):
        starts.append(start)
        return (targets.pop(0) if targets else "", "")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save))

    def read_only(w):
        return w.project.read_only and any("does not fit" in t for t, _ in w.problems)

    # open and quit twice, without and with edits: the project folder is never written
    for edit in (False, True):
        w = open_window(frames_dir, ready=read_only)
        title, text = next(pr for pr in w.problems if "does not fit" in pr[0])
        assert "80×48" in text and "64×40" in text
        assert "not changed" in text and "Save project as" in text and str(proj) in text
        assert "read-only" in w.windowTitle()
        assert w.projects.autosaver is None and (w.session.store.height, w.session.store.width) == (40, 64)
        if edit:
            a = w.session.add_object()
            w.session.set_user_mask(a, 0, square(5, 25, 5, 25, shape=(40, 64)), "Brush")
            qtbot.waitUntil(lambda w=w: "*" in w.windowTitle())
        w.close()
        qtbot.waitUntil(lambda w=w: not w.isVisible(), timeout=10_000)
        assert _folder_bytes(proj) == before
    assert asked.count("Unsaved changes") == 1  # the edit was discarded, the read-only open was not asked

    # Save (Ctrl+S) asks where to save, and refuses the read-only project's own folder
    w = open_window(frames_dir, ready=read_only)
    dismiss_problems(qtbot, w)
    a = w.session.add_object()
    w.session.set_user_mask(a, 0, square(5, 25, 5, 25, shape=(40, 64)), "Brush")
    targets.append(str(proj))
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.problems[-1][0] == "Choose another folder", timeout=5000)
    assert "read-only" in w.problems[-1][1]
    assert starts and Path(starts[-1]).resolve() != proj.resolve()
    assert w.project.read_only and _folder_bytes(proj) == before
    dismiss_problems(qtbot, w)
    elsewhere = tmp_path / "clip-64x40.litlora"
    targets.append(str(elsewhere))
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    # the files are written on the save's thread; the autosaver starts when the GUI hears it is done
    qtbot.waitUntil(lambda: w.projects.autosaver is not None and not w.projects.needs_save(), timeout=10_000)
    assert (elsewhere / MANIFEST).exists()
    assert not w.project.read_only and w.project.path == elsewhere
    assert np.array_equal(Project.open(elsewhere).store.get_mask(0, a), square(5, 25, 5, 25, shape=(40, 64)))
    w.close()
    assert _folder_bytes(proj) == before
    assert Project.open(proj).store.frames_for_object(oid) == [0, 4]
    assert Project.open(proj, "backup").store.frames_for_object(oid) == [0]
    assert Project.open(proj, "autosave").store.frames_for_object(oid) == [0, 4, 6]


def test_export_never_replaces_the_open_project_or_its_video(qtbot, open_window, frames_dir, tmp_path):
    """Issue 11: "Replace the output if it exists" onto the project folder replaced it with PNGs, and
    an overlay export onto the source video overwrote the video."""
    w = open_window(frames_dir)
    s = w.session
    oid = s.add_object()
    s.set_user_mask(oid, 3, square(10, 30, 10, 30), "Brush")
    w.projects.save_project()
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and not w.projects.needs_save(), timeout=10_000)
    before, frames = _folder_bytes(proj), _folder_bytes(frames_dir)
    cases = [
        ("png", proj),
        ("davis", proj / "data"),
        ("coco", proj / MANIFEST),
        ("png", frames_dir),
        ("overlay", frames_dir / "00003.png"),
        ("yolo", tmp_path),  # holds both
    ]
    for fmt, out in cases:
        assert w.transfers.start_export(fmt, out, overwrite=True) is None, (fmt, out)
        title, text = w.problems[-1]
        assert title == "Cannot export" and "never replace" in text
    # the dialog's way, with "Replace the output if it exists" ticked
    dlg = w.transfers.export_dialog()
    dlg.set_format("png")
    dlg.path_edit.setText(str(proj))
    dlg.overwrite.setChecked(True)
    n = len(w.problems)
    dlg.accept()
    qtbot.waitUntil(lambda: len(w.problems) > n)
    assert (
        "never replace" in w.problems[-1][1] and w.transfers.task is None and w.transfers.last_export is None
    )
    assert _folder_bytes(proj) == before and _folder_bytes(frames_dir) == frames
    assert Project.open(proj).store.get_mask(3, oid) is not None

    # an overlay export onto the video file it is drawn from
    video = tmp_path / "movie.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (80, 48))
    for f in moving_squares(num_frames=12, height=48, width=80):
        wr.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    wr.release()
    movie = video.read_bytes()
    w2 = open_window(video)
    a = w2.session.add_object()
    w2.session.set_user_mask(a, 0, square(10, 30, 10, 30), "Brush")
    assert w2.transfers.start_export("overlay", video, overwrite=True) is None
    assert "never replace" in w2.problems[-1][1]
    assert video.read_bytes() == movie
    # a sibling output is fine
    task = w2.transfers.start_export("overlay", tmp_path / "movie_overlay.mp4")
    assert task is not None
    qtbot.waitUntil(lambda: w2.transfers.last_export is not None, timeout=10_000)
    assert (tmp_path / "movie_overlay.mp4").stat().st_size > 0 and video.read_bytes() == movie


def _saved_project_with_user_masks(qtbot, open_window, frames_dir, tiny_model, objects: int = 2):
    """A saved project whose every frame holds a user mask of each object (all of them seeds)."""
    w = open_window(frames_dir, tiny_model)
    s = w.session
    scratch = AnnotationStore(48, 80, 12)
    for o in range(objects):
        info = scratch.add_object()
        for f in range(12):
            scratch.set_mask(f, info.id, square(5 + 10 * o, 12 + 10 * o, 2 + 4 * f, 12 + 4 * f), "user")
    s.commit_import(scratch, "Import")
    idle(qtbot, w)
    w.projects.save_project()
    proj = frames_dir.parent / "clip.litlora"
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and not w.projects.needs_save(), timeout=10_000)
    w.close()
    return proj


def test_a_project_is_read_and_checked_off_the_gui_thread(
    qtbot, open_window, frames_dir, tiny_model, answers, monkeypatch
):
    import threading

    _saved_project_with_user_masks(qtbot, open_window, frames_dir, tiny_model, objects=1)
    from litlora_desktop.ui import project_open

    threads = []
    for name in ("open", "probe"):
        original = getattr(project_open.Project, name).__func__

        def spy(cls, *a, _orig=original, _name=name, **kw):
            threads.append((_name, threading.current_thread() is threading.main_thread()))
            return _orig(cls, *a, **kw)

        monkeypatch.setattr(project_open.Project, name, classmethod(spy))
    w2 = open_window(frames_dir, tiny_model)
    assert w2.project.loaded_from == "saved"
    assert ("probe", False) in threads and ("open", False) in threads
    assert not any(on_gui for _, on_gui in threads), threads


def test_reseeding_runs_in_chunks_on_the_model_thread_and_a_click_goes_first(
    qtbot, open_window, frames_dir, tiny_model, answers, monkeypatch
):
    import threading

    from litlora_desktop.workers import seeding

    _saved_project_with_user_masks(qtbot, open_window, frames_dir, tiny_model, objects=2)
    monkeypatch.setattr(seeding, "CHUNK_SECONDS", 0.0)  # yield after every seed
    from litlora_desktop.workers.engine import EngineState

    decoded_on, applied, at_click = set(), [], []
    original_as_prompt, original_prompt = seeding.as_prompt, EngineState.prompt

    def spy_as_prompt(what):
        decoded_on.add(threading.current_thread() is threading.main_thread())
        applied.append(1)
        return original_as_prompt(what)

    def spy_prompt(self, oid, frame, prompt, *args, **kwargs):
        if prompt.kind == "clicks":
            at_click.append(len(applied))  # seeds given to the tracker when the click ran
        return original_prompt(self, oid, frame, prompt, *args, **kwargs)

    monkeypatch.setattr(seeding, "as_prompt", spy_as_prompt)
    monkeypatch.setattr(EngineState, "prompt", spy_prompt)
    clicked = {}

    def click_at_once(w):  # the moment the project's store is adopted, before the seeds are in
        s = w.session
        if s.store is not None and s.store.objects and "pending" not in clicked:
            s.select(s.store.objects[0].id)
            clicked["pending"] = len(s.prompts.queue)
            clicked["oid"], clicked["frame"] = s.selected, s.current
            s.click(40.0, 10.0, True)
        return "pending" in clicked

    w = open_window(frames_dir, tiny_model, ready=click_at_once)
    s = w.session
    idle(qtbot, w)
    assert clicked["pending"] > 0  # adopting the store gave nothing to the tracker on the GUI thread
    assert at_click and at_click[0] < 23  # the click slotted in between two seeds
    assert len(applied) <= 24  # the click's frame is seeded first (nearest) or not at all (replaced)
    assert decoded_on == {False}  # every stored mask was decoded on the model thread
    oid, f = clicked["oid"], clicked["frame"]
    rec = s.store.get_record(f, oid)
    assert rec.provenance.kind == "user" and rec.clicks  # the late seed of that frame did not win
    tr = s.engine.state.tracker
    assert tr.prompts(oid)[f].mask is None and tr.prompts(oid)[f].clicks
    assert set(tr.prompts(oid)) == set(range(12)) and len(s.prompts.queue) == 0


def test_saved_project_files_get_the_users_permissions(qtbot, open_window, frames_dir, fresh_model):
    """Every file Ctrl+S writes into the project folder, LIT-LoRA adapters included, is made as any
    other file the user saves: 0666 less the umask (adapters were 0600, unreadable to a team)."""
    import os
    import stat

    old = os.umask(0o027)  # group may read, others nothing: a fixed mode would not match it
    try:
        w = open_window(frames_dir, fresh_model)
        s = w.session
        s.engine.state.lora_settings.max_epochs_new = 3
        key(qtbot, w, Qt.Key.Key_N)
        w.canvas.setFocus()
        qtbot.mouseClick(w.canvas, Qt.MouseButton.LeftButton, pos=w.canvas.to_widget(30, 20).toPoint())
        qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
        key(qtbot, w, Qt.Key.Key_Right)
        idle(qtbot, w)
        key(qtbot, w, Qt.Key.Key_L)
        assert s.lora_on
        # a correction on the tracked frame 1 trains an adapter
        qtbot.mouseClick(w.canvas, Qt.MouseButton.RightButton, pos=w.canvas.to_widget(60, 30).toPoint())
        qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[1] == 1, timeout=30_000)
        idle(qtbot, w)
        key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        proj = frames_dir.parent / "clip.litlora"
        qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)
        files = [p for p in proj.rglob("*") if p.is_file()]
        assert (
            any(p.suffix == ".safetensors" for p in files) and (proj / "adapters" / "litlora.json").exists()
        )
        modes = {str(p.relative_to(proj)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
        assert set(modes.values()) == {oct(0o640)}, modes
        dirs = {oct(stat.S_IMODE(p.stat().st_mode)) for p in [proj, *proj.rglob("*")] if p.is_dir()}
        assert dirs == {oct(0o750)}
    finally:
        os.umask(old)


def test_a_project_saved_elsewhere_meanwhile_is_never_replaced_without_asking(
    qtbot, open_window, frames_dir, answers, monkeypatch, tmp_path
):
    """The project open here is saved by another program (`track --overwrite`, another window). The
    window used to write its own older state over it on quitting (to keep the view) and on Ctrl+S,
    adapters included, and the other save was gone without a word."""
    from litlora_desktop.ui import project_questions

    script, asked = answers
    said: list[str] = []  # the changed-on-disk question's answers, and what it said
    choices: list[str] = []

    def replace_changed_project(window, why):
        said.append(why)
        return choices.pop(0) if choices else "cancel"

    monkeypatch.setattr(project_questions, "replace_changed_project", replace_changed_project)
    written: list[Path] = []  # where the adapters were written
    real_save_adapters = None
    proj = frames_dir.parent / "clip.litlora"
    w = open_window(frames_dir)
    real_save_adapters = w.session.save_adapters
    monkeypatch.setattr(
        w.session, "save_adapters", lambda folder: (written.append(folder), real_save_adapters(folder))[1]
    )
    oid = w.session.add_object()
    w.session.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "*" not in w.windowTitle(), timeout=10_000)
    other = Project.open(proj)
    other.store.add_object("theirs")
    other.save()
    (proj / "adapters" / "litlora.json").write_text("their adapters")
    theirs = (proj / MANIFEST).read_bytes()

    # Ctrl+S with unsaved work: asked, and Cancel writes nothing (adapters neither)
    w.session.set_user_mask(oid, 1, square(10, 30, 12, 32), "Brush")
    written.clear()
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(said) == 1, timeout=10_000)
    assert "saved by another program or window" in said[0]
    idle(qtbot, w)
    assert (proj / MANIFEST).read_bytes() == theirs and written == []
    assert (proj / "adapters" / "litlora.json").read_text() == "their adapters"
    assert "*" in w.windowTitle()  # still unsaved

    # "Save as another project…" keeps their save: the dialog starts beside it, and their folder is
    # refused; nothing is written into it on the way (adapters go straight to the new folder), and
    # this window's autosave leaves it (it would offer this work back as theirs)
    w.projects.autosaver.flush()
    assert (proj / AUTOSAVE).exists()
    starts: list[str] = []
    targets = [proj, tmp_path / "mine.litlora"]

    def get_save_file_name(parent, caption, start, *a, **k):
        starts.append(start)
        return str(targets.pop(0)), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save_file_name))
    choices.append("save as")
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(starts) == 1, timeout=10_000)
    assert starts[0] == str(frames_dir.parent / "clip-2.litlora")
    assert "Choose another folder" in w.problems[-1][0]  # their own folder, picked anyway
    choices.append("save as")
    w.projects.save_project()  # Ctrl+S again (the problem box has the keyboard)
    mine = tmp_path / "mine.litlora"
    qtbot.waitUntil(lambda: w.project.path == mine and "*" not in w.windowTitle(), timeout=10_000)
    assert proj / "adapters" not in written
    assert (proj / MANIFEST).read_bytes() == theirs
    assert (proj / "adapters" / "litlora.json").read_text() == "their adapters"
    assert not (proj / AUTOSAVE).exists()
    assert Project.open(mine).store.get_mask(1, oid) is not None
    assert not (mine / "adapters" / "litlora.json").exists()  # their adapters are theirs

    # back in their folder, after they saved once more: "Replace their save" replaces that save
    script.append(Btn.Yes)
    w.projects.save_to(proj)  # asks "Replace project?": Yes
    assert "Replace it?" in asked[-1][1]
    qtbot.waitUntil(lambda: w.project.path == proj and "*" not in w.windowTitle(), timeout=10_000)
    other = Project.open(proj)
    other.store.add_object("theirs once more")
    other.save()
    w.session.set_user_mask(oid, 2, square(10, 30, 14, 34), "Brush")
    choices.append("replace")
    w.projects.save_project()
    qtbot.waitUntil(lambda: "*" not in w.windowTitle(), timeout=10_000)
    assert len(said) == 4
    assert Project.open(proj).store.get_mask(2, oid) is not None
    assert "theirs once more" in [o.name for o in Project.open(proj, "backup").store.objects]

    # quitting with nothing unsaved keeps the view in the save, but never over another's save
    other = Project.open(proj)
    other.store.add_object("theirs again")
    other.save()
    theirs = (proj / MANIFEST).read_bytes()
    w.session.go_to(5)
    w.close()
    assert not w.isVisible() and len(said) == 4
    assert (proj / MANIFEST).read_bytes() == theirs


def test_a_new_project_never_replaces_one_saved_meanwhile_without_asking(
    qtbot, open_window, frames_dir, monkeypatch
):
    """A video opened without a project; meanwhile `track` (or another window) saves the video's
    project. The first Ctrl+S used to replace it in silence: this window had never read a project there."""
    from litlora_desktop.ui import project_questions

    said: list[str] = []
    monkeypatch.setattr(
        project_questions, "replace_changed_project", lambda w, why: (said.append(why), "cancel")[1]
    )
    proj = frames_dir.parent / "clip.litlora"
    w = open_window(frames_dir)
    oid = w.session.add_object()
    w.session.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    other = Project.create(proj)
    other.store.add_object("theirs")
    other.save()
    theirs = (proj / MANIFEST).read_bytes()
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(said) == 1, timeout=10_000)
    assert "while this window had it unsaved" in said[0]
    idle(qtbot, w)
    assert (proj / MANIFEST).read_bytes() == theirs


def test_a_project_open_in_another_window_is_asked_about_and_can_open_read_only(
    qtbot, open_window, frames_dir, monkeypatch
):
    """Two windows on one project overwrite each other's autosave: the second one is asked first."""
    import json
    import os

    from litlora_desktop.core.annotations.open_marker import MARKER
    from litlora_desktop.ui import project_questions

    proj = frames_dir.parent / "clip.litlora"
    w = open_window(frames_dir)
    oid = w.session.add_object()
    w.session.set_user_mask(oid, 0, square(10, 30, 10, 30), "Brush")
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: (proj / MARKER).is_file(), timeout=10_000)  # this window has it open
    w.close()
    assert not (proj / MARKER).exists()  # and no longer
    # another window (a live process other than this one) has it open
    (proj / MARKER).write_text(
        json.dumps({"host": __import__("socket").gethostname(), "pid": os.getppid(), "since": "x"})
    )
    asked: list[str] = []
    answer = ["cancel"]
    monkeypatch.setattr(
        project_questions, "open_elsewhere", lambda win, name, other: (asked.append(name), answer[0])[1]
    )
    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.settings import AppSettings

    w2 = MainWindow(AppSettings())
    w2.show()
    w2.open_path(str(frames_dir))
    qtbot.waitUntil(lambda: asked == ["clip.litlora"], timeout=10_000)
    idle(qtbot, w2)
    assert w2.project is None  # Cancel: nothing opened
    answer[0] = "read-only"
    w2.open_path(str(frames_dir))
    qtbot.waitUntil(lambda: w2.project is not None and w2.session.image is not None, timeout=10_000)
    assert w2.project.read_only and "read-only" in w2.windowTitle()
    assert w2.session.store.get_record(0, oid) is not None  # its masks, to look at
    w2.projects.close_ok = True
    w2.close()
    assert json.loads((proj / MARKER).read_text())["pid"] == os.getppid()  # the other's mark stays
