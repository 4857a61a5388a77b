"""DAVIS-style masks as other tools write them: 0/255 black-and-white PNGs (255 is not void there),
0/1 PNGs, anti-aliased grayscale PNGs (many gray levels on the edges) and palette PNGs. A binary
mask is one object, anti-aliasing never invents objects (the mask is thresholded at 128, and the
import says so), and palette PNGs keep one object per index with 255 as void."""

from __future__ import annotations

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.davis import import_davis
from litlora_desktop.core.annotations.formats.indexed_png import encode_indexed_png, voc_palette
from litlora_desktop.core.annotations.store import AnnotationStore

H, W, N = 40, 56, 3


def _disk(frame: int) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (yy - 20) ** 2 + (xx - 18 - 4 * frame) ** 2 <= 12**2


def _write(folder, images) -> None:
    folder.mkdir()
    for i, img in enumerate(images):
        assert cv2.imwrite(str(folder / f"{i:05d}.png"), img)


def _masks(store, oid):
    return {f: store.get_mask(f, oid) for f in range(N) if store.get_mask(f, oid) is not None}


def test_black_and_white_masks_are_one_object(tmp_path):
    folder = tmp_path / "bw"
    _write(folder, [_disk(f).astype(np.uint8) * 255 for f in range(N)])
    store = AnnotationStore(H, W, N)
    result = import_davis(store, folder)
    assert len(result.objects) == 1 and result.masks == N
    got = _masks(store, result.objects[0].id)
    for f in range(N):
        assert np.array_equal(got[f], _disk(f))
    assert not any("ignored" in w for w in result.warnings), result.warnings  # 255 is the object here
    assert any("bw" in w and "one object" in w for w in result.warnings), result.warnings


def test_zero_one_masks_are_one_object(tmp_path):
    folder = tmp_path / "01"
    _write(folder, [_disk(f).astype(np.uint8) for f in range(N)])
    store = AnnotationStore(H, W, N)
    result = import_davis(store, folder)
    assert len(result.objects) == 1 and result.masks == N


def test_anti_aliased_masks_are_thresholded_never_many_objects(tmp_path):
    folder = tmp_path / "aa"
    soft = [cv2.GaussianBlur(_disk(f).astype(np.uint8) * 255, (7, 7), 2.0) for f in range(N)]
    assert len(np.unique(soft[0])) > 20  # really anti-aliased
    _write(folder, soft)
    store = AnnotationStore(H, W, N)
    result = import_davis(store, folder)
    assert len(result.objects) == 1, [o.name for o in result.objects]
    got = _masks(store, result.objects[0].id)
    for f in range(N):
        assert np.array_equal(got[f], soft[f] >= 128)
    text = " ".join(result.warnings)
    assert "128" in text and "aa" in text, result.warnings
    assert all("\n" not in w for w in result.warnings)


def test_few_gray_levels_on_white_are_thresholded_and_called_ambiguous(tmp_path):
    """0, 128 and 255 only: labels 128 and 255, or a lightly anti-aliased white mask? White covers far
    more than gray, so a binary mask; the warning says it was a guess."""
    folder = tmp_path / "few"
    images = []
    for f in range(N):
        m = _disk(f).astype(np.uint8) * 255
        edge = cv2.dilate(_disk(f).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        m[edge & ~_disk(f)] = 128
        images.append(m)
    _write(folder, images)
    store = AnnotationStore(H, W, N)
    result = import_davis(store, folder)
    assert len(result.objects) == 1
    text = " ".join(result.warnings)
    assert "128" in text and "ambiguous" in text.lower(), result.warnings


def test_palette_masks_keep_one_object_per_index_and_void(tmp_path):
    folder = tmp_path / "pal"
    folder.mkdir()
    for f in range(N):
        idx = np.zeros((H, W), np.uint8)
        idx[_disk(f)] = 1
        idx[30:36, 40:50] = 2
        idx[0:2, :] = 255
        (folder / f"{f:05d}.png").write_bytes(encode_indexed_png(idx, voc_palette()))
    store = AnnotationStore(H, W, N)
    result = import_davis(store, folder)
    assert len(result.objects) == 2 and result.masks == 2 * N
    assert any("void" in w for w in result.warnings)
