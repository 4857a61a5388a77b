"""Store data that passes the file checks (size, checksum) but would break later: masks whose RLE is
longer or shorter than the frame, masks past the video's end or for unknown objects, undo steps at
negative frames or for objects that do not exist. Each damaged record is reported and skipped when
the project opens, never fatal, never written back; undo and redo never raise afterwards.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.manifest import MANIFEST
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.core.annotations.store import AnnotationStore

H, W = 36, 48


def _counts(h: int, w: int) -> str:
    m = np.zeros((h, w), np.uint8)
    m[3:9, 4:12] = 1
    return mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii")


def _blob(y: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + 5, 10:20] = True
    return m


def _damage(folder, edit) -> None:
    """Apply `edit` to the store JSON and make the manifest's size and checksum agree with it."""
    m = json.loads((folder / MANIFEST).read_text())
    p = folder / m["store"]["file"]
    data = json.loads(p.read_text())
    edit(data)
    raw = json.dumps(data).encode()
    p.write_bytes(raw)
    m["store"]["bytes"], m["store"]["sha256"] = len(raw), hashlib.sha256(raw).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(m))


class _Video:
    """A 10-frame FrameSource, so the project records the video's length in its fingerprint."""

    num_frames, width, height, fps, name = 10, W, H, 24.0, "clip"

    def frame(self, k):
        return np.full((H, W, 3), k, np.uint8)


def _project(tmp_path):
    folder = tmp_path / "p.litlora"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"a stand-in: only its size is fingerprinted")
    proj = Project.create(folder, video, _Video())
    obj = proj.store.add_object("car", (255, 0, 0))
    for f in range(5):
        proj.store.set_mask(f, obj.id, _blob(f), "user")
    proj.save()
    return folder, obj.id


def _edit(oid: int):
    def edit(data):
        frames = data["masks"][str(oid)]
        frames["1"]["c"] = _counts(2 * H, 2 * W)  # longer than the frame
        frames["1"].pop("a", None)
        frames["2"]["c"] = _counts(H // 2, W)  # shorter than the frame
        frames["2"].pop("a", None)
        frames["3"]["c"] = "\x7f!!"  # not compressed RLE at all
        frames["-4"] = frames["0"]  # a negative frame
        frames["400"] = frames["0"]  # past the video's end
        data["masks"]["99"] = {"0": frames["0"]}  # an object that does not exist
        rec = frames["0"]
        data["history"]["undo"] += [
            {"label": "Ghost", "ops": [{"t": "m", "f": 0, "o": 77, "b": None, "a": rec}]},
            {"label": "Negative", "ops": [{"t": "m", "f": -5, "o": oid, "b": None, "a": rec}]},
        ]
        data["history"]["redo"] = [
            {"label": "Unknown", "ops": [{"t": "m", "f": 1, "o": 55, "b": None, "a": rec}]}
        ]

    return edit


def test_damaged_records_are_reported_and_skipped(tmp_path):
    folder, oid = _project(tmp_path)
    _damage(folder, _edit(oid))
    proj = Project.open(folder)
    store = proj.store
    assert store.frames_for_object(oid) == [0, 4]
    assert [o.id for o in store.objects] == [oid]
    text = " ".join(store.load_warnings)
    for what in ("frame 1", "frame 2", "frame 3", "frame -4", "frame 400", "object 99", "undo"):
        assert what in text, (what, store.load_warnings)
    assert proj.load_warnings == store.load_warnings
    while store.can_undo:  # never a KeyError from a step for an unknown object
        store.undo()
    while store.can_redo:
        store.redo()
    assert store.frames_for_object(oid) == [0, 4]


def test_skipped_records_are_never_written_back(tmp_path):
    folder, oid = _project(tmp_path)
    _damage(folder, _edit(oid))
    proj = Project.open(folder)
    proj.save()
    again = Project.open(folder)
    assert again.store.load_warnings == [], again.store.load_warnings
    assert again.store.frames_for_object(oid) == [0, 4]


def test_a_store_without_damage_has_no_warnings():
    store = AnnotationStore(H, W, 10)
    o = store.add_object("a", (1, 2, 3))
    store.set_record(0, o.id, MaskRecord.from_mask(_blob(2), "user"))
    back = AnnotationStore.from_json(store.to_json(), num_frames=10)
    assert back.load_warnings == [] and back.frames_for_object(o.id) == [0]
