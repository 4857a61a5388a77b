"""FolderReader: image folders in natural order, one size for all, clear errors for unusable ones."""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.core.video.errors import VideoError
from litlora_desktop.core.video.folder_reader import natural_sort_key
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.core.video.writing import write_image_folder

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
