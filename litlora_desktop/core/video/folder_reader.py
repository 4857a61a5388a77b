"""Frames stored as numbered images in one folder (a DAVIS-style sequence, an exported frame dump).

Natural order ('frame_2' before 'frame_10'), one size for every image (read from the file headers
without decoding, so opening a long folder is quick), and a frame rate given by the caller because a
folder has none of its own.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litlora_desktop.core.video.errors import VideoError, shown_path

__all__ = ["DEFAULT_FOLDER_FPS", "IMAGE_EXTENSIONS", "FolderReader", "natural_sort_key"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
DEFAULT_FOLDER_FPS = 24.0  # an image folder has no frame rate of its own


def natural_sort_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders 'frame_2' before 'frame_10', as a person would."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name.casefold()))


class FolderReader:
    """Frames stored as numbered images; all must share one size."""

    def __init__(self, folder: Path, fps: float | None) -> None:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if not entries:
            raise VideoError(f"The folder '{shown_path(folder)}' is empty: it holds no frames to open.")
        files = sorted(
            (p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: natural_sort_key(p.name),
        )
        if not files:
            raise VideoError(
                f"The folder '{shown_path(folder)}' contains no images: expected frames as .jpg, .jpeg or .png files."
            )
        self.files = files
        self.width, self.height = _image_size(files[0])
        for p in files[1:]:
            w, h = _image_size(p)
            if (w, h) != (self.width, self.height):
                raise VideoError(
                    f"The image '{shown_path(p.name)}' in '{shown_path(folder)}' is {w}x{h} pixels, but '{shown_path(files[0].name)}' is "
                    f"{self.width}x{self.height}: all frames of a video must have the same size."
                )
        self.num_frames = len(files)
        self.fps = float(fps) if fps else DEFAULT_FOLDER_FPS

    def read(self, index: int) -> np.ndarray:
        p = self.files[index]
        try:
            data = np.fromfile(p, dtype=np.uint8)  # imread cannot open non-ASCII paths on Windows
        except OSError as exc:
            raise VideoError(f"Could not read the image '{shown_path(p)}': {exc.strerror or exc}.") from exc
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
        if bgr is None:
            raise VideoError(f"The image '{shown_path(p)}' is damaged or not a JPEG/PNG image.")
        if bgr.shape[:2] != (self.height, self.width):
            raise VideoError(
                f"The image '{shown_path(p.name)}' decodes to {bgr.shape[1]}x{bgr.shape[0]} pixels, not the "
                f"{self.width}x{self.height} of the other frames."
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        pass


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels; decodes as a fallback."""
    try:
        with open(path, "rb") as f:
            head = f.read(256 * 1024)
    except OSError as exc:
        raise VideoError(f"Could not read the image '{shown_path(path)}': {exc.strerror or exc}.") from exc
    size = _png_size(head) or _jpeg_size(head)
    if size is None:
        bgr = cv2.imdecode(np.frombuffer(head, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None and len(head) == 256 * 1024:
            bgr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None:
            raise VideoError(f"The image '{shown_path(path)}' is damaged or not a JPEG/PNG image.")
        size = (bgr.shape[1], bgr.shape[0])
    return size


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return (w, h) if w and h else None
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            if i + 9 > len(head):
                return None
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return (w, h) if w and h else None
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        i += 2 + length
    return None
