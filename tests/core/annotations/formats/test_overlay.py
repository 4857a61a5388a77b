"""The overlay video: every frame, each object tinted in its colour."""

import cv2

from litlora_desktop.core.annotations.formats.overlay import export_overlay
from tests.core.annotations.formats.samples import FakeVideo, H, N, W


def test_overlay_video_tints_the_objects(store, tmp_path):
    out = tmp_path / "overlay.mp4"
    export_overlay(store, FakeVideo(), out)
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    inside = frames[3][12, 13].astype(int)  # person (red) tinted over a green frame, BGR
    outside = frames[3][2, 54].astype(int)
    assert inside[2] > 60 and outside[2] < 30
