"""Video fixtures: synthetic scenes with ground truth, and the same scene as an mp4 and as images.

Session-scoped files are shared by every test: treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from litlora_desktop.core.scenes.synthetic import SyntheticScene
from litlora_desktop.core.video.writing import write_image_folder, write_video_file

__all__ = ["image_folder", "scene_factory", "synthetic_scene", "video_file"]

SCENE_DEFAULTS: dict[str, Any] = {"num_frames": 24, "size": (96, 128), "seed": 0, "scenario": "basic"}


@pytest.fixture(scope="session")
def synthetic_scene() -> SyntheticScene:
    """24 frames, 128x96 (W x H), three textured objects moving: ids 1, 2, 3."""
    return SyntheticScene(**SCENE_DEFAULTS)


@pytest.fixture
def scene_factory() -> Callable[..., SyntheticScene]:
    """Build a scene with the defaults above, overridden by keyword: scene_factory(scenario="split")."""

    def make(**kwargs: Any) -> SyntheticScene:
        return SyntheticScene(**{**SCENE_DEFAULTS, **kwargs})

    return make


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory, synthetic_scene: SyntheticScene) -> Path:
    """`synthetic_scene` encoded as mp4v in an .mp4 (lossy: compare to the scene with a tolerance)."""
    return write_video_file(synthetic_scene, tmp_path_factory.mktemp("video") / "scene.mp4")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory, synthetic_scene: SyntheticScene) -> Path:
    """`synthetic_scene` as lossless frame_0.png ... frame_23.png (no zero padding)."""
    folder = tmp_path_factory.mktemp("frames")
    write_image_folder(synthetic_scene, folder, ext="png")
    return folder
