"""VideoSource: exact random access, honest frame counts, bounded cache, clear errors."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene
from litlora_desktop.core.video.sources import (
    ArrayVideoSource,
    FrameSource,
    VideoError,
    VideoSource,
    _FileReader,
    _open_capture,
    natural_sort_key,
)
from litlora_desktop.core.video.writing import keyframe_indices, write_image_folder, write_video_file

N_LONG = 160


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """160 frames with a keyframe every 12, and every frame as plain sequential OpenCV decodes it."""
    scene = SyntheticScene(N_LONG, (64, 96), seed=7, scenario="mixed")
    path = write_video_file(scene, tmp_path_factory.mktemp("long") / "long.mp4")
    cap, ref = cv2.VideoCapture(str(path)), []
    while (got := cap.read())[0]:
        ref.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(ref) == N_LONG
    return path, ref


def _source(path: Path, factory=_open_capture, cache_bytes: int = 0) -> VideoSource:
    return VideoSource(_FileReader(path, capture_factory=factory), path.name, cache_bytes)


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
        self._cap = _open_capture(path)

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


def test_build_index_in_chunks_lets_other_readers_through(long_video, monkeypatch):
    path, ref = long_video
    monkeypatch.setattr("litlora_desktop.core.video.sources._SCAN_CHUNK", 25)
    seen: list[tuple[int, int]] = []
    with VideoSource.open(path, cache_bytes=0) as v:

        def progress(done: int, total: int) -> None:
            seen.append((done, total))
            assert np.array_equal(v.frame(3), ref[3])  # another reader, between two chunks

        assert v.build_index(progress) == N_LONG
        assert v.indexed_frames == N_LONG
        assert seen[0] == (26, N_LONG) and seen[-1] == (N_LONG, N_LONG) and len(seen) == 7
        assert np.array_equal(v.frame(159), ref[159])
    with VideoSource.open(path) as v:
        assert v.build_index(should_stop=lambda: True) == N_LONG and v.indexed_frames == 26


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


# -- image folders ----------------------------------------------------------------------------------


def test_image_folder_in_natural_order(image_folder, synthetic_scene):
    with VideoSource.open(image_folder) as v:
        assert v.is_folder and v.name == image_folder.name
        assert (v.num_frames, v.width, v.height, v.fps) == (24, 128, 96, 24.0)
        for k in (0, 1, 2, 9, 10, 11, 23, 2):
            assert np.array_equal(v.frame(k), synthetic_scene.frame(k)), f"frame {k} out of order"
    assert VideoSource.open(image_folder, fps=12.5).fps == 12.5


def test_natural_sort_key():
    names = ["frame_10.jpg", "frame_2.jpg", "Frame_1.jpg", "frame_100.jpg", "frame_02b.jpg"]
    assert sorted(names, key=natural_sort_key) == [
        "Frame_1.jpg",
        "frame_2.jpg",
        "frame_02b.jpg",
        "frame_10.jpg",
        "frame_100.jpg",
    ]


def test_folder_ignores_other_files_and_reads_jpeg(tmp_path, scene_factory):
    scene = scene_factory(num_frames=3)
    write_image_folder(scene, tmp_path, ext="jpeg")
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "._frame_0.jpeg").write_bytes(b"macOS metadata, not an image")
    (tmp_path / "sub").mkdir()
    with VideoSource.open(tmp_path) as v:
        assert v.num_frames == 3
        assert np.abs(v.frame(2).astype(int) - scene.frame(2)).mean() < 4


def test_mixed_sizes_are_refused_naming_the_odd_image(tmp_path, scene_factory):
    write_image_folder(scene_factory(num_frames=3), tmp_path, ext="png")
    write_image_folder(
        scene_factory(num_frames=1, size=(64, 64)), tmp_path, ext="jpg", pattern="frame_{k}_odd"
    )
    with pytest.raises(VideoError, match=r"'frame_0_odd\.jpg'.*64x64.*same size"):
        VideoSource.open(tmp_path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is empty"),
        (lambda d: (d / "readme.txt").write_text("hi"), "contains no images"),
        (
            lambda d: (d / "frame_0.png").write_bytes(b"\x89PNG but not really"),
            r"'.*frame_0\.png' is damaged",
        ),
    ],
    ids=["empty", "no-images", "corrupt-image"],
)
def test_unusable_folders(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(VideoError, match=message):
        VideoSource.open(tmp_path)


def test_image_damaged_after_its_header_fails_on_read(tmp_path, scene_factory):
    write_image_folder(scene_factory(num_frames=2), tmp_path, ext="png")
    p = tmp_path / "frame_1.png"
    p.write_bytes(p.read_bytes()[:200])  # header intact, pixels gone
    with VideoSource.open(tmp_path) as v:
        v.frame(0)
        with pytest.raises(VideoError, match=r"frame_1\.png' is damaged"):
            v.frame(1)


# -- files that are not videos ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("random.mp4", np.random.default_rng(0).bytes(4000), r"'random\.mp4' is not a video"),
        ("notes.mp4", b"just some text\n" * 20, r"'notes\.mp4' is not a video"),
        ("empty.avi", b"", r"'empty\.avi' is not a video"),
        ("photo.png", b"\x89PNG", r"'photo\.png' is a single image"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(VideoError, match=message):
        VideoSource.open(tmp_path / name)


def test_missing_path(tmp_path):
    with pytest.raises(VideoError, match=r"'.*nowhere\.mp4' does not exist"):
        VideoSource.open(tmp_path / "nowhere.mp4")


@pytest.mark.parametrize(("fourcc", "ext"), [("mp4v", "mov"), ("MJPG", "avi"), ("FFV1", "mkv")])
def test_containers(tmp_path, scene_factory, fourcc, ext):
    scene = scene_factory(num_frames=20, fps=12.0)
    path = write_video_file(scene, tmp_path / f"v.{ext}", fourcc=fourcc)
    with VideoSource.open(path) as v:
        assert (v.num_frames, v.fps, v.width, v.height) == (20, 12.0, 128, 96)
        for k in (19, 0, 7):
            assert np.abs(v.frame(k).astype(int) - scene.frame(k)).mean() < 6


# -- indices, cache, threads, lifetime ----------------------------------------------------------------


def test_index_errors(video_file):
    with VideoSource.open(video_file) as v:
        for bad in (-1, 24, 10**9):
            with pytest.raises(
                IndexError, match=r"frame -?\d+ is out of range: 'scene\.mp4' has frames 0\.\.23"
            ):
                v.frame(bad)
        with pytest.raises(TypeError):
            v.frame(1.5)  # type: ignore[arg-type]


def test_cache_is_bounded_in_bytes_and_lru(video_file):
    frame_bytes = 96 * 128 * 3
    with VideoSource.open(video_file, cache_bytes=int(3.5 * frame_bytes)) as v:
        assert v.cache_bytes == 0 and v.cache_limit_bytes == int(3.5 * frame_bytes)
        for k in range(10):
            v.frame(k)
            assert v.cache_bytes <= v.cache_limit_bytes
        assert v.cache_bytes == 3 * frame_bytes and v.cached_frames == 3
        kept = v.frame(7)
        v.frame(0)  # evicts 8, the least recently used, not 7
        assert v.frame(7) is kept
        assert not kept.flags.writeable, "cached frames are read-only"
        v.clear_cache()
        assert v.cache_bytes == 0
    with VideoSource.open(video_file, cache_bytes=0) as v:
        v.frame(3)
        assert v.cache_bytes == 0


def test_threads_share_one_source(long_video):
    path, ref = long_video
    errors: list[str] = []
    with VideoSource.open(path, cache_bytes=0) as v:

        def work(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(60):
                k = rng.randrange(N_LONG)
                if not np.array_equal(v.frame(k), ref[k]):
                    errors.append(f"thread {seed}: frame {k}")

        threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_close_and_context_manager(video_file):
    with VideoSource.open(video_file) as v:
        v.frame(0)
        assert v.build_index() == 24
    assert v.closed and v.cache_bytes == 0
    with pytest.raises(VideoError, match="closed"):
        v.frame(1)
    v.close()  # twice is fine


def test_in_memory_sources_are_frame_sources(synthetic_scene):
    frames = np.stack([synthetic_scene.frame(k) for k in range(5)])
    arr = ArrayVideoSource(frames, fps=10.0)
    scene = SceneVideoSource(synthetic_scene)
    for src in (arr, scene):
        assert isinstance(src, FrameSource)
        assert np.array_equal(src.frame(4), frames[4])
        with pytest.raises(IndexError):
            src.frame(src.num_frames)
    assert (arr.num_frames, arr.width, arr.height, arr.fps) == (5, 128, 96, 10.0)
    assert (scene.num_frames, scene.fps) == (24, 24.0) and scene.name == "synthetic-basic-0"
    assert not arr.frame(0).flags.writeable
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        ArrayVideoSource(frames.astype(np.float32))
