"""One label per pixel: overlaps resolved by object order, and reported."""

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.formats.davis import export_davis
from litlora_desktop.core.annotations.formats.indexed_png import decode_indexed_png
from litlora_desktop.core.annotations.formats.mots import export_mots
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.formats.samples import H, W, ellipse


def test_overlaps_are_resolved_by_object_order_and_reported(tmp_path):
    s = AnnotationStore(H, W)
    a, b = s.add_object("a"), s.add_object("b")
    s.set_mask(0, a.id, ellipse(20, 20, 8, 8), "user")
    s.set_mask(0, b.id, ellipse(26, 20, 8, 8), "user")
    res = export_davis(s, tmp_path / "d")
    assert "overlapping" in res.warnings[0]
    idx, _ = decode_indexed_png((tmp_path / "d" / "00000.png").read_bytes())
    assert idx[20, 26] == 2 and idx[20, 13] == 1
    res = export_mots(s, tmp_path / "m")
    assert "overlapping" in res.warnings[0]
    lines = (tmp_path / "m" / "0000.txt").read_text().splitlines()
    masks = [mask_utils.decode({"size": [H, W], "counts": ln.split()[5]}) for ln in lines]
    assert not np.logical_and(*masks).any()  # MOTS forbids overlaps
    assert [ln.split()[:5] for ln in lines] == [
        ["0", "1001", "1", str(H), str(W)],
        ["0", "1002", "1", str(H), str(W)],
    ]
    png = cv2.imread(str(tmp_path / "m" / "0000" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and set(np.unique(png).tolist()) == {0, 1001, 1002}
