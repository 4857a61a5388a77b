"""MOTS (KITTI MOTS / MOTSChallenge): per-frame RLE lines and 16-bit instance maps."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from litlora_desktop.core.annotations.formats.frames import (
    frame_size,
    label_image,
    masks_by_frame,
    overlap_warning,
)
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import (
    ExportError,
    ExportResult,
    atomic_output,
    write_png,
)
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore


def export_mots(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    sequence: str = "0000",
    first_frame: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """MOTS (KITTI MOTS / MOTSChallenge): ``<seq>.txt`` RLE lines and ``<seq>/<frame>.png`` 16-bit maps.

    Object ids are ``class_id * 1000 + instance`` as the MOTS tools expect; ``classes.txt`` maps
    class ids to categories. MOTS forbids overlaps, so they are resolved by object order (see
    :mod:`~litlora_desktop.core.annotations.formats.frames`). ``first_frame=1`` gives MOTSChallenge numbering.
    """
    h, w = frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    objects = store.objects
    if len(objects) > 999:
        raise ExportError("MOTS ids hold at most 999 objects per class.")
    categories = sorted({o.category for o in objects})
    class_id = {c: i + 1 for i, c in enumerate(categories)}
    ids = {o.id: class_id[o.category] * 1000 + i + 1 for i, o in enumerate(objects)}
    job = Job(n, progress, should_cancel)
    overlaps, lines = 0, []
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        (tmp / sequence).mkdir()
        for f in range(n):
            img, overlap = label_image(by_frame.get(f, {}), ids, h, w, np.uint16)
            overlaps += overlap
            write_png(tmp / sequence / f"{f + first_frame:06d}.png", img)
            for oid in by_frame.get(f, {}):
                m = img == ids[oid]
                if m.any():
                    rle = MaskRecord.from_mask(m, "imported").counts
                    lines.append(f"{f + first_frame} {ids[oid]} {ids[oid] // 1000} {h} {w} {rle}\n")
            job.step()
        (tmp / f"{sequence}.txt").write_text("".join(lines), encoding="ascii")
        classes = "".join(f"{class_id[c]} {c}\n" for c in categories)
        (tmp / "classes.txt").write_text(classes, encoding="utf-8")
    return ExportResult(Path(out), n + 2, overlap_warning(overlaps))
