"""Undo and redo: mask and object edits, groups as one step, bounded history."""

import numpy as np
import pytest

from litlora_desktop.core.annotations.records import ObjectInfo
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.store_samples import H, W, blob


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
