"""Fixtures of the video tests: a long real video with many keyframe intervals to seek across."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from litlora_desktop.core.scenes.synthetic import SyntheticScene
from litlora_desktop.core.video.writing import write_video_file

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
