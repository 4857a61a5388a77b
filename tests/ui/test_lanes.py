"""Timeline lanes rebuilt in one pass (issue 11, "never freeze"): undoing the delete of a big object
rebuilds its lane on the GUI thread, so the rebuild reads one snapshot of the object's records instead
of looking each frame up in the store (twice), and still gives every cell its own code and suspicion."""

from __future__ import annotations

import numpy as np
import pytest

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore, TimelineCode
from litlora_desktop.ui.session.lanes import LaneModel
from litlora_desktop.ui.settings import AppSettings

pytestmark = pytest.mark.gui


def _store(frames: int = 40) -> tuple[AnnotationStore, int]:
    store = AnnotationStore(8, 8, frames)
    oid = store.add_object().id
    full = np.zeros((8, 8), bool)
    full[2:5, 2:5] = True
    empty = np.zeros((8, 8), bool)
    kinds = ["sam2", "user", "imported", "lora:a1", "sam2", "sam2"]
    for f in range(0, frames - 3):  # the last frames have no mask
        kind = kinds[f % len(kinds)]
        mask = empty if f % 7 == 0 else full
        score = None if f % 5 == 0 else (-8.0 if f % 3 == 0 else 6.0)  # sigmoid(-8) is under 0.2
        store.set_record(f, oid, MaskRecord.from_mask(mask, kind, score=score))
    return store, oid


@pytest.mark.parametrize("whole_lane", [False, True], ids=["cell by cell", "frames at once"])
def test_a_rebuilt_lane_is_the_lane_cell_by_cell(qapp, whole_lane):
    """A lane is rebuilt in array operations, asking the LoRA side for an object's disagreeing
    frames at once (or cell by cell, without that question): the same as each cell's own code."""
    store, oid = _store()
    settings = AppSettings()
    settings.set("track/suspect_threshold", 0.2)
    frames = (lambda o: {4, 10}) if whole_lane else None
    model = LaneModel(settings, lambda f, o: f in (4, 10), frames)  # LoRA disagrees there
    model.attach(store, store.num_frames)
    (lane,) = model.lanes()
    thr = 0.2
    want = [model._lane_cell(f, oid, thr) for f in range(store.num_frames)]
    assert lane.codes.tolist() == [c for c, _ in want]
    assert lane.suspect.tolist() == [s for _, s in want]
    # every kind of cell is in there, so the comparison means something
    assert set(lane.codes.tolist()) == {int(c) for c in TimelineCode}
    assert lane.suspect.any() and not lane.suspect.all()


def test_rebuilding_a_lane_looks_up_no_frame_one_by_one(qapp, monkeypatch):
    store, oid = _store(200)
    model = LaneModel(AppSettings(), lambda f, o: False)
    model.attach(store, store.num_frames)

    def one_by_one(*_a, **_k):
        raise AssertionError("a lane rebuild looked a frame up in the store")

    monkeypatch.setattr(store, "get_record", one_by_one)
    (lane,) = model.lanes()
    assert (lane.codes[:197] != TimelineCode.NONE).all() and (lane.codes[197:] == TimelineCode.NONE).all()
