"""Where an export may go: never onto the project, its video, or what holds them."""

import cv2
import pytest

from litlora_desktop.core.annotations.formats import ExportError, check_not_protected, protected_paths
from litlora_desktop.core.annotations.project import Project
from tests.core.annotations.formats.samples import FakeVideo, N


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
