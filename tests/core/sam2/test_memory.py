"""Per-object SAM2 memory: stale results dropped up to the next prompt, far outputs evicted, and
memory bounded while tracking 2,000 frames (streaming + eviction)."""

from __future__ import annotations

import gc

import numpy as np
import psutil
import pytest

from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.sam2.tracker import Tracker
from tests.model_fixtures import ClipSource, moving_squares


def test_correction_drops_stale_later_results_of_that_object_only(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a, b = tr.add_object(), tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    tr.add_clicks(b, 0, [Click(70, 30)])
    list(tr.propagate(0, 9))
    assert tr.tracked_frames(a) == list(range(10))
    fixed = tr.add_clicks(a, 5, [Click(16, 16)])
    assert tr.tracked_frames(a) == list(range(6))
    assert tr.tracked_frames(b) == list(range(10))
    assert 5 in tr.prompts(a)
    # re-tracking goes on from the corrected frame and reuses its prompted result there
    res = tr.track(5)
    assert res.masks[a].kind == "reused" and res.masks[b].kind == "tracked"
    assert np.array_equal(res.masks[a].mask, fixed.mask)  # the correction, not a re-tracked mask


@pytest.mark.parametrize("as_cond", [False, True])
def test_a_corrected_frame_keeps_its_correction_when_visited_again_even_far_away(tiny_model, as_cond):
    """With Meta's default the correction is ordinary memory, which transformers would re-track
    (losing the clicks) and the tracker would evict when far: it must do neither."""
    tr = Tracker(tiny_model, ClipSource(moving_squares(40)), corrections_as_conditioning=as_cond)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 5))
    fixed = tr.add_clicks(a, 5, [Click(20, 12)], box=Box(4, 4, 30, 26))
    list(tr.propagate(5, 39))  # far beyond the memory window
    again = tr.track(5)
    assert again.masks[a].kind == "reused" and np.array_equal(again.masks[a].mask, fixed.mask)


def test_propagate_backward_from_a_middle_keyframe_and_correct_there(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 6, [Click(20, 14)], box=Box(10, 6, 34, 26))
    back = list(tr.propagate(6, reverse=True))
    assert [r.frame_index for r in back] == [5, 4, 3, 2, 1, 0]
    fwd = list(tr.propagate(6, 9))
    assert [r.frame_index for r in fwd] == [7, 8, 9]
    assert tr.tracked_frames(a) == list(range(10))
    # a correction on a frame reached backwards makes the *earlier* frames stale, not the later ones
    tr.add_clicks(a, 3, [Click(14, 12)])
    assert tr.tracked_frames(a) == list(range(3, 10))


def test_staleness_stops_at_the_next_prompted_frame(tiny_model, clip):
    tr = Tracker(tiny_model, clip)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 9))
    tr.add_clicks(a, 6, [Click(22, 14)])  # a correction: 7..9 become stale
    assert tr.tracked_frames(a) == list(range(7))
    list(tr.propagate(6, 9))
    tr.add_clicks(a, 2, [Click(12, 16)])  # 3..5 are stale; 6 was prompted, 7..9 were tracked from it
    assert tr.tracked_frames(a) == [0, 1, 2, 6, 7, 8, 9]


def test_state_outside_the_memory_window_is_evicted(tiny_model):
    src = ClipSource(moving_squares(60))
    tr = Tracker(tiny_model, src)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(12, 14)])
    list(tr.propagate(0, 59))
    st = tr._objects[a]
    held = sorted(st.outputs["non_cond_frame_outputs"])
    assert held[0] >= 59 - tr.memory_window and held[-1] == 59
    assert 0 in st.outputs["cond_frame_outputs"]  # the user's prompt is never evicted
    assert all("high_res_masks" not in o for b in st.outputs.values() for o in b.values())
    assert tr.tracked_frames(a) == list(range(60))  # eviction forgets memory, not which frames are done


class _EndlessDrift:
    """A lazily rendered 2,000-frame video: a textured square drifting over a textured background."""

    def __init__(self, num_frames: int = 2000, height: int = 72, width: int = 96) -> None:
        rng = np.random.default_rng(3)
        self.num_frames, self.height, self.width, self.fps, self.name = (
            num_frames,
            height,
            width,
            25.0,
            "drift",
        )
        self._bg = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
        self._tex = rng.integers(150, 255, (16, 16, 3), dtype=np.uint8)

    def frame(self, k: int) -> np.ndarray:
        f = self._bg.copy()
        y, x = 20 + int(10 * np.sin(k / 30)), 10 + (k % 60)
        f[y : y + 16, x : x + 16] = self._tex
        return f


@pytest.mark.slow
def test_rss_growth_is_bounded_over_2000_frames(tiny_model):
    src = _EndlessDrift()
    tr = Tracker(tiny_model, src, capture_budget_bytes=8 * 2**20)
    a = tr.add_object()
    tr.add_clicks(a, 0, [Click(28, 28)])
    proc = psutil.Process()
    held_at_100 = None
    rss_at_100 = 0
    for res in tr.propagate(0):
        # the caller owns masks; keep only what a store would (nothing here)
        del res
        f = tr.current_frame
        if f == 100:
            gc.collect()
            rss_at_100 = proc.memory_info().rss
            held_at_100 = dict(tr.memory_bytes)
    gc.collect()
    growth = proc.memory_info().rss - rss_at_100
    held = tr.memory_bytes
    # what the tracker holds does not grow with the video's length
    assert held["state"] <= held_at_100["state"] * 1.05 + 4096
    assert held["captures"] <= 8 * 2**20 and held["features"] <= held_at_100["features"]
    assert tr.tracked_frames(a) == list(range(2000))
    # and the process agrees. Without eviction SAM2 keeps ~24 KB per frame even at this 64 px size
    # (~46 MiB over these 1,900 frames; ~4.7 MB per frame at 1024 px), so 24 MiB is a real bound.
    assert growth < 24 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB after frame 100"
