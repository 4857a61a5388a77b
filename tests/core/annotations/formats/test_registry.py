"""Export and import by format name: cancels and errors leave nothing, inputs are checked first."""

import pytest

from litlora_desktop.core.annotations.formats import (
    FORMATS,
    AnnotationImportError,
    ExportCancelled,
    ExportError,
    export,
    exporters,
    format_named,
    import_annotations,
    importers,
)
from litlora_desktop.core.annotations.formats.coco import export_coco
from litlora_desktop.core.annotations.formats.davis import export_davis
from litlora_desktop.core.annotations.formats.yolo import YOLO_LOSSY_WARNING
from litlora_desktop.core.annotations.store import AnnotationStore
from tests.core.annotations.formats.samples import FakeVideo, H, N, W, ellipse


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


def test_one_table_lists_the_formats_in_the_order_the_user_sees_them():
    assert FORMATS == ("coco", "davis", "png", "mots", "yolo", "cvat", "overlay")
    assert [f.name for f in exporters()] == list(FORMATS)
    assert [f.name for f in importers()] == ["davis", "coco", "cvat"]  # the import dialog's order
    assert [f.name for f in exporters() if not f.folder] == ["coco", "cvat", "overlay"]
    assert format_named("yolo").note == "Lossy: " + YOLO_LOSSY_WARNING
    assert format_named("overlay").needs_video and format_named("overlay").importer is None
