"""LIT_LoRA on costs little while propagating: candidates of the frames a propagation passes are
computed after it, most suspect first, and the shown frame's at once (issue: an annotator's day)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from litlora_desktop.ui.session import lora as lora_module
from litlora_desktop.workers import later_candidates
from litlora_desktop.workers.kept_candidates import KeptCandidate
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
    assert not cells.discard(9, 9)  # not queued: nothing happens
    assert cells.take_most_suspect() == (5, 1)
    assert cells.take_most_suspect() is None and len(cells) == 0


def test_a_nan_score_counts_as_least_confident_and_leaves_the_queue():
    """NaN never equals itself: stored as is, its cell would never match its heap entry again."""
    cells = LaterCells()
    cells.put([(1, 1, 0.5), (2, 1, float("nan")), (3, 2, 1.0)])
    assert cells.take_most_suspect() == (2, 1)
    cells.drop_object(2)
    assert cells.take_most_suspect() == (1, 1)
    assert cells.take_most_suspect() is None and len(cells) == 0


def test_the_heap_stays_bounded_when_cells_are_queued_again_and_again():
    cells = LaterCells()
    for i in range(1000):
        cells.put([(i % 10, 1, float(i))])
    assert len(cells) == 10 and len(cells._heap) <= 2 * 10 + 64
    assert [cells.take_most_suspect() for _ in range(10)] == [(f, 1) for f in range(10)]


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
    assert all(isinstance(c, KeptCandidate) for cs in s.candidates.values() for c in cs)  # packed


def test_cells_whose_captures_are_evicted_get_their_candidates_before_they_go(
    qtbot, window_factory, fresh_model
):
    """The tracker keeps decoder captures within a byte budget (about 32 cells at 1024 px): a long
    propagation pushes out the first frames' captures before the idle job reaches them."""
    w = trained_window(qtbot, window_factory, fresh_model)
    s = w.session
    st = s.engine.state

    def small_budget() -> None:
        caps = st.tracker.captures
        one = max(c.nbytes for c in caps._items.values())
        caps.budget_bytes = 3 * one  # three cells

    s.engine.call(small_budget)
    s.lora._run_later = lambda: None  # no idle job: only eviction computes anything
    seen = record_outcomes(s)
    key(qtbot, w, Qt.Key.Key_P)  # frames 4..15
    idle(qtbot, w, timeout=30_000)
    late = sorted(f for o in seen for f, _, _ in o.late)
    assert late == list(range(4, 13))  # all but the last three passed, as each was evicted
    assert all(len(s.candidates.get((f, 1), [])) == 1 for f in late)
    assert len(st.later) == 2  # 13 and 14 still wait; 15, the shown frame, was asked for at the end
    assert len(s.candidates.get((15, 1), [])) == 1


def test_scrubbing_through_waiting_frames_asks_for_one_or_two_of_them(
    qtbot, window_factory, fresh_model, monkeypatch
):
    """Each shown frame's waiting candidates are computed at once, but a scrub must not queue a job
    per frame passed: the request reads the shown frame when it runs."""
    w = trained_window(qtbot, window_factory, fresh_model)
    s = w.session
    st = s.engine.state
    s.lora._run_later = lambda: None  # the cells wait
    key(qtbot, w, Qt.Key.Key_P)
    idle(qtbot, w, timeout=30_000)
    assert len(st.later) == 11  # frames 4..14; 15 was shown at the end
    asked = []
    original = later_candidates.shown_frame_candidates

    def spy(state, frame_of):
        out = original(state, frame_of)
        asked.append(frame_of())
        return out

    monkeypatch.setattr(lora_module, "shown_frame_candidates", spy)
    for f in [*range(14, 3, -1), *range(4, 15), *range(14, 7, -1)]:  # 29 frames, ending on 8
        s.transport.go_to(f)
    idle(qtbot, w, timeout=30_000)
    assert 1 <= len(asked) <= 2 and asked[-1] == 8
    assert len(s.candidates.get((8, 1), [])) == 1
    assert len(st.later) >= 9  # the frames scrubbed past still wait for the idle job


def test_with_auto_apply_the_candidates_are_computed_with_each_frame(qtbot, window_factory, fresh_model):
    """An applied candidate changes what SAM2 tracks next, so auto-apply cannot wait."""
    w = trained_window(qtbot, window_factory, fresh_model, **{"lora/auto_apply": True})
    s = w.session
    s.apply_auto_settings()
    s.engine.call(setattr, s.engine.state.lora_settings, "auto_apply_threshold", 1.1)  # none applied
    idle(qtbot, w)
    lora = s.engine.state.lora
    computed = []
    original = lora.candidates

    def counted(*args, **kwargs):
        computed.append(args[:2])
        return original(*args, **kwargs)

    s.engine.call(setattr, lora, "candidates", counted)
    seen = record_outcomes(s)
    key(qtbot, w, Qt.Key.Key_P)
    idle(qtbot, w, timeout=30_000)
    assert len(seen) == 12
    assert all(not o.updates[1].candidates_later and len(o.updates[1].candidates) == 1 for o in seen)
    # declined candidates are the ones shown: each cell's decoder runs once, not once more to show them
    assert sorted(computed) == sorted((1, o.frame_index) for o in seen)
