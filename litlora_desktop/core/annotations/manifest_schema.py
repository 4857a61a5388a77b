"""What a project manifest may hold: every field with its type and range, checked before it is used.

A manifest is read from disk and may have been damaged or edited by hand; checking every field up
front turns what would be a TypeError deep inside opening a project into one sentence naming the
field, for the user.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import reprlib
from typing import Any

from litlora_desktop.core.annotations.rle import MAX_MASK_SIDE

_SHA256 = re.compile(r"[0-9a-f]{64}")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40
_short.maxlist = _short.maxdict = 4
_brief = _short.repr  # a field's value, cut short, for a message
_MAX_FRAMES = 2**31 - 1


def _whole(v: Any, where: str, low: int = 0, high: int = 2**53) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high}, not {_brief(v)}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{where} must be text, not {_brief(v)}")
    return v


def _mapping(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"{where} must be an object (a mapping), not {_brief(v)}")
    return v


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where} must be a finite number, not {_brief(v)}")
    return float(v)


def check_manifest(m: dict[str, Any]) -> None:
    """Every field a manifest may hold, with its type and range; ValueError names the first bad one.

    What the other parts of the app keep in ``settings`` and ``extras`` is theirs to check: here
    those only have to be mappings.
    """
    _whole(m.get("sequence"), "sequence")
    for key in ("saved_at", "app_version", "kind"):
        if key in m:
            _text(m[key], key)
    store = m["store"]
    if not _SHA256.fullmatch(store["sha256"]):
        raise ValueError("store.sha256 must be 64 hexadecimal digits")
    if "bytes" in store:
        _whole(store["bytes"], "store.bytes")
    if "revision" in store:
        _whole(store["revision"], "store.revision")
    for key in ("settings", "extras"):
        if m.get(key) is not None:
            _mapping(m[key], key)
    if m.get("ui_state") is not None:
        ui = _mapping(m["ui_state"], "ui_state")
        _whole(ui.get("frame", 0), "ui_state.frame", 0, _MAX_FRAMES)
        if ui.get("object_id") is not None:
            _whole(ui["object_id"], "ui_state.object_id", 0, _MAX_FRAMES)
        if _number(ui.get("zoom", 1.0), "ui_state.zoom") <= 0:
            raise ValueError(f"ui_state.zoom must be positive, not {_brief(ui['zoom'])}")
        center = ui.get("center")
        if center is not None:
            if not isinstance(center, list) or len(center) != 2:
                raise ValueError(f"ui_state.center must be a pair of numbers or null, not {_brief(center)}")
            for v in center:
                _number(v, "ui_state.center")
    if m.get("video") is not None:
        _check_video_ref(_mapping(m["video"], "video"))


def _check_video_ref(v: dict[str, Any]) -> None:
    _text(v.get("path"), "video.path")
    _text(v.get("absolute"), "video.absolute")
    if v.get("fingerprint") is None:
        return
    fp = _mapping(v["fingerprint"], "video.fingerprint")
    where = "video.fingerprint."
    if fp.get("file_size") is not None:
        _whole(fp["file_size"], where + "file_size")
    n = _whole(fp.get("num_frames"), where + "num_frames", 1, _MAX_FRAMES)
    _whole(fp.get("width"), where + "width", 1, MAX_MASK_SIDE)
    _whole(fp.get("height"), where + "height", 1, MAX_MASK_SIDE)
    lists = {k: fp.get(k) for k in ("sample_frames", "frame_hashes", "thumbnails")}
    for k, items in lists.items():
        if not isinstance(items, list):
            raise ValueError(f"{where}{k} must be a list, not {_brief(items)}")
    if not len(lists["sample_frames"]) == len(lists["frame_hashes"]) == len(lists["thumbnails"]):
        raise ValueError(f"{where}sample_frames, frame_hashes and thumbnails must have the same length")
    for i in lists["sample_frames"]:
        _whole(i, where + "sample_frames", 0, n - 1)
    for h in lists["frame_hashes"]:
        if not isinstance(h, str) or not _SHA256.fullmatch(h):
            raise ValueError(f"{where}frame_hashes must hold SHA-256 digests, not {_brief(h)}")
    for t in lists["thumbnails"]:
        try:
            base64.b64decode(_text(t, where + "thumbnails"), validate=True)
        except binascii.Error:
            raise ValueError(f"{where}thumbnails must hold base64 text, not {_brief(t)}") from None
