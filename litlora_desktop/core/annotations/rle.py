"""COCO compressed RLE, the form every mask is kept in: encoding a mask, and checking counts.

A 1280×720 bool mask is 900 KB raw and typically a few hundred bytes as RLE, which is what lets a
long video's tens of thousands of masks stay in memory. pycocotools trusts the counts it is given,
so counts read from a file are checked here first: damaged ones fail with a clear message instead
of failing late or reading past the mask.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

MAX_MASK_SIDE = 1 << 15  # no video frame is wider or taller; bounds what a damaged file can allocate
_SHIFTS = np.int64(1) << (5 * np.arange(8, dtype=np.int64))


def rle_run_lengths(counts: str) -> np.ndarray | None:
    """The run lengths of COCO compressed RLE ``counts`` (int64), or None when the string is malformed.

    The same decoding as pycocotools' ``rleFrString``, done here so that damaged counts are found
    before pycocotools sees them (it trusts them: too many pixels fail late or read past the mask).
    """
    if not isinstance(counts, str) or not counts.isascii():
        return None
    b = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    if b.size == 0:
        return b
    if b.min() < 0 or b.max() > 63:
        return None  # not a character the encoder writes
    more = (b & 0x20) != 0
    if more[-1]:
        return None  # the last number is cut off
    ends = np.flatnonzero(~more)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 7:
        return None  # a number beyond 2**34: no mask has that many pixels
    if lengths.max() == 1:
        vals = b & 0x1F
    else:
        group = np.repeat(np.arange(ends.size), lengths)
        digits = (b & 0x1F) * _SHIFTS[np.arange(b.size) - starts[group]]
        vals = np.bincount(group, weights=digits.astype(np.float64), minlength=ends.size).astype(np.int64)
    negative = (b[ends] & 0x10) != 0
    if negative.any():
        vals[negative] -= _SHIFTS[lengths[negative]]
    vals[1::2] = np.cumsum(vals[1::2])  # from the fourth number on, each is stored as a difference
    if vals.size > 2:
        vals[2::2] = np.cumsum(vals[2::2])
    return vals


def check_rle_size(height: Any, width: Any) -> tuple[int, int]:
    """(height, width) of a mask as ints, or ValueError when not a plausible frame size."""
    for v in (height, width):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 < v <= MAX_MASK_SIDE:
            raise ValueError(
                f"the mask size {height}x{width} is not a frame size (1 to {MAX_MASK_SIDE} pixels a side)"
            )
    return int(height), int(width)


def check_rle_counts(counts: str, height: int, width: int) -> int:
    """ValueError unless compressed ``counts`` describe exactly ``height`` x ``width`` pixels; the
    number of pixels they set (the mask's area) otherwise."""
    runs = rle_run_lengths(counts)
    if runs is None:
        raise ValueError(
            "the mask data (RLE counts) is damaged: it is not a valid compressed run-length string"
        )
    if runs.size and runs.min() < 0:
        raise ValueError("the mask data (RLE counts) is damaged: it holds negative run lengths")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(
            f"the mask data (RLE counts) covers {total} pixels but a {width}x{height} mask has {height * width}"
        )
    return int(runs[1::2].sum())  # runs alternate background, foreground, background, ...


@functools.lru_cache(maxsize=16384)
def checked_rle_area(counts: str, height: int, width: int) -> int:
    """:func:`check_rle_counts` remembered for the last 16,384 masks. Opening a project checks
    every record and every undo step, and the steps mostly hold the same masks as the records:
    each is decoded once instead of two or three times. (Hashable arguments only.)"""
    return check_rle_counts(counts, height, width)


def encode_mask(mask: np.ndarray) -> tuple[int, int, str]:
    """Bool/0-1 array (H, W) -> (H, W, compressed RLE counts as ASCII)."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"a mask is a 2-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        arr = arr != 0
    rle = mask_utils.encode(np.asfortranarray(arr.view(np.uint8)))
    return int(arr.shape[0]), int(arr.shape[1]), rle["counts"].decode("ascii")
