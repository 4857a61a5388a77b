"""The app's sample video: a held-out scene of the shape world the demo model was trained on."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from litlora_desktop.core.scenes.shapes import ShapeScene
from litlora_desktop.core.video.writing import write_video_file

__all__ = ["SAMPLE_INDEX", "ensure_sample_video", "sample_scene"]

SAMPLE_INDEX = 1
"""The app's sample is scene 1 of the shape world's ``sample`` split: a seed no training ever sees."""


def sample_scene() -> ShapeScene:
    """The app's sample video: 5 s at 24 fps, 480x270, three textured shapes on a calm background.

    It comes from the shape world the demo model was trained on, from a held-out seed, and its ground
    truth is kept in ``resources/sample/ground_truth.json`` for the accuracy tests.
    """
    return ShapeScene(SAMPLE_INDEX, split="sample", preset="sample", num_frames=120, size=(270, 480))


def ensure_sample_video(path: str | os.PathLike[str]) -> Path:
    """Create the sample video at `path` unless the current one is already there.

    Called at app start-up; the write is atomic, so two instances starting together cannot leave a
    half-written file behind. A stamp beside the video names the scene it shows, so a sample made by
    an older version of the app is replaced rather than kept.
    """
    path = Path(path)
    scene = sample_scene()
    stamp = path.with_name(path.name + ".scene")
    try:
        current = path.is_file() and path.stat().st_size > 0 and stamp.read_text() == repr(scene)
    except OSError:
        current = False
    if current:
        return path
    write_video_file(scene, path)
    with contextlib.suppress(OSError):  # a read-only install still has a good video: no stamp is fine
        stamp.write_text(repr(scene))
    return path
