"""LIT_LoRA in the window: the toggle, training in the background, candidates, accept keys, undo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.test_main_window import click, idle, key

pytestmark = pytest.mark.gui


def corrected_window(qtbot, window_factory, fresh_model, epochs=8, num_frames=12, **settings):
    """Object 1 clicked on frame 0, tracked to frame 3, LIT_LoRA on, then corrected on frame 3."""
    w = window_factory(fresh_model, num_frames=num_frames, settings=settings)
    s = w.session
    s.engine.state.lora_settings.max_epochs_new = epochs
    s.engine.state.lora_settings.max_epochs_finetune = epochs
    assert not w.actions_by_id["lora.toggle"].isEnabled()  # no object yet
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    assert w.actions_by_id["lora.toggle"].isEnabled()
    for _ in range(3):
        key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_L)
    assert s.lora_on and w.actions_by_id["lora.toggle"].isChecked()
    assert "LIT_LoRA on" in w.statusBar().currentMessage()
    # the correction: a brush stroke on the tracked frame 3 (the random model's masks are empty)
    m = np.zeros((48, 80), bool)
    m[8:30, 10:40] = True
    s.set_user_mask(1, 3, m, "Brush")
    return w


def trained_window_on_frame_4(qtbot, window_factory, fresh_model):
    """``corrected_window`` once its adapter is trained, moved on to frame 4, where it proposes."""
    w = corrected_window(qtbot, window_factory, fresh_model)
    s = w.session
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    return w


def test_correction_trains_in_background_and_candidates_can_be_accepted(qtbot, window_factory, fresh_model):
    w = corrected_window(qtbot, window_factory, fresh_model)
    s = w.session
    qtbot.waitUntil(lambda: w.canvas.training_overlay.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)
    idle(qtbot, w)
    assert (
        "epoch" in w.canvas.training_overlay.label.text()
        or "trained" in w.canvas.training_overlay.label.text()
    )
    assert s.lora_counts[1][0] == 1 and s.lora_counts[1][1] == 1
    name = s.store.object(1).name
    assert w.status_labels["lora"].text() == f"{name}: 1 adapter · 1 sample"
    # with no object selected the field holds every object's counts, not a misleading 0 (it did)
    s.select(0)
    qtbot.waitUntil(lambda: w.status_labels["lora"].text() == "All objects: 1 adapter · 1 sample")
    s.select(1)
    # the next tracked frame gets candidates, drawn and listed
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    assert s.current == 4
    cands = s.current_candidates()
    assert len(cands) == 1
    assert w.candidates_panel.list.count() == 1
    assert "[Q]" in w.candidates_panel.list.item(0).text()
    qtbot.waitUntil(lambda: len(w.canvas._candidates) == 1)
    # Esc hides, Esc shows again
    key(qtbot, w, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.canvas._candidates == [])
    key(qtbot, w, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: len(w.canvas._candidates) == 1)
    # C: side by side
    key(qtbot, w, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: w.canvas.comparing)
    key(qtbot, w, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: not w.canvas.comparing)
    # Q accepts: the mask comes from the adapter, it is counted as a saved correction
    key(qtbot, w, Qt.Key.Key_Q)
    idle(qtbot, w)
    rec = s.store.get_record(4, 1)
    assert rec.provenance.kind == "lora"
    assert np.array_equal(rec.decode(), cands[0].mask)
    assert s.lora_counts[1][2] == 1
    assert w.status_labels["saved"].text() == "Accepted: 1"
    assert s.engine.state.lora.corrections_saved(1) == 1
    # undo takes the accept back, in the store and in SAM2's memory
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert s.store.get_record(4, 1).provenance.kind == "sam2"
    assert s.engine.state.lora.corrections_saved(1) == 0
    assert 4 not in s.engine.state.tracker.prompts(1)


def test_enter_keeps_sam2_and_the_timeline_marks_lora_frames(qtbot, window_factory, fresh_model):
    w = trained_window_on_frame_4(qtbot, window_factory, fresh_model)
    s = w.session
    assert s.current_candidates()
    key(qtbot, w, Qt.Key.Key_Return)
    assert s.current_candidates() == []
    assert s.store.get_record(4, 1).provenance.kind == "sam2"
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_Q)
    idle(qtbot, w)
    from litlora_desktop.core.annotations.store import TimelineCode

    codes = s.lanes()[0].codes
    assert (
        codes[3] == TimelineCode.USER
        and codes[5] == TimelineCode.LORA
        and codes[4] in (TimelineCode.SAM2, TimelineCode.EMPTY)
    )


def test_auto_apply_takes_confident_candidates(qtbot, window_factory, fresh_model):
    w = corrected_window(
        qtbot, window_factory, fresh_model, **{"lora/auto_apply": True, "lora/auto_threshold": 0.5}
    )
    s = w.session
    s.apply_auto_settings()
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)
    idle(qtbot, w)
    # force a confidence the random adapter can reach: threshold 0 via the panel's controls
    w.candidates_panel.threshold.setValue(0.5)
    s.engine.call(setattr, s.engine.state.lora_settings, "auto_apply_threshold", 0.0)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    assert s.store.get_record(4, 1).provenance.kind == "lora"
    assert s.lora_counts[1][2] == 1


def test_lora_toggle_off_and_icon(qtbot, window_factory, fresh_model):
    w = corrected_window(qtbot, window_factory, fresh_model)
    act = w.actions_by_id["lora.toggle"]
    on_icon = act.icon().cacheKey()
    key(qtbot, w, Qt.Key.Key_L)
    assert not w.session.lora_on and not act.isChecked()
    assert act.icon().cacheKey() != on_icon
    assert "LIT_LoRA off" in w.statusBar().currentMessage()


def test_closing_the_window_during_training_stops_the_model_thread(qtbot, window_factory, fresh_model):
    import time

    w = corrected_window(qtbot, window_factory, fresh_model, epochs=400)
    s = w.session
    s.engine.state.lora_settings.patience = 10_000
    qtbot.waitUntil(lambda: s.training_active and 1 in s.training, timeout=10_000)
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 5
    assert not s.engine.thread.isRunning()
    assert s.engine.state.tracker is None  # freed, its hook removed from the shared model


def test_u_toggles_auto_apply_everywhere(qtbot, window_factory, fresh_model):
    w = window_factory(fresh_model)
    key(qtbot, w, Qt.Key.Key_U)
    assert w.settings.get("lora/auto_apply") is True
    assert w.candidates_panel.auto.isChecked()
    idle(qtbot, w)
    assert w.session.engine.state.lora_settings.auto_apply is True
    w.candidates_panel.auto.setChecked(False)
    assert not w.actions_by_id["lora.auto"].isChecked()
    idle(qtbot, w)
    assert w.session.engine.state.lora_settings.auto_apply is False


def test_a_click_on_a_tracked_frame_is_a_training_sample_too(qtbot, window_factory, fresh_model):
    w = window_factory(fresh_model, num_frames=8)
    s = w.session
    s.engine.state.lora_settings.max_epochs_new = 3
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: s.store.get_record(0, 1) is not None, timeout=10_000)
    key(qtbot, w, Qt.Key.Key_L)
    click(qtbot, w, 50, 25)  # frame 0 was clicked, never tracked: nothing to learn from
    idle(qtbot, w)
    assert s.lora_counts.get(1, (0, 0, 0))[0] == 0
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    click(qtbot, w, 40, 30, Qt.MouseButton.RightButton)  # a correction of tracked frame 1
    qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[0] == 1, timeout=10_000)
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)


def test_undoing_the_delete_of_an_object_brings_its_lit_lora_lessons_back(qtbot, window_factory, fresh_model):
    """Delete an object, Ctrl+Z: it came back without its adapters and samples, and the next save
    deleted their files (found by the user test)."""
    w = corrected_window(qtbot, window_factory, fresh_model)
    s = w.session
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)
    idle(qtbot, w)
    assert s.lora_counts[1][:2] == (1, 1)
    lora = s.engine.state.lora
    s.delete_object(1)
    qtbot.waitUntil(lambda: 1 not in lora._objects, timeout=10_000)
    idle(qtbot, w)
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: lora.adapter_labels(1) == ["A1"], timeout=10_000)
    assert all(lora.bank.params(n) for n in lora._objects[1].adapters) and lora.num_samples(1) == 1
    qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[:2] == (1, 1), timeout=10_000)


def test_undoing_a_correction_of_an_accepted_candidate_takes_its_lesson_back(
    qtbot, window_factory, fresh_model
):
    """Accept a candidate (Q), correct that frame, Ctrl+Z: the mask went back to the candidate, but
    the correction stayed a sample, and the next training learned from it (found by the user test)."""
    w = trained_window_on_frame_4(qtbot, window_factory, fresh_model)
    s = w.session
    assert s.current == 4 and s.current_candidates()
    key(qtbot, w, Qt.Key.Key_Q)
    idle(qtbot, w)
    assert s.store.get_record(4, 1).provenance.kind == "lora"
    m = np.zeros((48, 80), bool)
    m[5:35, 5:45] = True
    s.set_user_mask(1, 4, m, "Brush")  # a correction of the accepted candidate: a second sample
    qtbot.waitUntil(lambda: s.lora_counts.get(1, (0, 0, 0))[0] == 2, timeout=30_000)
    qtbot.waitUntil(lambda: not s.training_active, timeout=30_000)
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert s.store.get_record(4, 1).provenance.kind == "lora"  # the candidate again
    qtbot.waitUntil(lambda: s.engine.state.lora.num_samples(1) == 1, timeout=10_000)
