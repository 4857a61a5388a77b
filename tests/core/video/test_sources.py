"""VideoSource: whole-file indexing, bounded cache, threads, lifetime, clear errors; in-memory sources."""

from __future__ import annotations

import os
import random
import threading

import numpy as np
import pytest

from litlora_desktop.core.scenes.synthetic import SceneVideoSource
from litlora_desktop.core.video.errors import VideoError
from litlora_desktop.core.video.sources import ArrayVideoSource, FrameSource, VideoSource
from tests.core.video.conftest import N_LONG


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


def test_a_file_that_is_not_a_video_gives_our_sentence_alone(tmp_path):
    """FFmpeg's and OpenCV's own lines ("moov atom not found", "[ WARN:0@5.7] global cap.cpp...")
    reached the terminal of `litlora-desktop track` beside the one sentence that says what is wrong."""
    import subprocess
    import sys

    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"just some text\n" * 20)
    masks = tmp_path / "masks"
    masks.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    argv = [sys.executable, "-m", "litlora_desktop.cli", "track", str(bad), "--masks", str(masks)]
    argv += ["--out", str(tmp_path / "o"), "--model", "tiny-random", "--device", "cpu", "--quiet"]
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    lines = [ln.strip() for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
    assert run.returncode == 1 and len(lines) == 1, lines
    assert "notes.mp4: FAILED" in lines[0] and "is not a video" in lines[0]


def test_missing_path(tmp_path):
    with pytest.raises(VideoError, match=r"'.*nowhere\.mp4' does not exist"):
        VideoSource.open(tmp_path / "nowhere.mp4")


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
