"""YOLO polygons: lossy, and the warning says how much (mean IoU)."""

from litlora_desktop.core.annotations.formats.yolo import YOLO_LOSSY_WARNING, export_yolo


def test_yolo_polygons_warn_that_they_are_lossy(store, tmp_path):
    res = export_yolo(store, tmp_path / "yolo")
    assert res.warnings[0].startswith(YOLO_LOSSY_WARNING) and "Mean IoU" in res.warnings[0]
    assert float(res.warnings[0].rsplit(":", 1)[1].strip(" .")) > 0.7
    lines = (tmp_path / "yolo" / "labels" / "000000.txt").read_text().splitlines()
    assert len(lines) == 3  # person + the two parts of "twins"
    for ln in lines:
        vals = [float(v) for v in ln.split()[1:]]
        assert ln.split()[0] in ("0", "1") and len(vals) >= 6 and all(0 <= v <= 1 for v in vals)
    assert "lossy" in (tmp_path / "yolo" / "data.yaml").read_text()
