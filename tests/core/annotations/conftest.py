"""Fixtures of the annotation tests: an empty store on a small frame, and a stand-in video file."""

import pytest

from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.store_samples import H, W


@pytest.fixture
def store():
    return AnnotationStore(H, W, num_frames=20)


@pytest.fixture
def video(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"not really a video, but it has a size")
    return p
