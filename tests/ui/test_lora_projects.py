"""LIT-LoRA across projects, driven as a person does: reopening a project continues LIT-LoRA where it
stopped (the switch, the adapters and the samples replay needs), and File ▸ Use adapters from another
project… brings another video's adapters with their samples."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from litlora_desktop.core.annotations.manifest import MANIFEST
from litlora_desktop.core.sam2.models import random_model, tiny_config
from tests.ui import test_project_ui as project_tests
from tests.ui.test_main_window import idle, key

pytestmark = pytest.mark.gui
answers, frames_dir, open_window = (  # the project tests' fixtures
    project_tests.answers,
    project_tests.frames_dir,
    project_tests.open_window,
)


def new_model():
    """A model of the test's own, as a restarted app loads: same architecture, same weights."""
    return random_model(tiny_config(64), seed=0)


def canvas_click(qtbot, w, x, y, button=Qt.MouseButton.LeftButton):
    w.canvas.setFocus()
    qtbot.mouseClick(w.canvas, button, pos=w.canvas.to_widget(x, y).toPoint())


def correct_and_save(qtbot, w) -> None:
    """N, a click on frame 0, → to frame 1, L (LIT_LoRA on), a correcting click that trains an
    adapter, then Ctrl+S."""
    s = w.session
    s.engine.state.lora_settings.max_epochs_new = 3
    key(qtbot, w, Qt.Key.Key_N)
    canvas_click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_L)
    assert s.lora_on
    canvas_click(qtbot, w, 60, 30, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[:2] == (1, 1), timeout=30_000)
    idle(qtbot, w)
    assert "1 sample" in w.status_labels["lora"].text()
    key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    proj = w.project.path
    qtbot.waitUntil(lambda: (proj / MANIFEST).exists() and "*" not in w.windowTitle(), timeout=10_000)


def test_reopening_a_project_continues_lit_lora_where_it_stopped(qtbot, open_window, frames_dir, answers):
    w = open_window(frames_dir, new_model())
    correct_and_save(qtbot, w)
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)

    w2 = open_window(frames_dir, new_model())  # the app restarted on the same video
    s2 = w2.session
    qtbot.waitUntil(lambda: s2.lora_counts.get(1, (0, 0, 0))[1] == 1, timeout=10_000)
    idle(qtbot, w2)
    act = w2.actions_by_id["lora.toggle"]
    assert s2.lora_on and act.isChecked() and s2.engine.state.lora_enabled
    assert s2.lora_counts[1][:2] == (1, 1)
    assert "1 adapter · 1 sample" in w2.status_labels["lora"].text()
    # the restored sample is replayed: a correction on the next frame makes two samples, one adapter
    assert s2.current == 1
    key(qtbot, w2, Qt.Key.Key_Right)
    idle(qtbot, w2)
    assert s2.store.get_record(2, 1).provenance.kind == "sam2"
    canvas_click(qtbot, w2, 10, 40, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: s2.lora_counts.get(1, (0, 0, 0))[0] == 2, timeout=30_000)
    qtbot.waitUntil(lambda: not s2.training_active, timeout=30_000)
    idle(qtbot, w2)
    assert "2 samples" in w2.status_labels["lora"].text()


def other_video(tmp_path):
    """A second video (12 PNG frames), with a project of its own beside it."""
    import cv2

    from tests.model_fixtures import moving_squares

    d = tmp_path / "other"
    d.mkdir()
    for i, f in enumerate(moving_squares(num_frames=12, height=48, width=80, seed=3)):
        cv2.imwrite(str(d / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return d


@pytest.fixture
def trained_project(qtbot, open_window, frames_dir):
    """A saved project whose object "object 1" has one adapter and one sample (the window is closed)."""
    w = open_window(frames_dir, new_model())
    correct_and_save(qtbot, w)
    path = w.project.path
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    return path


@pytest.fixture
def picked(monkeypatch):
    """Scripted folder picker: each File ▸ Use adapters… call takes the next folder."""
    from PySide6.QtWidgets import QFileDialog

    script: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: script.pop(0)))
    return script


def use_adapters(qtbot, w) -> None:
    """File ▸ Use adapters from another project…, from the menu bar's File menu."""
    from PySide6.QtWidgets import QMenu

    file_menu = next(m for m in w.menuBar().findChildren(QMenu) if m.title().replace("&", "") == "File")
    act = next(a for a in file_menu.actions() if a.text() == "Use adapters from another project…")
    act.trigger()


def test_adapters_of_another_project_load_by_name_after_a_question(
    qtbot, open_window, trained_project, tmp_path, answers, picked, monkeypatch
):
    import threading

    from PySide6.QtWidgets import QMessageBox

    from litlora_desktop.core.lora.litlora import LitLoRA

    script, asked = answers
    ran_on = []
    restore = LitLoRA.restore
    monkeypatch.setattr(
        LitLoRA,
        "restore",
        lambda self, *a, **k: (ran_on.append(threading.current_thread()), restore(self, *a, **k))[1],
    )
    w = open_window(other_video(tmp_path), new_model())
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)  # "object 1", as in the other project
    key(qtbot, w, Qt.Key.Key_N)  # "object 2": nothing there to learn from
    idle(qtbot, w)
    # a folder without adapters: one sentence that says what to pick, nothing loaded
    (tmp_path / "empty").mkdir()
    picked.append(str(tmp_path / "empty"))
    use_adapters(qtbot, w)
    qtbot.waitUntil(lambda: bool(w.problems), timeout=10_000)
    assert "holds no LIT-LoRA adapters" in w.problems[-1][1] and "pick a project folder" in w.problems[-1][1]
    boxes = w.findChildren(QMessageBox, "problemDialog")
    assert boxes and "holds no LIT-LoRA adapters" in boxes[-1].text()  # what the user reads
    project_tests.dismiss_problems(qtbot, w)
    # this project's own folder is refused too
    picked.append(str(w.project.path))
    use_adapters(qtbot, w)
    assert "own folder" in w.problems[-1][1]
    project_tests.dismiss_problems(qtbot, w)
    # the other project: the names match, so the question says what goes where; Cancel changes nothing
    picked.append(str(trained_project))
    script.append(QMessageBox.StandardButton.Cancel)
    use_adapters(qtbot, w)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=10_000)
    assert "object 1 (1 adapter, 1 sample) → object 1" in asked[0][1] and "object 2" not in asked[0][1]
    idle(qtbot, w)
    assert not ran_on and s.engine.state.lora.num_adapters(1) == 0
    # Yes loads them on the model thread
    picked.append(str(trained_project))
    script.append(QMessageBox.StandardButton.Yes)
    use_adapters(qtbot, w)
    qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[:2] == (1, 1), timeout=10_000)
    assert ran_on and threading.main_thread() not in ran_on
    assert (
        "Loaded 1 adapter and 1 sample from clip.litlora (object 1 → object 1)"
        in w.statusBar().currentMessage()
    )
    assert s.lora_counts.get(2, (0, 0, 0))[:2] == (0, 0)
    key(qtbot, w, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: "1 sample" in w.status_labels["lora"].text())
    [sample] = s.engine.state.lora._objects[1].samples
    assert sample.origin == str(trained_project / "adapters")  # another video's lesson, kept apart


def test_objects_with_other_names_are_matched_in_a_small_dialog(
    qtbot, open_window, trained_project, tmp_path, picked
):
    from PySide6.QtWidgets import QDialogButtonBox

    w = open_window(other_video(tmp_path), new_model())
    s = w.session
    key(qtbot, w, Qt.Key.Key_N)
    key(qtbot, w, Qt.Key.Key_N)
    s.rename(1, "dog")
    s.rename(2, "cat")
    idle(qtbot, w)
    picked.append(str(trained_project / "adapters"))  # the adapters folder itself works too
    use_adapters(qtbot, w)
    qtbot.waitUntil(
        lambda: w.adapter_reuse.dialog is not None and w.adapter_reuse.dialog.isVisible(), timeout=10_000
    )
    dlg = w.adapter_reuse.dialog
    box = dlg.boxes[1]
    assert box.currentText() == "(not used)"  # no object here is called "object 1"
    box.setCurrentIndex(box.findText("cat"))
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.text() == "Use adapters"
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: s.lora_counts.get(2, (0, 0, 0))[:2] == (1, 1), timeout=10_000)
    assert s.lora_counts.get(1, (0, 0, 0))[:2] == (0, 0)
    assert "(object 1 → cat)" in w.statusBar().currentMessage()


def test_a_correction_of_a_mask_tracked_before_this_session_teaches(qtbot, open_window, frames_dir, answers):
    """A project whose frames were tracked before (by `track`, or in an earlier session): with
    LIT_LoRA on, a correction on a frame this session has not tracked gave no lesson, in silence,
    while the status bar had promised that every correction trains an adapter. SAM2's pass there
    is now made first, so the correction trains an adapter like any other."""
    import numpy as np

    from litlora_desktop.core.annotations.project import Project
    from litlora_desktop.core.video.sources import VideoSource

    source = VideoSource.open(frames_dir)
    project = Project.create(frames_dir.parent / "clip.litlora", frames_dir, source)
    oid = project.store.add_object("square").id
    for f in range(source.num_frames):
        m = np.zeros((48, 80), bool)
        m[10:30, 10 + f : 30 + f] = True
        project.store.set_mask(f, oid, m, "imported" if f == 0 else "sam2")
    project.save()
    w = open_window(frames_dir, new_model())
    s = w.session
    key(qtbot, w, Qt.Key.Key_1)
    key(qtbot, w, Qt.Key.Key_L)
    assert s.lora_on
    s.go_to(6)
    idle(qtbot, w)
    canvas_click(qtbot, w, 20, 20, Qt.MouseButton.RightButton)  # a negative click: a correction
    qtbot.waitUntil(lambda: s.lora_counts.get(oid, (0, 0, 0))[:2] == (1, 1), timeout=20_000)
    assert "Nothing learned" not in w.statusBar().currentMessage()
    assert s.store.get_record(6, oid).provenance.kind == "user"  # the correction itself is kept
