"""DAVIS masks that are damaged PNGs: one sentence naming the file, never struct's "unpack requires a
buffer of 13 bytes" or numpy's reshape text."""

from __future__ import annotations

import struct
import zlib

import pytest

from litlora_desktop.core.annotations.formats import AnnotationImportError
from litlora_desktop.core.annotations.formats.davis import import_davis
from litlora_desktop.core.annotations.store import AnnotationStore

SIG = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


IHDR = struct.pack(">IIBBBBB", 4, 2, 8, 3, 0, 0, 0)
PIXELS = zlib.compress(b"\x00\x00\x01\x01\x00" * 2)
CASES = {
    "short_header.png": SIG + _chunk(b"IHDR", IHDR[:9]) + _chunk(b"IEND", b""),
    "odd_palette.png": SIG + _chunk(b"IHDR", IHDR) + _chunk(b"PLTE", b"\x00" * 7) + _chunk(b"IDAT", PIXELS),
    "cut_chunk.png": SIG + _chunk(b"IHDR", IHDR)[:12],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_damaged_png_gets_a_sentence(tmp_path, name):
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / name).write_bytes(CASES[name])
    with pytest.raises(AnnotationImportError) as info:
        import_davis(AnnotationStore(2, 4, 10), folder)
    msg = str(info.value)
    assert name in msg and "\n" not in msg, msg
    for raw in ("unpack", "buffer", "reshape", "Error"):
        assert raw not in msg, msg
