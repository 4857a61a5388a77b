"""One binary PNG (0/255) per object and frame: the plainest masks, for any tool that reads images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from litlora_desktop.core.annotations.formats.frames import frame_size, masks_by_frame
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportResult, atomic_output, write_png
from litlora_desktop.core.annotations.store import AnnotationStore


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.strip())
    return keep.strip(".") or "object"


def export_png(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """Per-object binary PNGs (0/255): ``<id>_<name>/<frame>.png`` for every frame with a mask."""
    frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    job = Job(n, progress, should_cancel)
    files = 0
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        dirs = {o.id: tmp / f"{o.id:03d}_{_safe_name(o.name)}" for o in store.objects}
        for d in dirs.values():
            d.mkdir()
        for f in range(n):
            for oid, rec in by_frame.get(f, {}).items():
                write_png(dirs[oid] / f"{f:05d}.png", rec.decode().astype(np.uint8) * 255)
                files += 1
            job.step()
    return ExportResult(Path(out), files)
