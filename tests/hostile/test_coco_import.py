"""Hostile COCO files: every bad polygon or RLE is refused with one sentence, before pycocotools sees it.

A NaN in a polygon made pycocotools allocate memory until the process died, so the imports run in
a child process with an address-space cap and a timeout: a regression fails the test, it cannot
take the test run down with it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tests.hostile.conftest import run_isolated

H, W = 48, 64

_CHILD = r"""
import json
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.annotations.formats import AnnotationImportError
from litlora_desktop.core.annotations.formats.coco import import_coco
for path in json.loads(open(PATHS).read()):
    store = AnnotationStore(48, 64, 10)
    try:
        import_coco(store, path)
    except AnnotationImportError as exc:
        print(json.dumps({"path": path, "refused": str(exc), "objects": len(store.objects)}), flush=True)
    except BaseException as exc:
        print(json.dumps({"path": path, "crashed": f"{type(exc).__name__}: {exc}"}), flush=True)
    else:
        print(json.dumps({"path": path, "imported": len(store.objects)}), flush=True)
"""


def _doc(segmentation) -> dict:
    return {
        "images": [{"id": 1, "width": W, "height": H, "file_name": "f0.jpg"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": segmentation}],
        "categories": [{"id": 1, "name": "thing"}],
    }


def _rle_for(h: int, w: int) -> str:
    m = np.zeros((h, w), np.uint8)
    m[2:10, 3:20] = 1
    return mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii")


BAD = {
    "nan_polygon": [[1.0, 2.0, float("nan"), 5.0, 9.0, 9.0, 1.0, 9.0]],
    "inf_polygon": [[1.0, 2.0, float("inf"), 5.0, 9.0, 9.0]],
    "huge_polygon": [[0, 0, 1e12, 0, 1e12, 1e12, 0, 1e12]],
    "odd_polygon": [[1, 2, 30, 4, 9, 30, 7]],
    "text_polygon": [[1, 2, "x", 4, 9, 30]],
    "negative_counts": {"size": [H, W], "counts": [10, -5, H * W - 5]},
    "short_counts": {"size": [H, W], "counts": [10, 5, 7]},
    "long_counts": {"size": [H, W], "counts": [H * W, 10]},
    "long_compressed": {"size": [H, W], "counts": _rle_for(2 * H, 2 * W)},
    "garbage_compressed": {"size": [H, W], "counts": "\x7f\x01~~~~~~~~~~~~~~~~~~~~~"},
    "wrong_size": {"size": [H + 1, W], "counts": [H * W + W]},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    paths = []
    for name, seg in BAD.items():
        p = folder / f"{name}.json"
        p.write_text(json.dumps(_doc(seg)))  # json writes NaN and Infinity, as Python's reader accepts
        paths.append(str(p))
    good = folder / "good_polygon.json"
    good.write_text(json.dumps(_doc([[1, 2, 30, 2, 30, 30, 1, 30], [40.5, 40, 63.5, 40, 63.5, 47.5]])))
    paths.append(str(good))
    (folder / "paths.json").write_text(json.dumps(paths))
    code = f"PATHS = {str(folder / 'paths.json')!r}\n" + _CHILD
    r = run_isolated(code, timeout=120, memory_bytes=3 * 2**30)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    out = {p.rsplit("/", 1)[1].removesuffix(".json"): d for d in lines for p in [d["path"]]}
    assert r.returncode == 0, (
        f"the import process died (exit code {r.returncode}) after {sorted(out)}: {r.stderr[-800:]}"
    )
    return out


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_segmentation_is_refused_with_a_sentence(results, name):
    got = results[name]
    assert "refused" in got, f"{name}: {got}"
    msg = got["refused"]
    assert f"{name}.json" in msg, msg
    assert "Traceback" not in msg and "Error(" not in msg and "\n" not in msg, msg
    assert got["objects"] == 0, "a refused import must leave the store untouched"


def test_sane_polygons_still_import(results):
    assert results["good_polygon"] == {"path": results["good_polygon"]["path"], "imported": 1}
