"""Writing frames to a video file or an image folder, and reading back where its keyframes are.

Used to make the sample video, test videos and evaluation sets; the writes are atomic (a temporary
sibling, then a rename), so nothing half-written is ever left where a reader would open it.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from litlora_desktop.core.video.errors import VideoError, require_text_name

__all__ = ["Frames", "keyframe_indices", "write_image_folder", "write_video_file"]


class Frames(Protocol):
    """Anything with RGB frames to write: a synthetic scene, a `FrameSource`."""

    num_frames: int
    width: int
    height: int
    fps: float

    def frame(self, index: int) -> np.ndarray: ...


# -- writing ---------------------------------------------------------------------------------------


def write_video_file(
    scene: Frames,
    path: str | os.PathLike[str],
    fourcc: str = "mp4v",
    keyframe_interval: int | None = None,
) -> Path:
    """Encode the scene to a video file with OpenCV, atomically (temporary file, then rename).

    `keyframe_interval=None` keeps the encoder's default; OpenCV's FFmpeg writer uses one keyframe
    every 12 frames for ``mp4v``. OpenCV cannot change the keyframe interval of an encoded stream,
    so another value is checked against what was written (MP4/MOV sync-sample table) and a mismatch
    raises ValueError instead of silently producing a different file.
    """
    path = Path(path)
    require_text_name(path, "write")
    if keyframe_interval is not None and keyframe_interval < 1:
        raise ValueError(f"keyframe_interval must be at least 1, got {keyframe_interval}")
    if len(fourcc) != 4:
        raise ValueError(f"fourcc must have 4 characters, got {fourcc!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}-{threading.get_ident()}{path.suffix}")
    writer = cv2.VideoWriter(
        str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), scene.fps, (scene.width, scene.height)
    )
    try:
        if not writer.isOpened():
            raise VideoError(
                f"Could not create video file '{path}': OpenCV has no '{fourcc}' encoder for "
                f"'{path.suffix}' files at {scene.width}x{scene.height}."
            )
        for k in range(scene.num_frames):
            writer.write(cv2.cvtColor(scene.frame(k), cv2.COLOR_RGB2BGR))
        writer.release()
        if keyframe_interval is not None:
            _check_keyframes(tmp, path, keyframe_interval, scene.num_frames)
        os.replace(tmp, path)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)
    return path


def _check_keyframes(tmp: Path, path: Path, interval: int, num_frames: int) -> None:
    keys = keyframe_indices(tmp)
    if keys is None:
        raise ValueError(
            f"cannot verify the keyframe interval of '{path.name}': only MP4/MOV files can be checked"
        )
    if keys != list(range(0, num_frames, interval)):
        got = keys[1] - keys[0] if len(keys) > 1 else num_frames
        raise ValueError(
            f"OpenCV's encoder wrote a keyframe every {got} frames, not every {interval}; "
            "OpenCV cannot choose it for an encoded stream: use keyframe_interval=None (the "
            "encoder's default), or 1 with the intra-only fourcc 'MJPG' in a .mov file"
        )


def write_image_folder(
    scene: Frames, folder: str | os.PathLike[str], ext: str = "jpg", pattern: str = "frame_{k}"
) -> list[Path]:
    """Write one image per frame, named ``pattern.format(k=k) + '.' + ext``.

    The default names are *not* zero-padded (frame_2 sorts after frame_10 as text), which is what a
    reader's natural sort must get right.
    """
    ext = ext.lower().lstrip(".")
    if ext not in ("jpg", "jpeg", "png"):
        raise ValueError(f"ext must be jpg, jpeg or png, got {ext!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(scene.num_frames):
        p = folder / f"{pattern.format(k=k)}.{ext}"
        ok, data = cv2.imencode(f".{ext}", cv2.cvtColor(scene.frame(k), cv2.COLOR_RGB2BGR))
        if not ok:
            raise VideoError(f"Could not encode frame {k} as '{p.name}'.")
        p.write_bytes(data.tobytes())
        paths.append(p)
    return paths


# -- checking what the encoder wrote --------------------------------------------------------------


def keyframe_indices(path: str | os.PathLike[str]) -> list[int] | None:
    """Indices of the keyframes of an MP4/MOV file, from its sync-sample table; None if not MP4/MOV.

    Tests use it to prove a video really has many keyframe intervals to seek across.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    stbl = _mp4_box(data, ["moov", "trak", "mdia", "minf", "stbl"])
    if stbl is None:
        return None
    stss = _mp4_box(data, ["stss"], *stbl)
    if stss is None:  # no table: every sample is a sync sample
        stsz = _mp4_box(data, ["stsz"], *stbl)
        if stsz is None:
            return None
        (count,) = struct.unpack(">I", data[stsz[0] + 8 : stsz[0] + 12])
        return list(range(count))
    start = stss[0]
    (count,) = struct.unpack(">I", data[start + 4 : start + 8])
    return [v - 1 for v in struct.unpack(f">{count}I", data[start + 8 : start + 8 + 4 * count])]


def _mp4_box(data: bytes, path: list[str], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """(payload start, end) of the first box along `path`, searching only the first video track."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[i + 8 : i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < header:
            return None
        if kind.decode("latin-1") == path[0]:
            if len(path) == 1:
                return i + header, i + size
            found = _mp4_box(data, path[1:], i + header, i + size)
            if found is not None:
                if path[0] != "trak" or _is_video_track(data, i + header, i + size):
                    return found
        i += size
    return None


def _is_video_track(data: bytes, start: int, end: int) -> bool:
    hdlr = _mp4_box(data, ["mdia", "hdlr"], start, end)
    return hdlr is not None and data[hdlr[0] + 8 : hdlr[0] + 12] == b"vide"
