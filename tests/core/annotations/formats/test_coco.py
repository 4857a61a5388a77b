"""COCO: a round trip read back by pycocotools itself; polygons and files without track ids."""

import json

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from litlora_desktop.core.annotations.formats.coco import export_coco, import_coco
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.formats.samples import H, N, W, ellipse, same_masks


def test_coco_round_trip_with_pycocotools(store, tmp_path):
    out = tmp_path / "ann.json"
    res = export_coco(store, out)
    assert res.path == out and res.warnings == []
    coco = COCO(str(out))
    assert len(coco.imgs) == N and sorted(coco.imgs) == list(range(1, N + 1))
    assert {c["name"] for c in coco.cats.values()} == {"person", "ball"}
    n_nonempty = sum(1 for _, _, r in store.iter_records() if r.area)
    assert len(coco.anns) == n_nonempty
    for ann in coco.anns.values():
        frame = coco.imgs[ann["image_id"]]["frame_index"]
        expected = store.get_mask(frame, ann["track_id"])
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), expected)
        assert ann["area"] == int(expected.sum())
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(expected)
        assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
    back = AnnotationStore(num_frames=N)
    result = import_coco(back, out)
    assert [o.name for o in result.objects] == ["person A", "ball", "twins"]
    assert [o.color for o in back.objects] == [o.color for o in store.objects]
    same_masks(store, back)
    assert {str(r.provenance) for _, _, r in back.iter_records()} == {"imported"}


def test_coco_import_polygons_and_no_track_ids(tmp_path):
    rle = mask_utils.encode(np.asfortranarray(ellipse(10, 10, 3, 3).astype(np.uint8)))
    doc = {
        "images": [
            {"id": 7, "file_name": "b.jpg", "width": W, "height": H},
            {"id": 3, "file_name": "a.jpg", "width": W, "height": H},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 10, 2, 10]]},
            {"id": 2, "image_id": 3, "category_id": 1, "segmentation": rle},
        ],
    }
    doc["annotations"][1]["segmentation"]["counts"] = doc["annotations"][1]["segmentation"]["counts"].decode()
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    s = AnnotationStore()
    res = import_coco(s, p)
    assert len(res.objects) == 1 and "each category" in res.warnings[0]
    oid = res.objects[0].id
    assert s.frames_for_object(oid) == [0, 1]  # a.jpg is frame 0
    np.testing.assert_array_equal(s.get_mask(0, oid), ellipse(10, 10, 3, 3))
    assert s.get_mask(1, oid)[2:10, 2:20].all() and s.get_record(1, oid).area >= 18 * 8
    assert s.undo_label == "Import COCO"
    s.undo()
    assert s.objects == []


def test_an_export_with_its_video_names_the_video(store, tmp_path):
    """Every image of a COCO export (and a CVAT task) was named "video", whatever the video: a team
    merging the exports of a batch could not tell them apart."""
    from types import SimpleNamespace

    from litlora_desktop.core.annotations.formats import export

    source = SimpleNamespace(name="street-03.mp4", num_frames=N)
    export("coco", store, tmp_path / "a.json", source=source)
    images = json.loads((tmp_path / "a.json").read_text())["images"]
    assert images and {im["video"] for im in images} == {"street-03.mp4"}
    export("cvat", store, tmp_path / "a.xml", source=source)
    assert "<name>street-03.mp4</name>" in (tmp_path / "a.xml").read_text()
