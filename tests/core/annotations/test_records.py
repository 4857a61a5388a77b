"""Mask records and provenance: validated values, COCO RLE in every form pycocotools writes."""

import pytest

from litlora_desktop.core.annotations.records import MaskRecord, Provenance
from tests.core.annotations.store_samples import H, W, blob


def test_provenance_is_validated():
    assert str(Provenance.parse("lora:adapter_1")) == "lora:adapter_1"
    assert Provenance.parse("sam2").kind == "sam2"
    assert Provenance.parse("user") is Provenance.parse("user")  # cached, records share it
    for bad in ("SAM2", "lora", "lora:", "user:x", "lora:has space", "manual", ""):
        with pytest.raises(ValueError):
            Provenance.parse(bad)


def test_mask_record_from_rle_accepts_coco_forms():
    m = blob(20, 20)
    rec = MaskRecord.from_mask(m, "imported")
    as_bytes = {"size": [H, W], "counts": rec.counts.encode()}
    assert MaskRecord.from_rle(as_bytes, "imported") == rec
    # uncompressed RLE (list counts), column-major like COCO
    flat = m.flatten(order="F")
    runs, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    assert MaskRecord.from_rle({"size": [H, W], "counts": runs}, "imported").counts == rec.counts
    with pytest.raises(ValueError):
        MaskRecord.from_rle({"counts": "abc"}, "imported")
