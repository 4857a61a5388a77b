"""CVAT for video: a round trip, and CVAT's own semantics on import."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from litlora_desktop.core.annotations.formats import AnnotationImportError
from litlora_desktop.core.annotations.formats.cvat import cvat_rle, export_cvat, import_cvat
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.formats.samples import H, N, W, ellipse, same_masks


def test_cvat_video_xml_round_trip(store, tmp_path):
    out = tmp_path / "cvat.xml"
    export_cvat(store, out, task_name="clip")
    root = ET.parse(out).getroot()
    assert root.findtext("version") == "1.1"
    assert root.find("meta/task/original_size/width").text == str(W)
    tracks = root.findall("track")
    assert [t.get("label") for t in tracks] == ["person", "ball", "person"]
    ball = tracks[1]
    assert [(m.get("frame"), m.get("outside")) for m in ball] == [
        ("1", "0"), ("2", "0"), ("3", "1"), ("5", "0"), ("6", "0"), ("7", "0")
    ]  # fmt: skip
    assert [(m.get("frame"), m.get("outside")) for m in tracks[0]][-1] == ("6", "1")  # person leaves
    back = AnnotationStore(num_frames=N)
    res = import_cvat(back, out)
    assert [o.name for o in res.objects] == ["person A", "ball", "twins"]
    same_masks(store, back)


def test_cvat_import_keeps_cvat_semantics(tmp_path):
    runs, left, top, w, h = cvat_rle(ellipse(20, 20, 5, 4))
    rle = ", ".join(map(str, runs))
    geom = f'left="{left}" top="{top}" width="{w}" height="{h}"'
    xml = f"""<?xml version="1.0"?>
<annotations><version>1.1</version><meta><task><size>6</size><stop_frame>5</stop_frame>
<labels><label><name>car</name><color>#ff8000</color></label></labels>
<original_size><width>{W}</width><height>{H}</height></original_size></task></meta>
<track id="0" label="car">
<mask frame="0" keyframe="1" outside="0" rle="{rle}" {geom}/>
<mask frame="2" keyframe="1" outside="1" rle="{rle}" {geom}/>
<polygon frame="4" keyframe="1" outside="0" points="2.0,2.0;12.0,2.0;12.0,9.0;2.0,9.0"/></track>
<track id="1" label="car"><box frame="0" outside="0" xtl="1" ytl="1" xbr="5" ybr="5"/></track>
</annotations>"""  # fmt: skip
    p = tmp_path / "a.xml"
    p.write_text(xml)
    s = AnnotationStore()
    res = import_cvat(s, p)
    assert len(res.objects) == 1 and res.objects[0].color == (255, 128, 0)
    oid = res.objects[0].id
    assert s.frames_for_object(oid) == [0, 1, 4, 5]  # held until outside; the polygon to the end
    np.testing.assert_array_equal(s.get_mask(1, oid), ellipse(20, 20, 5, 4))
    assert s.get_mask(5, oid)[2:10, 2:13].all()
    assert "skipped" in res.warnings[0]

    p.write_text(xml.replace(f'width="{w}"', f'width="{w + 1}"', 1))
    with pytest.raises(AnnotationImportError, match="RLE covers"):
        import_cvat(AnnotationStore(), p)
    p.write_text("<annotations><track")
    with pytest.raises(AnnotationImportError, match="not valid XML"):
        import_cvat(AnnotationStore(), p)
