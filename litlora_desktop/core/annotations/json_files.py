"""Writing the project's files: atomically (``core/files.py``'s writer, re-exported here), so a reader
sees the old file or the new one, never a mix, and its JSON in pieces, so that encoding a big store
never holds the GIL for long.

A process killed at any instant leaves either the old file or the new one, because the new content
goes to a temporary sibling that is synced and then renamed over the old one. The autosaver encodes
on its own thread; one C encoder call over a store of thousands of masks would hold the GIL until
the whole store is encoded and stall the GUI, so big containers are encoded a few hundred items at
a time, with the same bytes as one call.
"""

from __future__ import annotations

import json
import time
from typing import Any

from litlora_desktop.core.files import atomic_write_bytes

__all__ = ["atomic_write_bytes", "json_bytes", "json_bytes_in_pieces"]


def json_bytes(obj: Any, indent: int | None = None) -> bytes:
    """``obj`` as UTF-8 JSON, compact unless ``indent`` is given (manifests are indented for people)."""
    seps = (",", ":") if indent is None else (",", ": ")
    return json.dumps(obj, indent=indent, separators=seps, ensure_ascii=False).encode("utf-8")


_PIECE = 256  # items encoded per call of the C encoder, which holds the GIL for the whole call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _big(v: Any, depth: int = 2) -> bool:
    """A container too big to encode in one C call (or one holding such a container)."""
    if isinstance(v, dict):
        children: Any = v.values()
    elif isinstance(v, list):
        children = v
    else:
        return False
    return len(v) > _PIECE or (depth > 0 and any(_big(c, depth - 1) for c in children))


def _encode_in_pieces(obj: Any, out: list[str]) -> None:
    """Append the compact JSON text of ``obj`` to ``out``, at most ``_PIECE`` items per C call, and
    let other threads run between calls (the GUI thread must not wait on an autosave's encoding)."""
    is_dict = isinstance(obj, dict)
    if not _big(obj) or (is_dict and not all(isinstance(k, str) for k in obj)):
        out.append(_ENCODER.encode(obj))
        return
    items = list(obj.items()) if is_dict else list(obj)
    out.append("{" if is_dict else "[")
    first, batch = True, []

    def flush() -> None:
        nonlocal first
        if batch:
            text = _ENCODER.encode(dict(batch) if is_dict else batch)[1:-1]
            out.append(text if first else "," + text)
            first = False
            batch.clear()
            time.sleep(0)  # give the GIL away between two pieces

    for item in items:
        value = item[1] if is_dict else item
        if _big(value):
            flush()
            out.append("" if first else ",")
            if is_dict:
                out.append(_ENCODER.encode(item[0]) + ":")
            _encode_in_pieces(value, out)
            first = False
            time.sleep(0)
        else:
            batch.append(item)
            if len(batch) >= _PIECE:
                flush()
    flush()
    out.append("}" if is_dict else "]")


def json_bytes_in_pieces(obj: Any) -> bytes:
    """``json_bytes(obj)``, byte for byte, without holding the GIL for more than a few ms at a time."""
    out: list[str] = []
    _encode_in_pieces(obj, out)
    return "".join(out).encode("utf-8")
