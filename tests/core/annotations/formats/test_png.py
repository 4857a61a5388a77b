"""Per-object binary PNGs."""

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.png import export_png


def test_per_object_png(store, tmp_path):
    res = export_png(store, tmp_path / "png")
    files = sorted(p.relative_to(tmp_path / "png").as_posix() for p in (tmp_path / "png").rglob("*.png"))
    assert res.files == len(files) == store.mask_count()
    assert "002_ball/00005.png" in files
    img = cv2.imread(str(tmp_path / "png" / "001_person_A" / "00002.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(img == 255, store.get_mask(2, 1))
