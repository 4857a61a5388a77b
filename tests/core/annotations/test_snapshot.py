"""The store on disk: snapshots, a JSON round trip with history, damaged parts skipped and reported."""

import json

import numpy as np
import pytest

from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.store_samples import blob


def test_json_round_trip_keeps_masks_objects_and_history(store):
    a = store.add_object("a", category="person")
    for f in range(6):
        store.set_mask(
            f, a.id, blob(5 + 3 * f, 20), "sam2" if f % 2 else "user", clicks=[(f, f, True)], score=0.5
        )
    b = store.add_object("b")
    store.set_mask(2, b.id, blob(40, 30), "lora:ad-1")
    store.delete_object(b.id)
    store.undo()  # leaves one redo step
    data = json.loads(json.dumps(store.to_json()))
    back = AnnotationStore.from_json(data, num_frames=20)
    assert back.objects == store.objects
    for f, oid, rec in store.iter_records():
        assert back.get_record(f, oid) == rec
        np.testing.assert_array_equal(back.get_mask(f, oid), store.get_mask(f, oid))
    assert back.redo_label == store.redo_label and back.undo_label == store.undo_label
    back.redo()  # delete b again, then undo twice more: history works after reload
    assert [o.name for o in back.objects] == ["a"]
    back.undo()
    back.undo()  # the b mask edit
    assert back.frames_for_object(b.id) == []
    assert back.add_object().id == 3


def test_from_json_rejects_corrupt_data(store):
    """A store that is not one is refused; a damaged record in a good one is skipped and reported
    (issue 11, item 8: one bad mask must not make the whole project unopenable)."""
    obj = store.add_object()
    store.set_mask(0, obj.id, blob(10, 10), "sam2")
    good = store.to_json()

    def broken(mutate):
        d = json.loads(json.dumps(good))
        mutate(d)
        with pytest.raises(ValueError):
            AnnotationStore.from_json(d)

    def skipped(mutate, masks=0, undo=0):
        d = json.loads(json.dumps(good))
        mutate(d)
        s = AnnotationStore.from_json(d)
        assert s.load_warnings, "the damage must be reported"
        assert s.mask_count() == masks and len(s.snapshot().undo) == undo

    broken(lambda d: d.update(format="something"))
    broken(lambda d: d.update(version=99))
    broken(lambda d: d.update(size=[0, 5]))
    skipped(lambda d: d["masks"]["1"]["0"].update(p="bogus"), undo=2)
    skipped(lambda d: d["masks"]["1"]["0"].update(a=3), undo=2)  # area disagrees with the RLE
    skipped(lambda d: d["masks"]["1"]["0"].update(c="\u00e9\u00e9"), undo=2)
    skipped(lambda d: d["masks"].update({"7": {}}), masks=1, undo=2)  # masks for an unknown object
    skipped(lambda d: d["objects"][0].update(color=[1, 2]))  # the object, so its masks and history
    skipped(lambda d: d["history"]["undo"][0]["ops"][0].update(t="zz"), masks=1, undo=1)  # the oldest step


def test_snapshot_is_isolated_from_later_edits(store):
    obj = store.add_object()
    store.set_mask(0, obj.id, blob(10, 10), "sam2")
    snap = store.snapshot()
    store.set_mask(1, obj.id, blob(10, 10), "sam2")
    store.delete_object(obj.id)
    assert list(snap.masks[obj.id]) == [0] and snap.revision == 2
    assert len(snap.to_json()["masks"]["1"]) == 1
