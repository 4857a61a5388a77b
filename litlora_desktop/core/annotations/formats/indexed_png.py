"""Palette ("indexed") PNGs, where each pixel holds an object index: DAVIS's mask format.

OpenCV can neither write one nor read one without expanding the palette to colours, which loses
the index, so both directions are done here with only zlib.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from litlora_desktop.core.annotations.formats.importing import AnnotationImportError
from litlora_desktop.core.annotations.rle import MAX_MASK_SIDE


def voc_palette() -> np.ndarray:
    """The PASCAL VOC / DAVIS colour map (256×3 uint8): index bits spread over R, G, B."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, rgb = i, [0, 0, 0]
        for bit in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - bit)
            c >>= 3
        pal[i] = rgb
    return pal


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_indexed_png(index: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit palette PNG (colour type 3): OpenCV cannot write one, and DAVIS tools expect it."""
    idx = np.ascontiguousarray(index, dtype=np.uint8)
    h, w = idx.shape
    raw = np.zeros((h, w + 1), np.uint8)  # filter byte 0 ("None") on every row
    raw[:, 1:] = idx
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"PLTE", np.ascontiguousarray(palette, np.uint8).reshape(256, 3).tobytes()),
            _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        ]
    )


_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def decode_indexed_png(
    data: bytes, expected_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel *indices* (H, W) uint8 and the palette (K, 3), from a palette or 8-bit grayscale PNG.

    OpenCV expands palette PNGs to colours, which loses the object index that DAVIS stores, so
    this small reader decodes the index plane itself (non-interlaced, bit depth 1..8).
    ``expected_size`` (height, width), when given, is checked before any pixel data is unpacked;
    the pixel data is never inflated beyond what the header's size needs (a zlib bomb stays small).
    """
    if not data.startswith(_PNG_SIG):
        raise AnnotationImportError("not a PNG file")
    pos, idat, plte, hdr = 8, [], None, None
    while pos + 8 <= len(data):
        length, tag = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) != length:
            raise AnnotationImportError(
                f"the PNG is truncated (its {tag.decode('latin-1')!r} chunk is cut off)"
            )
        if tag == b"IHDR":
            if length != 13:
                raise AnnotationImportError("the PNG is damaged (its header has the wrong length)")
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"PLTE":
            if length % 3:
                raise AnnotationImportError("the PNG is damaged (its palette is not made of RGB triples)")
            plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
    if hdr is None:
        raise AnnotationImportError("the PNG has no header: it is truncated or damaged")
    w, h, depth, ctype, _, _, interlace = hdr
    if not (0 < w <= MAX_MASK_SIDE and 0 < h <= MAX_MASK_SIDE):
        raise AnnotationImportError(f"the PNG claims an impossible size of {w}x{h} pixels")
    if expected_size is not None and (h, w) != tuple(expected_size):
        raise AnnotationImportError(
            f"the mask is {w}x{h} but the video frames are {expected_size[1]}x{expected_size[0]}"
        )
    if ctype not in (0, 3) or depth not in (1, 2, 4, 8):
        raise AnnotationImportError("not an indexed PNG (need a palette or 8-bit grayscale image)")
    if interlace:
        raise AnnotationImportError("interlaced PNGs are not supported; re-save without interlacing")
    stride = (w * depth + 7) // 8
    try:
        raw = np.frombuffer(zlib.decompressobj().decompress(b"".join(idat), h * (stride + 1)), np.uint8)
    except zlib.error as exc:
        raise AnnotationImportError("the PNG's pixel data is damaged (it does not decompress)") from exc
    if raw.size < h * (stride + 1):
        raise AnnotationImportError("truncated PNG data")
    rows = raw[: h * (stride + 1)].reshape(h, stride + 1)
    out = np.empty((h, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(h):
        ft, line = rows[y, 0], rows[y, 1:]
        if ft == 0:
            cur = line
        elif ft == 1:  # Sub with 1 byte per pixel is a running sum mod 256
            cur = np.cumsum(line, dtype=np.uint8)
        elif ft == 2:
            cur = line + prev
        elif ft in (3, 4):
            cur = _unfilter_slow(int(ft), line.tolist(), prev.tolist())
        else:
            raise AnnotationImportError(f"corrupt PNG (row filter {ft})")
        out[y] = cur
        prev = out[y]
    if depth < 8:
        bits = np.unpackbits(out, axis=1).reshape(h, -1, depth)
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
        out = (bits * weights).sum(axis=2).astype(np.uint8)[:, :w]
    return out, plte


def _unfilter_slow(ft: int, line: list[int], prev: list[int]) -> np.ndarray:
    cur = [0] * len(line)
    for i, v in enumerate(line):
        a = cur[i - 1] if i else 0
        b = prev[i]
        if ft == 3:
            cur[i] = (v + (a + b) // 2) & 0xFF
        else:
            c = prev[i - 1] if i else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (v + pred) & 0xFF
    return np.array(cur, np.uint8)
