"""The palette PNG reader: every row filter, low bit depths, and what it refuses."""

import cv2
import numpy as np
import pytest

from litlora_desktop.core.annotations.formats import AnnotationImportError
from litlora_desktop.core.annotations.formats.indexed_png import (
    decode_indexed_png,
    encode_indexed_png,
    voc_palette,
)
from tests.core.annotations.formats.samples import H, W


def test_png_reader_handles_every_row_filter_and_low_bit_depths(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.integers(0, 4, (H, W)) * 60 + np.arange(W)[None, :]).astype(np.uint8)
    img[5:15] = np.arange(W, dtype=np.uint8)[None, :] * 3  # gradients invite Sub/Up/Average/Paeth
    p = tmp_path / "g.png"
    cv2.imwrite(str(p), img)  # libpng chooses filters adaptively per row
    got, pal = decode_indexed_png(p.read_bytes())
    np.testing.assert_array_equal(got, img)
    assert pal is None
    bits = rng.integers(0, 2, (9, 13)).astype(np.uint8)
    q = tmp_path / "bilevel.png"
    cv2.imwrite(str(q), bits * 255, [cv2.IMWRITE_PNG_BILEVEL, 1])
    assert q.read_bytes()[24] == 1  # IHDR bit depth: really a 1-bit PNG
    got, _ = decode_indexed_png(q.read_bytes())
    np.testing.assert_array_equal(got, bits)
    for f in (0, 1, 2, 3, 4):  # hand-made rows with each filter type must decode to the same image
        raw = bytearray()
        prev = np.zeros(W, int)
        for y in range(H):
            row = img[y].astype(int)
            left = np.concatenate([[0], row[:-1]])
            ul = np.concatenate([[0], prev[:-1]])
            pred = [np.zeros(W, int), left, prev, (left + prev) // 2, _paeth(left, prev, ul)][f]
            raw += bytes([f]) + ((row - pred) % 256).astype(np.uint8).tobytes()
            prev = row
        data = encode_indexed_png(np.zeros((H, W), np.uint8), voc_palette())
        data = _replace_idat(data, bytes(raw))
        got, _ = decode_indexed_png(data)
        np.testing.assert_array_equal(got, img, err_msg=f"filter {f}")
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(AnnotationImportError, match="indexed"):
        decode_indexed_png((tmp_path / "rgb.png").read_bytes())


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _replace_idat(png: bytes, raw: bytes) -> bytes:
    import struct
    import zlib

    i = png.index(b"IDAT") - 4
    n = struct.unpack(">I", png[i : i + 4])[0]
    body = zlib.compress(raw)
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return png[:i] + chunk + png[i + 12 + n :]
