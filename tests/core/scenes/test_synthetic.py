"""Synthetic scenes: deterministic, lazy, textured, and each scenario shows the event it promises."""

from __future__ import annotations

import os
import tracemalloc

import cv2
import numpy as np
import pytest

from litlora_desktop.core.scenes.sample import ensure_sample_video, sample_scene
from litlora_desktop.core.scenes.synthetic import SCENARIOS, SyntheticScene, render
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.core.video.writing import keyframe_indices, write_image_folder, write_video_file


def _components(mask: np.ndarray, min_area: int = 4) -> int:
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_area).sum())


def _areas(scene: SyntheticScene, obj_id: int) -> np.ndarray:
    return np.array([scene.mask(obj_id, k).sum() for k in range(scene.num_frames)])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_same_video_other_seed_other_video(scenario):
    a, b = (SyntheticScene(12, (64, 96), seed=5, scenario=scenario) for _ in range(2))
    c = SyntheticScene(12, (64, 96), seed=6, scenario=scenario)
    for k in (11, 0, 6):  # any order: frame k depends on k and the seed only
        assert np.array_equal(a.frame(k), b.frame(k))
        for obj_id in a.object_ids:
            assert np.array_equal(a.mask(obj_id, k), b.mask(obj_id, k))
    assert not np.array_equal(a.frame(0), c.frame(0))


def test_types_shapes_and_errors(synthetic_scene):
    s = synthetic_scene
    f, m = s.frame(3), s.mask(1, 3)
    assert f.shape == (96, 128, 3) and f.dtype == np.uint8
    assert m.shape == (96, 128) and m.dtype == bool
    assert (s.num_frames, s.height, s.width, s.fps, s.object_ids) == (24, 96, 128, 24.0, [1, 2, 3])
    f[:] = 0  # the caller owns the frame it gets
    assert s.frame(3).any()
    with pytest.raises(IndexError, match="out of range"):
        s.frame(24)
    with pytest.raises(KeyError):
        s.mask(9, 0)
    with pytest.raises(ValueError, match="scenario"):
        SyntheticScene(10, scenario="nope")
    with pytest.raises(ValueError):
        SyntheticScene(0)


def test_render_matches_frame_and_mask(synthetic_scene):
    frames, masks = render(synthetic_scene)
    assert frames.shape == (24, 96, 128, 3) and set(masks) == {1, 2, 3}
    for k in (0, 23):
        assert np.array_equal(frames[k], synthetic_scene.frame(k))
        assert np.array_equal(masks[2][k], synthetic_scene.mask(2, k))


def test_objects_are_textured_visible_and_disjoint(synthetic_scene):
    s = synthetic_scene
    for k in range(0, s.num_frames, 5):
        labels = s.label_map(k)
        frame = s.frame(k).astype(np.float32)
        bg = frame[labels == 0]
        assert bg.std(axis=0).min() > 4, "background must not be flat"
        for obj_id in s.object_ids:
            inside = frame[s.mask(obj_id, k)]
            assert len(inside) > 100
            assert inside.std(axis=0).max() > 20, f"object {obj_id} must be textured"
            assert np.abs(inside.mean(axis=0) - bg.mean(axis=0)).max() > 20, "objects must stand out"


def test_objects_move_smoothly_and_keep_their_appearance(scene_factory):
    s = scene_factory(num_frames=60, size=(135, 240))
    centres = []
    for k in range(s.num_frames):
        ys, xs = np.nonzero(s.mask(1, k))
        centres.append((xs.mean(), ys.mean()))
    steps = np.hypot(*np.diff(np.array(centres), axis=0).T)
    assert steps.max() < 6 and steps.sum() > 40  # moves, without jumps
    first, last = (s.frame(k)[s.mask(1, k)].astype(np.float32).mean(axis=0) for k in (0, 59))
    assert np.abs(first - last).max() < 15  # same texture, moved


def test_occluded_object_shrinks_vanishes_and_reappears(scene_factory):
    s = scene_factory(scenario="occlusion", num_frames=60)
    area = _areas(s, 1)
    hidden = np.flatnonzero(area == 0)
    assert len(hidden) >= 3, "the target must be fully hidden for a few frames"
    first, last = hidden[0], hidden[-1]
    assert area[0] > 0 and area[-1] > 0, "visible before and after"
    assert np.all(area[first : last + 1] == 0), "hidden once, in one stretch"
    assert 0 < area[first - 1] < area[0], "partly hidden just before vanishing"
    assert area[last + 1 :].max() >= 0.9 * area[0], "reappears whole"
    assert _areas(s, 2).min() > 0, "the occluder stays in view"


def test_split_object_becomes_two_parts(scene_factory):
    s = scene_factory(scenario="split", num_frames=50)
    assert all(_components(s.mask(1, k)) == 1 for k in range(0, 15))
    assert all(_components(s.mask(1, k)) == 2 for k in range(40, 50))
    assert _areas(s, 1)[40:].min() > 0.8 * _areas(s, 1)[0], "both halves remain the object"


def test_distractor_looks_like_the_target_and_stays_near(scene_factory):
    s = scene_factory(scenario="distractor", num_frames=30, size=(135, 240))
    for k in (0, 15, 29):
        t, d = s.mask(1, k), s.mask(2, k)
        assert abs(int(t.sum()) - int(d.sum())) < 0.15 * t.sum()
        f = s.frame(k).astype(np.float32)
        assert np.abs(f[t].mean(axis=0) - f[d].mean(axis=0)).max() < 12
        dist = np.hypot(*(np.argwhere(t).mean(axis=0) - np.argwhere(d).mean(axis=0)))
        assert dist < 0.4 * min(s.height, s.width), "near the target"
        assert not (cv2.dilate(t.astype(np.uint8), np.ones((3, 3))) & d).any(), "never touching"


def test_long_scene_is_lazy():
    tracemalloc.start()
    try:
        s = SyntheticScene(2000, (270, 480), seed=1, scenario="mixed")
        s.frame(1999)
        s.mask(3, 1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB: frames must be rendered on demand (all: 777 MiB)"


def test_image_folder_names_are_not_zero_padded(tmp_path, scene_factory):
    paths = write_image_folder(scene_factory(num_frames=12), tmp_path, ext="jpg")
    assert [p.name for p in paths][9:] == ["frame_9.jpg", "frame_10.jpg", "frame_11.jpg"]


def test_video_file_keyframe_interval_is_checked_not_assumed(tmp_path, scene_factory):
    s = scene_factory(num_frames=30)
    p = write_video_file(s, tmp_path / "a.mp4", keyframe_interval=12)  # mp4v's default GOP
    assert keyframe_indices(p) == [0, 12, 24]
    with pytest.raises(ValueError, match="every 12 frames, not every 5"):
        write_video_file(s, tmp_path / "b.mp4", keyframe_interval=5)
    assert sorted(os.listdir(tmp_path)) == ["a.mp4"], "no file, not even a temporary one, is left behind"
    p = write_video_file(s, tmp_path / "c.mov", fourcc="MJPG", keyframe_interval=1)
    assert keyframe_indices(p) == list(range(30))


def test_sample_video_is_created_once_and_deterministic(tmp_path):
    path = ensure_sample_video(tmp_path / "sample" / "sample.mp4")
    mtime = path.stat().st_mtime_ns
    assert ensure_sample_video(path) == path and path.stat().st_mtime_ns == mtime
    with VideoSource.open(path) as v:
        assert (v.num_frames, v.width, v.height, v.fps) == (120, 480, 270, 24.0)
        assert np.abs(v.frame(60).astype(int) - sample_scene().frame(60)).mean() < 6
    s = sample_scene()
    assert len(s.object_ids) == 3 and all(s.mask(o, 0).sum() > 500 for o in s.object_ids)
    assert path.with_name("sample.mp4.scene").read_text() == repr(s)
    path.with_name("sample.mp4.scene").write_text("an older sample")
    assert ensure_sample_video(path) == path and path.stat().st_mtime_ns != mtime, "an old sample is replaced"
    again = write_video_file(s, tmp_path / "again.mp4")
    assert again.read_bytes() == path.read_bytes()
