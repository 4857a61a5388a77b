"""``litlora-desktop export``: saved projects exported, clear errors, never onto the project or its video."""

import cv2
import pytest
from pycocotools.coco import COCO

from litlora_desktop.core.annotations.export_cli import export_main
from litlora_desktop.core.annotations.project import Project
from tests.core.annotations.formats.samples import FakeVideo, H, N, W, ellipse, sample_store


@pytest.fixture
def store():
    return sample_store()


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
