"""An overlay video: the frames with each object's mask tinted and outlined, for reviewing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.frames import masks_by_frame
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportError, ExportResult, atomic_output
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.errors import VideoError, require_text_name


def export_overlay(
    store: AnnotationStore,
    source: Any,
    out: str | os.PathLike,
    *,
    fps: float | None = None,
    alpha: float = 0.5,
    include_hidden: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """An mp4 of the frames with each object's mask tinted in its colour and outlined.

    ``source`` is a FrameSource (RGB frames). Hidden objects are left out unless asked for, so the
    video shows what the user sees.
    """
    try:
        require_text_name(out, "write")
    except VideoError as exc:
        raise ExportError(str(exc)) from None
    n = int(source.num_frames)
    w, h = int(source.width), int(source.height)
    if store.height is not None and (store.height, store.width) != (h, w):
        raise ExportError(f"The masks are {store.width}x{store.height} but the video is {w}x{h}.")
    _, by_frame = masks_by_frame(store, n)
    visible = {o.id: o for o in store.objects if include_hidden or not o.hidden}
    rate = float(fps or getattr(source, "fps", 0) or 25.0)
    job = Job(n, progress, should_cancel)
    with atomic_output(out, is_dir=False, overwrite=overwrite) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), rate, (w, h))
        if not writer.isOpened():
            raise ExportError("OpenCV cannot write an mp4 video here (no mp4v encoder).")
        try:
            for f in range(n):
                img = np.array(source.frame(f), dtype=np.uint8, copy=True)
                for oid, rec in by_frame.get(f, {}).items():
                    if oid not in visible or rec.area == 0:
                        continue
                    m = rec.decode()
                    color = np.array(visible[oid].color, np.float32)
                    img[m] = (img[m] * (1 - alpha) + color * alpha).astype(np.uint8)
                    mode, approx = cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
                    contours, _ = cv2.findContours(m.astype(np.uint8), mode, approx)
                    cv2.drawContours(img, contours, -1, visible[oid].color, 2)
                writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                job.step()
        finally:
            writer.release()
    return ExportResult(Path(out), 1)
