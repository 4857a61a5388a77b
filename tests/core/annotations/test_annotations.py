"""AnnotationStore: RLE masks with provenance, undo/redo, listeners, serialization."""

import json

import numpy as np
import pytest

from litlora_desktop.core.annotations.store import (
    AnnotationStore,
    Click,
    MaskRecord,
    ObjectInfo,
    Provenance,
    TimelineCode,
)

H, W = 48, 64


def blob(cx: int, cy: int, r: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + ((yy - cy) * 1.5) ** 2 <= r * r


@pytest.fixture
def store():
    return AnnotationStore(H, W, num_frames=20)


def test_provenance_is_validated():
    assert str(Provenance.parse("lora:adapter_1")) == "lora:adapter_1"
    assert Provenance.parse("sam2").kind == "sam2"
    assert Provenance.parse("user") is Provenance.parse("user")  # cached, records share it
    for bad in ("SAM2", "lora", "lora:", "user:x", "lora:has space", "manual", ""):
        with pytest.raises(ValueError):
            Provenance.parse(bad)


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


def test_undo_redo_mask_edits(store):
    obj = store.add_object()
    a, b = blob(10, 10), blob(30, 30)
    store.set_mask(0, obj.id, a, "sam2")
    store.set_mask(0, obj.id, b, "user", clicks=[(30, 30, True)])
    assert store.undo_label == "Edit mask"
    assert store.undo()
    np.testing.assert_array_equal(store.get_mask(0, obj.id), a)
    assert store.get_record(0, obj.id).provenance.kind == "sam2"
    assert store.redo()
    np.testing.assert_array_equal(store.get_mask(0, obj.id), b)
    assert store.delete_mask(0, obj.id)
    assert store.get_mask(0, obj.id) is None
    store.undo()
    np.testing.assert_array_equal(store.get_mask(0, obj.id), b)
    store.undo()
    store.undo()
    store.undo()  # add_object undone too
    assert store.objects == [] and not store.can_undo
    assert not store.undo()


def test_new_edit_clears_redo(store):
    obj = store.add_object()
    store.set_mask(0, obj.id, blob(10, 10), "sam2")
    store.undo()
    assert store.can_redo
    store.set_mask(1, obj.id, blob(10, 10), "sam2")
    assert not store.can_redo


def test_delete_object_undo_restores_masks_and_position(store):
    a = store.add_object("a")
    b = store.add_object("b")
    c = store.add_object("c")
    for f in range(5):
        store.set_mask(f, b.id, blob(10 + f, 20), "lora:ad1")
    store.delete_object(b.id)
    assert [o.name for o in store.objects] == ["a", "c"]
    assert store.records_for_frame(2) == {}
    store.undo()
    assert [o.id for o in store.objects] == [a.id, b.id, c.id]
    assert store.frames_for_object(b.id) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(store.get_mask(4, b.id), blob(14, 20))
    store.redo()
    assert b.id not in [o.id for o in store.objects]
    # a new object never reuses the id of a deleted one (an undo could bring it back)
    assert store.add_object().id == c.id + 1


def test_object_rename_recolor_undo(store):
    obj = store.add_object("car", color=(1, 2, 3))
    store.rename_object(obj.id, "truck")
    store.recolor_object(obj.id, (9, 8, 7))
    store.update_object(obj.id, hidden=True, category="vehicle")
    assert store.object(obj.id) == ObjectInfo(obj.id, "truck", (9, 8, 7), "vehicle", True)
    store.undo()
    store.undo()
    assert store.object(obj.id).color == (1, 2, 3) and store.object(obj.id).name == "truck"
    store.undo()
    assert store.object(obj.id).name == "car"


def test_group_makes_one_undo_step_even_when_nested_or_interrupted(store):
    obj = store.add_object()
    with store.group("Propagate"):
        for f in range(4):
            store.set_mask(f, obj.id, blob(10 + f, 10), "sam2")
        with store.group("inner"):
            store.set_mask(4, obj.id, blob(10, 10), "sam2")
    assert store.undo_label == "Propagate"
    store.undo()
    assert store.frames_for_object(obj.id) == []
    store.redo()
    assert store.frames_for_object(obj.id) == [0, 1, 2, 3, 4]

    with pytest.raises(RuntimeError, match="boom"), store.group("Half"):
        store.set_mask(10, obj.id, blob(10, 10), "sam2")
        raise RuntimeError("boom")
    assert store.undo_label == "Half"  # what did happen is kept and can be undone
    store.undo()
    assert 10 not in store.frames_for_object(obj.id)

    with store.group("empty"):
        pass
    assert store.undo_label == "Propagate"
    with store.group("g"), pytest.raises(RuntimeError, match="inside an open change group"):
        store.undo()


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
        assert s.mask_count() == masks and len(s._undo) == undo

    broken(lambda d: d.update(format="something"))
    broken(lambda d: d.update(version=99))
    broken(lambda d: d.update(size=[0, 5]))
    skipped(lambda d: d["masks"]["1"]["0"].update(p="bogus"), undo=2)
    skipped(lambda d: d["masks"]["1"]["0"].update(a=3), undo=2)  # area disagrees with the RLE
    skipped(lambda d: d["masks"]["1"]["0"].update(c="\u00e9\u00e9"), undo=2)
    skipped(lambda d: d["masks"].update({"7": {}}), masks=1, undo=2)  # masks for an unknown object
    skipped(lambda d: d["objects"][0].update(color=[1, 2]))  # the object, so its masks and history
    skipped(lambda d: d["history"]["undo"][0]["ops"][0].update(t="zz"), masks=1, undo=1)  # the oldest step


def test_history_is_bounded():
    s = AnnotationStore(H, W, history_limit=5)
    obj = s.add_object()
    for f in range(10):
        s.set_mask(f, obj.id, blob(10, 10), "sam2")
    undone = 0
    while s.undo():
        undone += 1
    assert undone == 5 and s.frames_for_object(obj.id) == [0, 1, 2, 3, 4]

    s = AnnotationStore(H, W, history_mask_limit=10)
    obj = s.add_object()
    for start in (0, 6, 12):
        with s.group(f"propagate {start}"):
            for f in range(start, start + 6):
                s.set_mask(f, obj.id, blob(10, 10), "sam2")
    undone = []
    while s.can_undo:
        undone.append(s.undo_label)
        s.undo()
    assert undone == ["propagate 12"] and s.frames_for_object(obj.id) == list(range(12))


def test_snapshot_is_isolated_from_later_edits(store):
    obj = store.add_object()
    store.set_mask(0, obj.id, blob(10, 10), "sam2")
    snap = store.snapshot()
    store.set_mask(1, obj.id, blob(10, 10), "sam2")
    store.delete_object(obj.id)
    assert list(snap.masks[obj.id]) == [0] and snap.revision == 2
    assert len(snap.to_json()["masks"]["1"]) == 1


def test_mask_record_from_rle_accepts_coco_forms():
    m = blob(20, 20)
    rec = MaskRecord.from_mask(m, "imported")
    as_bytes = {"size": [H, W], "counts": rec.counts.encode()}
    assert MaskRecord.from_rle(as_bytes, "imported") == rec
    # uncompressed RLE (list counts), column-major like COCO
    flat = m.flatten(order="F")
    runs, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    assert MaskRecord.from_rle({"size": [H, W], "counts": runs}, "imported").counts == rec.counts
    with pytest.raises(ValueError):
        MaskRecord.from_rle({"counts": "abc"}, "imported")
