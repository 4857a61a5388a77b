"""YOLO segmentation labels: normalized polygons per frame, the one lossy export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.frames import frame_size, masks_by_frame
from litlora_desktop.core.annotations.formats.jobs import Job, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import ExportResult, atomic_output
from litlora_desktop.core.annotations.store import AnnotationStore

YOLO_LOSSY_WARNING = (
    "YOLO segmentation polygons are lossy: holes are filled, thin parts and small islands may be "
    "dropped, and edges are approximated by polygon vertices."
)


def mask_to_polygons(mask: np.ndarray, min_area: float = 4.0) -> list[np.ndarray]:
    """Outer contours of a mask as (K, 2) float pixel-corner polygons (holes are not representable)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    keep = [c for c in contours if len(c) >= 3 and cv2.contourArea(c) >= min_area]
    return [c.reshape(-1, 2).astype(np.float64) for c in keep]


def export_yolo(
    store: AnnotationStore,
    out: str | os.PathLike,
    *,
    num_frames: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> ExportResult:
    """YOLO segmentation labels: ``labels/<frame>.txt`` with ``class x1 y1 x2 y2 ...`` (normalized).

    **Lossy**: polygons cannot hold holes and drop tiny islands; the returned warnings say so and
    give the mean IoU between the polygons and the original masks, so the loss is measured, not
    guessed. One line per connected part; ``data.yaml`` lists the class names.
    """
    h, w = frame_size(store)
    n, by_frame = masks_by_frame(store, num_frames)
    categories = sorted({o.category for o in store.objects})
    class_id = {c: i for i, c in enumerate(categories)}
    job = Job(n, progress, should_cancel)
    ious = []
    with atomic_output(out, is_dir=True, overwrite=overwrite) as tmp:
        (tmp / "labels").mkdir()
        for f in range(n):
            lines = []
            for oid, rec in by_frame.get(f, {}).items():
                if rec.area == 0:
                    continue
                mask = rec.decode()
                polys = mask_to_polygons(mask)
                drawn = np.zeros((h, w), np.uint8)
                for p in polys:
                    cv2.fillPoly(drawn, [p.astype(np.int32)], 1)
                    xy = (p / [w, h]).clip(0, 1).ravel()
                    cls = class_id[store.object(oid).category]
                    lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in xy))
                inter = np.logical_and(mask, drawn).sum()
                ious.append(inter / max(np.logical_or(mask, drawn).sum(), 1))
            (tmp / "labels" / f"{f:06d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            job.step()
        names = "".join(f"  {i}: {json.dumps(c)}\n" for i, c in enumerate(categories))
        (tmp / "data.yaml").write_text(
            f"# {YOLO_LOSSY_WARNING}\npath: .\ntrain: images\nval: images\nnames:\n{names}", encoding="utf-8"
        )
    warning = YOLO_LOSSY_WARNING
    if ious:
        warning += f" Mean IoU of the polygons with the masks: {float(np.mean(ious)):.3f}."
    return ExportResult(Path(out), n + 1, [warning])
