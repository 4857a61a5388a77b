"""LIT_LoRA on costs little while propagating: candidates of the frames a propagation passes are
computed after it, most suspect first, and the shown frame's at once (issue: an annotator's day)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from litlora_desktop.workers.later_candidates import LaterCells
from tests.ui.test_lora import corrected_window
from tests.ui.test_main_window import idle, key

pytestmark = pytest.mark.gui


def test_later_cells_give_the_least_confident_first_and_the_shown_frame_on_demand():
    cells = LaterCells()
    cells.put([(5, 1, 2.0), (6, 1, -1.0), (7, 1, 0.5), (7, 2, 3.0)])
    assert len(cells) == 4
    assert cells.take_most_suspect() == (6, 1)
    assert cells.take_frame(7) == [1, 2]  # the user went to frame 7: both its objects, now
    cells.put([(5, 1, -3.0)])  # tracked again, less confident: its new score counts
    cells.discard(9, 9)  # not queued: nothing happens
    assert cells.take_most_suspect() == (5, 1)
    assert cells.take_most_suspect() is None and len(cells) == 0


def trained_window(qtbot, window_factory, fresh_model, **settings):
    w = corrected_window(qtbot, window_factory, fresh_model, num_frames=16, **settings)
    s = w.session
    qtbot.waitUntil(lambda: 1 in s.training and s.training[1].finished, timeout=30_000)
    idle(qtbot, w)
    assert s.lora_counts[1][1] == 1  # one adapter: every tracked frame has one candidate to offer
    return w


def record_outcomes(s) -> list:
    seen = []
    after = s.lora.after_tracked

    def spy(outcome):
        seen.append(outcome)
        after(outcome)

    s.lora.after_tracked = spy
    return seen


def test_a_propagation_leaves_candidates_for_later_then_every_frame_gets_them(
    qtbot, window_factory, fresh_model
):
    w = trained_window(qtbot, window_factory, fresh_model)
    s = w.session
    seen = record_outcomes(s)
    key(qtbot, w, Qt.Key.Key_P)  # frames 4..15
    idle(qtbot, w, timeout=30_000)
    passed = [o.frame_index for o in seen]
    assert passed == list(range(4, 16))
    # none was computed inside the propagation ...
    assert all(o.updates[1].candidates_later and not o.updates[1].candidates for o in seen)
    # ... and every one arrived after it: the shown frame's and the others'
    assert s.current == 15 and len(s.current_candidates()) == 1
    assert all(len(s.candidates.get((f, 1), [])) == 1 for f in passed)


def test_with_auto_apply_the_candidates_are_computed_with_each_frame(qtbot, window_factory, fresh_model):
    """An applied candidate changes what SAM2 tracks next, so auto-apply cannot wait."""
    w = trained_window(qtbot, window_factory, fresh_model, **{"lora/auto_apply": True})
    s = w.session
    s.apply_auto_settings()
    s.engine.call(setattr, s.engine.state.lora_settings, "auto_apply_threshold", 1.1)  # none applied
    idle(qtbot, w)
    seen = record_outcomes(s)
    key(qtbot, w, Qt.Key.Key_P)
    idle(qtbot, w, timeout=30_000)
    assert len(seen) == 12
    assert all(not o.updates[1].candidates_later and len(o.updates[1].candidates) == 1 for o in seen)
