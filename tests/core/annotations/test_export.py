"""Exports and imports: round trips through real readers, cancel/error leave nothing, and the CLI."""

import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from litlora_desktop.core.annotations.export import (
    YOLO_LOSSY_WARNING,
    ExportCancelled,
    ExportError,
    check_not_protected,
    cvat_rle,
    encode_indexed_png,
    export,
    export_coco,
    export_cvat,
    export_davis,
    export_main,
    export_mots,
    export_overlay,
    export_png,
    export_yolo,
    protected_paths,
    voc_palette,
)
from litlora_desktop.core.annotations.importers import (
    AnnotationImportError,
    decode_indexed_png,
    import_annotations,
    import_coco,
    import_cvat,
    import_davis,
)
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.store import AnnotationStore

H, W, N = 40, 56, 8


def ellipse(cx, cy, rx, ry):
    yy, xx = np.mgrid[:H, :W]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


class FakeVideo:
    num_frames, width, height, fps = N, W, H, 10.0

    def frame(self, k):
        f = np.zeros((H, W, 3), np.uint8)
        f[:, :, 1] = 40 + 10 * k
        return f


@pytest.fixture
def store():
    """Three objects, no overlaps: a moving blob with a hole, a ball with a gap, a two-part object."""
    s = AnnotationStore(H, W, num_frames=N)
    person = s.add_object("person A", (200, 10, 10), "person")
    ball = s.add_object("ball", (10, 200, 10), "ball")
    pair = s.add_object("twins", (10, 10, 200), "person")
    for f in range(6):
        m = ellipse(10 + f, 12, 7, 9)
        if f == 2:
            m &= ~ellipse(10 + f, 12, 2, 3)  # a hole
        s.set_mask(f, person.id, m, "sam2" if f else "user", clicks=[(10, 12, True)], score=0.8)
    for f in (1, 2, 5, 6, 7):
        s.set_mask(f, ball.id, ellipse(40, 8 + f, 4, 4), "lora:a0")
    for f in range(N):
        m = ellipse(30, 32, 4, 4) | ellipse(46, 32, 3, 5) if f != 6 else np.zeros((H, W), bool)
        s.set_mask(f, pair.id, m, "imported")
    return s


def same_masks(a: AnnotationStore, b: AnnotationStore, skip_empty=True):
    """Every non-empty (frame, object) mask of `a` is in `b` (matched by object name) and vice versa."""

    def table(s):
        out = {}
        for f, oid, rec in s.iter_records():
            if rec.area or not skip_empty:
                out[(f, s.object(oid).name)] = rec.decode()
        return out

    ta, tb = table(a), table(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        np.testing.assert_array_equal(ta[k], tb[k], err_msg=str(k))


def test_coco_round_trip_with_pycocotools(store, tmp_path):
    out = tmp_path / "ann.json"
    res = export_coco(store, out)
    assert res.path == out and res.warnings == []
    coco = COCO(str(out))
    assert len(coco.imgs) == N and sorted(coco.imgs) == list(range(1, N + 1))
    assert {c["name"] for c in coco.cats.values()} == {"person", "ball"}
    n_nonempty = sum(1 for _, _, r in store.iter_records() if r.area)
    assert len(coco.anns) == n_nonempty
    for ann in coco.anns.values():
        frame = coco.imgs[ann["image_id"]]["frame_index"]
        expected = store.get_mask(frame, ann["track_id"])
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), expected)
        assert ann["area"] == int(expected.sum())
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(expected)
        assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
    back = AnnotationStore(num_frames=N)
    result = import_coco(back, out)
    assert [o.name for o in result.objects] == ["person A", "ball", "twins"]
    assert [o.color for o in back.objects] == [o.color for o in store.objects]
    same_masks(store, back)
    assert {str(r.provenance) for _, _, r in back.iter_records()} == {"imported"}


def test_coco_import_polygons_and_no_track_ids(tmp_path):
    rle = mask_utils.encode(np.asfortranarray(ellipse(10, 10, 3, 3).astype(np.uint8)))
    doc = {
        "images": [
            {"id": 7, "file_name": "b.jpg", "width": W, "height": H},
            {"id": 3, "file_name": "a.jpg", "width": W, "height": H},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 10, 2, 10]]},
            {"id": 2, "image_id": 3, "category_id": 1, "segmentation": rle},
        ],
    }
    doc["annotations"][1]["segmentation"]["counts"] = doc["annotations"][1]["segmentation"]["counts"].decode()
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    s = AnnotationStore()
    res = import_coco(s, p)
    assert len(res.objects) == 1 and "each category" in res.warnings[0]
    oid = res.objects[0].id
    assert s.frames_for_object(oid) == [0, 1]  # a.jpg is frame 0
    np.testing.assert_array_equal(s.get_mask(0, oid), ellipse(10, 10, 3, 3))
    assert s.get_mask(1, oid)[2:10, 2:20].all() and s.get_record(1, oid).area >= 18 * 8
    assert s.undo_label == "Import COCO"
    s.undo()
    assert s.objects == []


def test_davis_palette_png_round_trip(store, tmp_path):
    out = tmp_path / "davis"
    res = export_davis(store, out, video_name="clip")
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"{f:05d}.png" for f in range(N)] and res.warnings == []
    idx, pal = decode_indexed_png(pngs[2].read_bytes())
    assert idx.dtype == np.uint8 and set(np.unique(idx).tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(idx == 1, store.get_mask(2, 1))
    assert tuple(pal[2]) == (10, 200, 10) and tuple(pal[10]) == tuple(voc_palette()[10])
    # a standard decoder (OpenCV, via libpng) sees the palette colours: it is a real palette PNG
    bgr = cv2.imread(str(pngs[2]), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], pal[idx])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["videos"]["clip"]["objects"]["2"]["frames"] == ["00001", "00002", "00005", "00006", "00007"]

    back = AnnotationStore(num_frames=N)
    result = import_davis(back, out)
    assert [(o.name, o.category, o.color) for o in result.objects] == [
        (o.name, o.category, o.color) for o in store.objects
    ]
    same_masks(store, back)


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


def test_imports_check_size_and_frames_before_touching_the_store(store, tmp_path):
    export_davis(store, tmp_path / "d")
    small = AnnotationStore(H // 2, W // 2)
    with pytest.raises(AnnotationImportError, match="video frames are"):
        import_annotations(small, tmp_path / "d")
    short = AnnotationStore(H, W, num_frames=3)
    with pytest.raises(AnnotationImportError, match="has 3 frames"):
        import_annotations(short, tmp_path / "d")
    assert short.objects == [] and short.revision == 0
    with pytest.raises(ExportCancelled):
        import_annotations(short, tmp_path / "d", should_cancel=lambda: True)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AnnotationImportError, match="not valid JSON"):
        import_annotations(short, tmp_path / "bad.json")
    assert short.revision == 0


def test_overlaps_are_resolved_by_object_order_and_reported(tmp_path):
    s = AnnotationStore(H, W)
    a, b = s.add_object("a"), s.add_object("b")
    s.set_mask(0, a.id, ellipse(20, 20, 8, 8), "user")
    s.set_mask(0, b.id, ellipse(26, 20, 8, 8), "user")
    res = export_davis(s, tmp_path / "d")
    assert "overlapping" in res.warnings[0]
    idx, _ = decode_indexed_png((tmp_path / "d" / "00000.png").read_bytes())
    assert idx[20, 26] == 2 and idx[20, 13] == 1
    res = export_mots(s, tmp_path / "m")
    assert "overlapping" in res.warnings[0]
    lines = (tmp_path / "m" / "0000.txt").read_text().splitlines()
    masks = [mask_utils.decode({"size": [H, W], "counts": ln.split()[5]}) for ln in lines]
    assert not np.logical_and(*masks).any()  # MOTS forbids overlaps
    assert [ln.split()[:5] for ln in lines] == [
        ["0", "1001", "1", str(H), str(W)],
        ["0", "1002", "1", str(H), str(W)],
    ]
    png = cv2.imread(str(tmp_path / "m" / "0000" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and set(np.unique(png).tolist()) == {0, 1001, 1002}


def test_per_object_png_yolo_and_overlay(store, tmp_path):
    res = export_png(store, tmp_path / "png")
    files = sorted(p.relative_to(tmp_path / "png").as_posix() for p in (tmp_path / "png").rglob("*.png"))
    assert res.files == len(files) == store.mask_count()
    assert "002_ball/00005.png" in files
    img = cv2.imread(str(tmp_path / "png" / "001_person_A" / "00002.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(img == 255, store.get_mask(2, 1))

    res = export_yolo(store, tmp_path / "yolo")
    assert res.warnings[0].startswith(YOLO_LOSSY_WARNING) and "Mean IoU" in res.warnings[0]
    assert float(res.warnings[0].rsplit(":", 1)[1].strip(" .")) > 0.7
    lines = (tmp_path / "yolo" / "labels" / "000000.txt").read_text().splitlines()
    assert len(lines) == 3  # person + the two parts of "twins"
    for ln in lines:
        vals = [float(v) for v in ln.split()[1:]]
        assert ln.split()[0] in ("0", "1") and len(vals) >= 6 and all(0 <= v <= 1 for v in vals)
    assert "lossy" in (tmp_path / "yolo" / "data.yaml").read_text()

    out = tmp_path / "overlay.mp4"
    export_overlay(store, FakeVideo(), out)
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    inside = frames[3][12, 13].astype(int)  # person (red) tinted over a green frame, BGR
    outside = frames[3][2, 54].astype(int)
    assert inside[2] > 60 and outside[2] < 30


@pytest.mark.parametrize("fmt", ["coco", "davis", "png", "mots", "yolo", "cvat", "overlay"])
def test_cancel_or_error_leaves_nothing_behind(store, tmp_path, fmt):
    out = tmp_path / (
        "out.json"
        if fmt == "coco"
        else "out.xml"
        if fmt == "cvat"
        else "out.mp4"
        if fmt == "overlay"
        else "out"
    )
    calls = []

    def cancel_late():
        calls.append(1)
        return len(calls) > 4

    with pytest.raises(ExportCancelled):
        export(fmt, store, out, source=FakeVideo(), should_cancel=cancel_late)
    assert list(tmp_path.iterdir()) == []

    def broken_progress(done, total):
        if done == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        export(fmt, store, out, source=FakeVideo(), progress=broken_progress)
    assert list(tmp_path.iterdir()) == []

    seen = []
    export(fmt, store, out, source=FakeVideo(), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] > 0 and out.exists()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ExportError, match="already exists"):
        export(fmt, store, out, source=FakeVideo())
    with pytest.raises(ExportCancelled):  # a cancelled overwrite keeps the previous output intact
        export(fmt, store, out, source=FakeVideo(), overwrite=True, should_cancel=cancel_late)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_export_errors_are_clear(tmp_path):
    with pytest.raises(ExportError, match="no frame size"):
        export_coco(AnnotationStore(), tmp_path / "x.json")
    s = AnnotationStore(H, W, num_frames=N)
    s.add_object()
    s.set_mask(7, 1, ellipse(5, 5, 2, 2), "user")
    with pytest.raises(ExportError, match="past frame 3"):
        export_coco(s, tmp_path / "x.json", num_frames=4)
    with pytest.raises(ExportError, match="does not exist"):
        export_coco(s, tmp_path / "nope" / "x.json")
    with pytest.raises(ExportError, match="needs the project's video"):
        export("overlay", s, tmp_path / "o.mp4")
    with pytest.raises(ExportError, match="Unknown export format"):
        export("voc", s, tmp_path / "o")


def test_cli_exports_a_saved_project(store, tmp_path, capsys):
    proj = Project(tmp_path / "p.litlora", store)
    proj.save()
    proj.save()  # a second save leaves a backup to recover from
    assert export_main([str(proj.path), "--format", "coco", "--out", str(tmp_path / "a.json"), "-q"]) == 0
    assert len(COCO(str(tmp_path / "a.json")).anns) == 18
    assert export_main([str(proj.path), "--format", "yolo", "--out", str(tmp_path / "y")]) == 0
    err = capsys.readouterr().err
    assert "warning: YOLO segmentation polygons are lossy" in err and "exported yolo" in err

    assert export_main([str(proj.path), "--format", "coco", "--out", str(tmp_path / "a.json")]) == 1
    assert export_main([str(tmp_path / "missing.litlora"), "--format", "coco", "--out", "x"]) == 2
    assert export_main([str(proj.path), "--format", "bogus", "--out", "x"]) == 2
    assert export_main([str(proj.path), "--format", "overlay", "--out", str(tmp_path / "o.mp4")]) == 2
    (proj.path / "project.json").write_text("{")
    assert export_main([str(proj.path), "--format", "coco", "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "There is no project" in err and "invalid choice" in err
    assert "video was not found" in err and "corrupt or truncated" in err and "--state backup" in err
    assert "Traceback" not in err


def test_cli_overlay_uses_the_project_video(store, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    for k in range(N):
        wr.write(FakeVideo().frame(k))
    wr.release()
    proj = Project(tmp_path / "clip.litlora", store)
    proj.set_video(video)
    proj.save()
    out = tmp_path / "o.mp4"
    assert export_main([str(proj.path), "--format", "overlay", "--out", str(out)]) == 0, (
        capsys.readouterr().err
    )
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == N


def _tree(folder):
    """Every file under ``folder`` with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_video(path):
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    for k in range(N):
        wr.write(FakeVideo().frame(k))
    wr.release()


def test_protected_paths_refuse_the_project_its_video_and_what_holds_them(store, tmp_path, monkeypatch):
    """Issue 11: an export onto the project folder or the video replaced them."""
    frames = tmp_path / "clip"
    frames.mkdir()
    for k in range(N):
        cv2.imwrite(str(frames / f"{k:05d}.png"), FakeVideo().frame(k))
    proj = Project(tmp_path / "clip.litlora", store)
    proj.set_video(frames)
    proj.save()
    prot = protected_paths(proj)
    assert {proj.path.resolve(), frames.resolve()} <= {p.resolve() for p in prot}
    link = tmp_path / "link"
    link.symlink_to(proj.path, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    refused = [
        proj.path,  # is the project
        proj.path / "project.backup.json",  # a backup inside it
        proj.path / "data",
        proj.path / "new-export",  # would be written into it
        tmp_path,  # contains both
        frames,  # the video (a frames folder)
        frames / "00003.png",
        link,  # a symlink to the project
        link / "out.json",
        "clip.litlora",  # relative
        "clip/../clip.litlora/x",
    ]
    for out in refused:
        with pytest.raises(ExportError, match="never replace"):
            check_not_protected(out, prot)
    for out in (tmp_path / "clip_png", tmp_path / "clip.litlora_png", "clip.json", tmp_path / "x" / "y"):
        check_not_protected(out, prot)  # siblings are fine
    check_not_protected(proj.path, [None])


def test_cli_refuses_to_export_onto_the_project_or_its_video(store, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    proj = Project(tmp_path / "clip.litlora", store)
    proj.set_video(video)
    proj.save()
    proj.store.set_mask(7, 1, ellipse(20, 20, 3, 3), "user")
    proj.save()  # a backup
    proj.write_autosave(force=True)
    before, video_bytes = _tree(proj.path), video.read_bytes()
    link = tmp_path / "link.litlora"
    link.symlink_to(proj.path, target_is_directory=True)
    cases = [
        ("png", proj.path),
        ("davis", proj.path / "data"),
        ("coco", proj.path / "project.backup.json"),
        ("yolo", tmp_path),
        ("png", link),
        ("overlay", video),
    ]
    for fmt, out in cases:
        code = export_main([str(proj.path), "--format", fmt, "--out", str(out), "--overwrite", "-q"])
        assert code == 2, (fmt, out)
        assert _tree(proj.path) == before and video.read_bytes() == video_bytes
    err = capsys.readouterr().err
    assert err.count("never replace") == len(cases) and "Traceback" not in err
    # the overlay's --video is protected too
    other = tmp_path / "other.mp4"
    _write_video(other)
    other_bytes = other.read_bytes()
    assert (
        export_main([str(proj.path), "-f", "overlay", "--video", str(other), "-o", str(other), "--overwrite"])
        == 2
    )
    assert other.read_bytes() == other_bytes


def test_cli_overwrite_replaces_an_existing_output_only_when_asked(store, tmp_path, capsys):
    """Issue 11: --overwrite was parsed but ignored."""
    proj = Project(tmp_path / "p.litlora", store)
    proj.save()
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    out = out_dir / "a.json"
    out.write_text("an older export")
    args = [str(proj.path), "--format", "coco", "--out", str(out), "-q"]
    assert export_main(args) == 1
    assert out.read_text() == "an older export" and "already exists" in capsys.readouterr().err
    assert export_main([*args, "--overwrite"]) == 0, capsys.readouterr().err
    assert len(COCO(str(out)).anns) == 18
    assert [p.name for p in out_dir.iterdir()] == ["a.json"]  # replaced in place: no temp files left
    # a folder format too
    folder = out_dir / "masks"
    folder.mkdir()
    (folder / "stale.png").write_bytes(b"old")
    assert export_main([str(proj.path), "-f", "png", "-o", str(folder), "-q"]) == 1
    assert (folder / "stale.png").read_bytes() == b"old"
    assert export_main([str(proj.path), "-f", "png", "-o", str(folder), "-q", "--overwrite"]) == 0
    assert not (folder / "stale.png").exists() and any(folder.rglob("*.png"))
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.json", "masks"]
