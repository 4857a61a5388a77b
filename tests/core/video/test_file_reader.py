"""FileReader: exact random access into real files, honest frame counts, seeks that lie corrected."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from litlora_desktop.core.scenes.synthetic import SyntheticScene
from litlora_desktop.core.video.file_reader import FileReader, open_capture
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.core.video.writing import keyframe_indices, write_video_file
from tests.core.video.conftest import N_LONG


def _source(path: Path, factory=open_capture, cache_bytes: int = 0) -> VideoSource:
    return VideoSource(FileReader(path, capture_factory=factory), path.name, cache_bytes)


# -- exact random access on real files --------------------------------------------------------------


def test_random_order_equals_sequential(long_video):
    path, ref = long_video
    keys = keyframe_indices(path)
    assert keys is not None and len(keys) >= 10, "the test needs many keyframe intervals to seek across"
    assert len({f.tobytes() for f in ref}) == N_LONG, "every frame unique, so a wrong frame cannot pass"
    order = list(range(N_LONG))
    random.Random(0).shuffle(order)
    order += [100, 99, 98, 13, 12, 11, 159, 0, 159, 12]  # backwards steps, keyframe edges, ends
    with VideoSource.open(path, cache_bytes=0) as v:
        assert (v.num_frames, v.fps, v.width, v.height) == (N_LONG, 24.0, 96, 64)
        for k in order:
            assert np.array_equal(v.frame(k), ref[k]), f"frame {k} read by seeking differs"
    with VideoSource.open(path, cache_bytes=0) as v:
        for k in range(N_LONG):
            assert np.array_equal(v.frame(k), ref[k]), f"frame {k} read sequentially differs"


class _SpyCapture:
    """A real capture that counts seeks."""

    seeks = 0

    def __init__(self, path: str) -> None:
        self._cap = open_capture(path)

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            _SpyCapture.seeks += 1
        return self._cap.set(prop, value)

    def __getattr__(self, name: str):
        return getattr(self._cap, name)


def test_stepping_forward_never_seeks(long_video):
    path, ref = long_video
    with _source(path, _SpyCapture) as v:
        _SpyCapture.seeks = 0
        for k in range(40):
            assert np.array_equal(v.frame(k), ref[k])
        assert _SpyCapture.seeks == 0 and v.indexed_frames == 40
        # A first jump beyond the indexed frames decodes the gap (no seek can be verified there).
        assert np.array_equal(v.frame(120), ref[120])
        assert _SpyCapture.seeks == 0 and v.indexed_frames == 121
        assert np.array_equal(v.frame(50), ref[50])  # a jump back seeks...
        jump = _SpyCapture.seeks
        assert 1 <= jump <= 3
        for k in range(51, 80):  # ...then playing on from there does not
            assert np.array_equal(v.frame(k), ref[k])
        assert _SpyCapture.seeks == jump


def test_truncated_file_reports_the_frames_it_really_has(tmp_path, long_video):
    scene = SyntheticScene(N_LONG, (64, 96), seed=7, scenario="mixed")
    full = write_video_file(scene, tmp_path / "full.avi", fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    assert cv2.VideoCapture(str(cut)).get(cv2.CAP_PROP_FRAME_COUNT) == N_LONG, "the header lies"
    with VideoSource.open(full) as ref, VideoSource.open(cut) as v:
        assert 80 <= v.num_frames < 100
        assert np.array_equal(v.frame(v.num_frames - 2), ref.frame(v.num_frames - 2))
        with pytest.raises(IndexError, match="out of range"):
            v.frame(v.num_frames)


# -- seeking that lies: the logic is proven on a decoder stand-in ---------------------------------


class _LyingCapture:
    """A decoder whose seeks land a few frames off target and whose header count can be wrong.

    Frames are decoded "from the start" as the ground truth, as with any real decoder.
    """

    def __init__(self, n: int, header_count: float, seek_error: int = 6, pts: str = "ok") -> None:
        self.frames = [np.full((8, 10, 3), k, np.uint8) for k in range(n)]
        self.header, self.error, self.pts_mode = header_count, seek_error, pts
        self.pos, self.open = -1, True
        self.grabs_since_seek = -1

    def isOpened(self) -> bool:
        return self.open

    def get(self, prop: int) -> float:
        return {
            cv2.CAP_PROP_FRAME_WIDTH: 10.0,
            cv2.CAP_PROP_FRAME_HEIGHT: 8.0,
            cv2.CAP_PROP_FPS: 30.0,
            cv2.CAP_PROP_FRAME_COUNT: self.header,
            cv2.CAP_PROP_PTS: self._pts(),
        }[prop]

    def _pts(self) -> float:
        if self.pos < 0 or self.pts_mode == "none":
            return -1.0
        return float(self.pos // 2) if self.pts_mode == "duplicate" else 1000.0 + 3 * self.pos

    def set(self, prop: int, value: float) -> bool:
        target = int(value)
        offset = (target * 7919) % (2 * self.error + 1) - self.error  # lands up to `error` off either side
        self.pos = min(max(target + offset, 0), len(self.frames)) - 1
        self.grabs_since_seek = 0
        return True

    def grab(self) -> bool:
        if self.pos + 1 >= len(self.frames):
            return False
        self.pos += 1
        if (
            self.pts_mode == "lost-after-seek"
            and self.grabs_since_seek == 1
            and self.pos + 1 < len(self.frames)
        ):
            self.pos += 1  # like a leading picture of an open GOP that cannot be decoded after a seek
        if self.grabs_since_seek >= 0:
            self.grabs_since_seek += 1
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, self.frames[self.pos].copy()

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self.retrieve() if self.grab() else (False, None)

    def release(self) -> None:
        self.open = False


@pytest.mark.parametrize(
    ("header", "pts"),
    [
        (120, "ok"),
        (150, "ok"),
        (100, "ok"),
        (-1, "ok"),
        (120, "none"),
        (120, "duplicate"),
        (120, "lost-after-seek"),
    ],
    ids=[
        "right-count",
        "count-too-high",
        "count-too-low",
        "no-count",
        "no-pts",
        "duplicate-pts",
        "lost-after-seek",
    ],
)
def test_inexact_seeks_and_wrong_counts_are_corrected(tmp_path, header, pts):
    factory = lambda _path: _LyingCapture(120, header, pts=pts)  # noqa: E731
    v = _source(tmp_path / "fake.mp4", factory)
    assert v.num_frames == 120
    order = list(range(120))
    random.Random(1).shuffle(order)
    for k in [*order, 119, 0, 60, 59, 58, 3]:
        assert v.frame(k)[0, 0, 0] == k, f"asked for frame {k}"
    with pytest.raises(IndexError):
        v.frame(120)


def test_the_lying_capture_really_lies():
    cap = _LyingCapture(120, 120)
    landed = []
    for k in range(30, 40):
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        cap.grab()
        landed.append(cap.retrieve()[1][0, 0, 0])
    assert sum(int(a) != k for a, k in zip(landed, range(30, 40), strict=True)) >= 8


# -- containers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fourcc", "ext"), [("mp4v", "mov"), ("MJPG", "avi"), ("FFV1", "mkv")])
def test_containers(tmp_path, scene_factory, fourcc, ext):
    scene = scene_factory(num_frames=20, fps=12.0)
    path = write_video_file(scene, tmp_path / f"v.{ext}", fourcc=fourcc)
    with VideoSource.open(path) as v:
        assert (v.num_frames, v.fps, v.width, v.height) == (20, 12.0, 128, 96)
        for k in (19, 0, 7):
            assert np.abs(v.frame(k).astype(int) - scene.frame(k)).mean() < 6
