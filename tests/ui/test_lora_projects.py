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
    assert "Samples 1" in w.status_labels["lora"].text()
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
    assert "Samples 1" in w2.status_labels["lora"].text() and "adapters 1" in w2.status_labels["lora"].text()
    # the restored sample is replayed: a correction on the next frame makes two samples, one adapter
    assert s2.current == 1
    key(qtbot, w2, Qt.Key.Key_Right)
    idle(qtbot, w2)
    assert s2.store.get_record(2, 1).provenance.kind == "sam2"
    canvas_click(qtbot, w2, 10, 40, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: s2.lora_counts.get(1, (0, 0, 0))[0] == 2, timeout=30_000)
    qtbot.waitUntil(lambda: not s2.training_active, timeout=30_000)
    idle(qtbot, w2)
    assert "Samples 2" in w2.status_labels["lora"].text()
