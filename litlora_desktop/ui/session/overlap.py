"""Where two objects' masks meet: the "no overlap" rule both edits and tracked frames follow.

Its own module because edits (``edits.py``) and tracking (``tracking.py``) both apply it, and neither
should import the other.
"""

from __future__ import annotations

import numpy as np

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.ui.settings import AppSettings


def resolve_overlap(
    settings: AppSettings, store: AnnotationStore, frame: int, oid: int, mask: np.ndarray, yield_to_all: bool
) -> np.ndarray:
    """With "no overlap" on: an edit takes its pixels from the other objects (``yield_to_all``);
    a tracked mask gives way to objects listed before it and to every user or LoRA mask."""
    if not settings.get("edit/no_overlap"):
        return mask
    mask = np.asarray(mask, bool)
    order = [o.id for o in store.objects]
    for other, rec in store.records_for_frame(frame).items():
        if other == oid:
            continue
        other_mask = rec.decode()
        if not (other_mask & mask).any():
            continue
        if yield_to_all:
            store.set_record(
                frame, other, MaskRecord.from_mask(other_mask & ~mask, rec.provenance, rec.clicks, rec.score)
            )
        elif rec.provenance.kind != "sam2" or order.index(other) < order.index(oid):
            mask = mask & ~other_mask
    return mask
