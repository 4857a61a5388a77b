"""Which video a project was made on: a fingerprint that notices a moved or changed video.

The project stores the video's path and a fingerprint (size, frame count, a few frames' pixel
hashes and tiny thumbnails), never the video itself. Opening the project compares the fingerprint
with the video found, so masks are never shown on frames they were not drawn on.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from litlora_desktop.core.video.sources import FrameSource


@dataclass(frozen=True)
class Fingerprint:
    """Enough about a video to notice that it moved or changed, without storing the video.

    ``frame_hashes`` are exact (SHA-256 of the decoded pixels); ``thumbnails`` (8×8, base64) let a
    different decoder build, which may round pixels differently, still be recognised.
    """

    file_size: int | None
    num_frames: int
    width: int
    height: int
    sample_frames: tuple[int, ...]
    frame_hashes: tuple[str, ...]
    thumbnails: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form for the manifest."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_json(cls, d: Any) -> Fingerprint:
        """Validate and build; ValueError when malformed."""
        try:
            fp = cls(
                None if d["file_size"] is None else int(d["file_size"]),
                int(d["num_frames"]),
                int(d["width"]),
                int(d["height"]),
                tuple(int(i) for i in d["sample_frames"]),
                tuple(str(h) for h in d["frame_hashes"]),
                tuple(str(t) for t in d["thumbnails"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad video fingerprint: {exc!r}") from exc
        if not len(fp.sample_frames) == len(fp.frame_hashes) == len(fp.thumbnails):
            raise ValueError("bad video fingerprint: sample lists differ in length")
        return fp


def _path_size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():  # an image-folder "video": total size of its files
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return None


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    import cv2  # imported here: only fingerprints need it, and it is slow to import

    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return cv2.resize(arr, (8, 8), interpolation=cv2.INTER_AREA)


def compute_fingerprint(
    source: FrameSource, video_path: str | os.PathLike | None = None, samples: int = 5
) -> Fingerprint:
    """Fingerprint a video from its size, frame count and a few evenly spaced frames' pixels."""
    n = int(source.num_frames)
    if n <= 0:
        raise ValueError("the video has no frames")
    idx = tuple(sorted(set(np.linspace(0, n - 1, min(samples, n)).round().astype(int).tolist())))
    hashes, thumbs = [], []
    for k in idx:
        frame = np.ascontiguousarray(source.frame(k))
        h = hashlib.sha256(repr((frame.shape, str(frame.dtype))).encode())
        h.update(frame.tobytes())
        hashes.append(h.hexdigest())
        thumbs.append(base64.b64encode(_thumbnail(frame).tobytes()).decode("ascii"))
    path = video_path if video_path is not None else getattr(source, "path", None)
    size = _path_size(Path(path)) if path is not None else None
    return Fingerprint(size, n, int(source.width), int(source.height), idx, tuple(hashes), tuple(thumbs))


@dataclass(frozen=True)
class FingerprintResult:
    """Outcome of :func:`check_video`: ``match``, ``moved`` (same content, other path) or ``changed``."""

    status: Literal["match", "moved", "changed"]
    message: str
    actual: Fingerprint


@dataclass
class VideoRef:
    """The project's video: path as stored (relative to the project folder when possible)."""

    path: str
    absolute: str
    fingerprint: Fingerprint | None = None


class RecordsVideo(Protocol):
    """What `check_video` needs of a project (a `Project`; a protocol, so this module does not import
    the project module that imports it)."""

    video: VideoRef | None

    def resolve_video_path(self) -> Path | None: ...


def check_video(
    project: RecordsVideo, source: FrameSource, video_path: str | os.PathLike | None = None
) -> FingerprintResult:
    """Compare an opened video with the one the project was made on.

    ``video_path`` defaults to ``source.path``. "changed" means the annotations may not fit the
    frames any more; "moved" means it is the same video at another path (relink and carry on).
    """
    path = video_path if video_path is not None else getattr(source, "path", None)
    actual = compute_fingerprint(source, path)
    ref = project.video
    if ref is None or ref.fingerprint is None:
        return FingerprintResult("match", "The project has no recorded video to compare with.", actual)
    exp = ref.fingerprint
    if (exp.num_frames, exp.width, exp.height) != (actual.num_frames, actual.width, actual.height):
        msg = (
            f"The video has changed: the project was made on {exp.num_frames} frames of "
            f"{exp.width}x{exp.height}, this one has {actual.num_frames} frames of "
            f"{actual.width}x{actual.height}."
        )
        return FingerprintResult("changed", msg, actual)
    if exp.frame_hashes != actual.frame_hashes and not _thumbs_close(exp, actual):
        return FingerprintResult(
            "changed", "The video has changed: its frames differ from the ones annotated.", actual
        )
    expected_path = project.resolve_video_path()
    if path is not None and (expected_path is None or not _same_path(Path(path), expected_path)):
        return FingerprintResult("moved", f"The video was moved: it is now at {path}.", actual)
    return FingerprintResult("match", "The video matches the project.", actual)


def _thumbs_close(a: Fingerprint, b: Fingerprint, tol: float = 6.0) -> bool:
    if a.sample_frames != b.sample_frames:
        return False
    for ta, tb in zip(a.thumbnails, b.thumbnails, strict=True):
        xa = np.frombuffer(base64.b64decode(ta), np.uint8).astype(np.int16)
        xb = np.frombuffer(base64.b64decode(tb), np.uint8).astype(np.int16)
        if xa.shape != xb.shape or np.abs(xa - xb).max() > tol:
            return False
    return True


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False
