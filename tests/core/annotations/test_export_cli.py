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
    # a folder format too: an earlier export is replaced whole (a mask it no longer writes goes)
    folder = out_dir / "masks"
    png = [str(proj.path), "-f", "png", "-o", str(folder), "-q"]
    assert export_main(png) == 0
    before = {p.relative_to(folder) for p in folder.rglob("*.png")}
    assert export_main(png) == 1 and "already exists" in capsys.readouterr().err
    store.delete_object(store.objects[0].id)
    proj.save()
    assert export_main([*png, "--overwrite"]) == 0
    after = {p.relative_to(folder) for p in folder.rglob("*.png")}
    assert after and after < before  # the deleted object's masks are gone
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.json", "masks"]


@pytest.mark.parametrize("fmt", ["png", "davis"])
def test_overwrite_never_deletes_a_folder_holding_files_no_export_wrote(store, tmp_path, capsys, fmt):
    """A folder export with --overwrite (or the dialog's "Replace") replaced the folder whole: pointed
    at someone's documents, a dataset or another project, it deleted them (found by the user test)."""
    proj = Project(tmp_path / "p.litlora", store)
    proj.save()
    documents = tmp_path / "Documents"
    documents.mkdir()
    (documents / "thesis.txt").write_text("precious")
    args = [str(proj.path), "-f", fmt, "-q", "--overwrite"]
    assert export_main([*args, "-o", str(documents)]) == 1
    err = capsys.readouterr().err
    assert "thesis.txt" in err and "would delete them" in err
    assert (documents / "thesis.txt").read_text() == "precious"
    # a browser's litter is no one's work; a mask mended by hand is
    (documents / "thesis.txt").unlink()
    (documents / ".DS_Store").write_bytes(b"x")
    assert export_main([*args, "-o", str(documents)]) == 0
    mended = next(documents.rglob("*.png"))
    mended.write_bytes(mended.read_bytes() + b"\0")
    assert export_main([*args, "-o", str(documents)]) == 1 and mended.name in capsys.readouterr().err
    assert mended.read_bytes().endswith(b"\0")
    # an earlier export into which someone put a file of their own
    out = tmp_path / "export"
    assert export_main([*args, "-o", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert export_main([*args, "-o", str(out)]) == 1 and "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    # an empty folder is no one's work
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_main([*args, "-o", str(empty)]) == 0 and any(empty.rglob("*.png"))


def test_files_put_in_the_output_while_it_is_written_are_not_deleted(store, tmp_path):
    """The folder was checked only before the export; what someone put there while it ran was
    deleted with the old export at the end (found in review)."""
    from litlora_desktop.core.annotations.formats import ExportError, export

    out = tmp_path / "masks"
    export("png", store, out)

    def meanwhile(done, total):
        if done == 2:
            (out / "notes.txt").write_text("mine")

    with pytest.raises(ExportError, match=r"notes\.txt"):
        export("png", store, out, overwrite=True, progress=meanwhile)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]  # no temporary folder left
