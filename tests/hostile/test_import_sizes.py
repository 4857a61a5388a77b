"""Sizes and counts read from an import file are bounded by the video's real size before anything is
allocated: a CVAT ``stop_frame`` of 10**8 froze the GUI for 10 s and then raised MemoryError.

The imports run in a child process with an address-space cap and a deadline, so a regression fails
the test instead of eating the machine's memory.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.hostile.conftest import run_isolated

H, W, N = 48, 64, 10

_CHILD = r"""
import json, time
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.annotations.formats import AnnotationImportError, import_annotations
for path in json.loads(open(PATHS).read()):
    store = AnnotationStore(48, 64, 10)
    t = time.perf_counter()
    try:
        res = import_annotations(store, path)
    except AnnotationImportError as exc:
        out = {"refused": str(exc)}
    except BaseException as exc:
        out = {"crashed": f"{type(exc).__name__}: {exc}"}
    else:
        out = {"imported": len(store.objects), "masks": store.mask_count(), "warnings": res.warnings}
    out.update(path=path, seconds=time.perf_counter() - t, objects=len(store.objects))
    print(json.dumps(out), flush=True)
"""


def _cvat(
    stop="9", size=(W, H), shape='<polygon frame="0" outside="0" points="2,2;20,2;20,20;2,20"/>'
) -> str:
    return f"""<?xml version="1.0"?>
<annotations><version>1.1</version><meta><task><size>{N}</size><stop_frame>{stop}</stop_frame>
<labels><label><name>car</name></label></labels>
<original_size><width>{size[0]}</width><height>{size[1]}</height></original_size></task></meta>
<track id="0" label="car">{shape}</track></annotations>"""


BAD = {
    "huge_original_size.xml": _cvat(size=(10**6, 10**6)),
    "huge_shape_frame.xml": _cvat(shape='<polygon frame="1000000000" outside="0" points="2,2;20,2;20,20"/>'),
    "huge_mask_box.xml": _cvat(
        shape=f'<mask frame="0" outside="0" rle="0, {10**10}" left="0" top="0" width="{10**5}" height="{10**5}"/>'
    ),
    "nan_polygon.xml": _cvat(shape='<polygon frame="0" outside="0" points="2,2;nan,2;20,20"/>'),
    "huge_frame_index.json": json.dumps(
        {
            "images": [{"id": 1, "width": W, "height": H, "frame_index": 10**8}],
            "annotations": [{"id": 1, "image_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]], "track_id": 1}],
        }
    ),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sizes")
    paths = []
    files = {**BAD, "good.xml": _cvat(), "huge_stop_frame.xml": _cvat(stop=str(10**8))}
    for name, text in files.items():
        (folder / name).write_text(text)
        paths.append(str(folder / name))
    (folder / "paths.json").write_text(json.dumps(paths))
    start = time.monotonic()
    r = run_isolated(f"PATHS = {str(folder / 'paths.json')!r}\n" + _CHILD, timeout=90, memory_bytes=3 * 2**30)
    out = {d["path"].rsplit("/", 1)[1]: d for d in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0, (
        f"the import process died ({r.returncode}) after {sorted(out)}: {r.stderr[-600:]}"
    )
    assert time.monotonic() - start < 60
    return out


@pytest.mark.parametrize("name", sorted(BAD))
def test_oversized_import_is_refused_quickly(results, name):
    got = results[name]
    assert "refused" in got, got
    assert got["seconds"] < 2.0, f"{name} took {got['seconds']:.1f} s to refuse"
    msg = got["refused"]
    assert name in msg and "\n" not in msg and "Error(" not in msg, msg
    assert got["objects"] == 0


def test_a_file_that_fits_the_video_still_imports(results):
    got = results["good.xml"]
    assert got.get("imported") == 1 and got["masks"] == N, got


def test_a_stop_frame_past_the_video_is_clipped_quickly_with_a_warning(results):
    """The shapes fit the video; only the hold "to the end" is cut to the video's last frame."""
    got = results["huge_stop_frame.xml"]
    assert got.get("imported") == 1 and got["masks"] == N, got
    assert got["seconds"] < 2.0, f"took {got['seconds']:.1f} s"
    assert any("huge_stop_frame.xml" in w and "100000000" in w for w in got["warnings"]), got["warnings"]
