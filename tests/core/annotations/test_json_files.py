"""The project's JSON: encoded in pieces (the GIL is let go) to the same bytes as one call."""

import numpy as np

from litlora_desktop.core.annotations import json_files
from litlora_desktop.core.annotations.store import AnnotationStore


def test_the_store_is_encoded_in_pieces_byte_for_byte_as_one_call_would(monkeypatch):
    """An autosave's encoding must not hold the GIL for the whole store: it is chunked, same bytes."""
    store = AnnotationStore(20, 30, 2000)
    a = store.add_object()
    m = np.zeros((20, 30), bool)
    m[2:9, 3:11] = True
    with store.group("Track frames 0–1999"):  # one history step holding 2,000 operations
        for f in range(2000):
            store.set_mask(f, a.id, np.roll(m, f % 17, axis=1), "user" if f % 10 == 0 else "sam2", score=0.5)
    obj = store.to_json()
    calls = []
    original = json_files._ENCODER.encode
    monkeypatch.setattr(
        json_files, "_ENCODER", type("E", (), {"encode": lambda _s, o: calls.append(1) or original(o)})()
    )
    assert json_files.json_bytes_in_pieces(obj) == json_files.json_bytes(obj)
    assert len(calls) > 10  # many short encoder calls, not one
