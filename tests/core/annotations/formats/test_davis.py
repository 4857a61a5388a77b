"""DAVIS: palette PNGs that a standard decoder reads, and back."""

import json

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.davis import export_davis, import_davis
from litlora_desktop.core.annotations.formats.indexed_png import (
    decode_indexed_png,
    voc_palette,
)
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.formats.samples import N, same_masks


def test_davis_palette_png_round_trip(store, tmp_path):
    out = tmp_path / "davis"
    res = export_davis(store, out, video_name="clip")
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"{f:05d}.png" for f in range(N)] and res.warnings == []
    idx, pal = decode_indexed_png(pngs[2].read_bytes())
    assert idx.dtype == np.uint8 and set(np.unique(idx).tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(idx == 1, store.get_mask(2, 1))
    assert tuple(pal[2]) == (10, 200, 10) and tuple(pal[10]) == tuple(voc_palette()[10])
    # a standard decoder (OpenCV, via libpng) sees the palette colours: it is a real palette PNG
    bgr = cv2.imread(str(pngs[2]), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], pal[idx])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["videos"]["clip"]["objects"]["2"]["frames"] == ["00001", "00002", "00005", "00006", "00007"]

    back = AnnotationStore(num_frames=N)
    result = import_davis(back, out)
    assert [(o.name, o.category, o.color) for o in result.objects] == [
        (o.name, o.category, o.color) for o in store.objects
    ]
    same_masks(store, back)
