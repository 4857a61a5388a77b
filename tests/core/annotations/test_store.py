"""AnnotationStore: masks stored as RLE with provenance, checked input, listeners, the timeline."""

import numpy as np
import pytest

from litlora_desktop.core.annotations.records import Click
from litlora_desktop.core.annotations.store import TimelineCode
from tests.core.annotations.store_samples import H, W, blob


def test_set_get_mask_round_trips_exactly_as_rle(store):
    obj = store.add_object("cat", category="animal")
    m = blob(20, 20)
    rec = store.set_mask(3, obj.id, m, "sam2", clicks=[(1.5, 2, True), (4, 5, 0)], score=0.75)
    out = store.get_mask(3, obj.id)
    assert out.dtype == bool and out.shape == (H, W)
    np.testing.assert_array_equal(out, m)
    assert rec.area == int(m.sum())
    assert rec.clicks == (Click(1.5, 2.0, True), Click(4.0, 5.0, False))
    assert rec.score == 0.75 and str(rec.provenance) == "sam2"
    assert isinstance(rec.rle["counts"], str) and rec.rle["size"] == [H, W]
    assert store.get_mask(4, obj.id) is None
    assert store.frames_for_object(obj.id) == [3]


def test_bad_input_is_rejected_with_clear_errors(store):
    obj = store.add_object()
    with pytest.raises(ValueError, match="video frames are 64x48"):
        store.set_mask(0, obj.id, np.zeros((10, 10), bool), "user")
    with pytest.raises(ValueError, match="past the end"):
        store.set_mask(20, obj.id, blob(5, 5), "user")
    with pytest.raises(ValueError, match="non-negative"):
        store.set_mask(-1, obj.id, blob(5, 5), "user")
    with pytest.raises(KeyError, match="no object with id 99"):
        store.set_mask(0, 99, blob(5, 5), "user")
    with pytest.raises(ValueError, match="provenance"):
        store.set_mask(0, obj.id, blob(5, 5), "magic")
    with pytest.raises(ValueError, match="colour"):
        store.recolor_object(obj.id, (300, 0, 0))
    with pytest.raises(ValueError, match="2-D"):
        store.set_mask(0, obj.id, np.zeros((H, W, 3), bool), "user")
    assert store.mask_count() == 0 and store.revision == 1  # only add_object counted


def test_listeners_and_revision(store):
    seen = []
    remove = store.add_listener(seen.append)
    store.add_listener(lambda ch: 1 / 0)  # a broken listener must not break the store
    obj = store.add_object()
    store.set_mask(2, obj.id, blob(10, 10), "user")
    store.undo()
    assert [c.revision for c in seen] == [1, 2, 3] == list(range(1, store.revision + 1))
    assert seen[0].objects == (obj.id,)
    assert seen[1].masks == ((2, obj.id),) and seen[1].reason == "edit"
    assert seen[2].reason == "undo"
    remove()
    store.redo()
    assert len(seen) == 3 and store.revision == 4
    # setting the identical record again is not a change
    store.set_record(2, obj.id, store.get_record(2, obj.id))
    assert store.revision == 4


def test_timeline_and_frame_status(store):
    a = store.add_object()
    b = store.add_object()
    store.set_mask(0, a.id, blob(10, 10), "sam2")
    store.set_mask(1, a.id, blob(10, 10), "lora:x")
    store.set_mask(2, a.id, blob(10, 10), "user")
    store.set_mask(3, a.id, np.zeros((H, W), bool), "sam2")
    store.set_mask(5, a.id, blob(10, 10), "imported")
    store.set_mask(1, b.id, blob(40, 10), "user")
    t = store.timeline(a.id)
    assert t.dtype == np.uint8 and len(t) == 20
    expected = [
        TimelineCode.SAM2,
        TimelineCode.LORA,
        TimelineCode.USER,
        TimelineCode.EMPTY,
        0,
        TimelineCode.IMPORTED,
    ]
    assert t[:6].tolist() == [int(x) for x in expected]
    assert set(t[6:].tolist()) == {0}
    assert {k: str(v) for k, v in store.frame_status(1).items()} == {a.id: "lora:x", b.id: "user"}
    assert store.annotated_frames() == [0, 1, 2, 3, 5]
