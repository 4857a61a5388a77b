"""The video fingerprint: the same video matches, a moved one is found, a changed one is noticed."""

import shutil

import pytest

from litlora_desktop.core.annotations.manifest import ProjectError
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.video_identity import check_video, compute_fingerprint
from tests.core.annotations.project_samples import FakeVideo, make_project


def test_video_fingerprint_match_moved_changed(tmp_path, video):
    proj, src = make_project(tmp_path, video)
    fp = proj.video.fingerprint
    assert fp.num_frames == 12 and fp.file_size == video.stat().st_size and len(fp.frame_hashes) == 5
    assert check_video(proj, src).status == "match"

    moved = tmp_path / "elsewhere" / "clip.mp4"
    moved.parent.mkdir()
    shutil.move(video, moved)
    assert proj.resolve_video_path() is None  # missing: the GUI asks the user to relink
    with pytest.raises(ProjectError, match=r"video was not found.*relink"):
        proj.require_video()
    res = check_video(proj, FakeVideo(path=moved))
    assert res.status == "moved" and str(moved) in res.message
    # a decoder that rounds a little differently is still the same video
    assert check_video(proj, FakeVideo(path=moved, noise=1)).status == "moved"
    assert check_video(proj, FakeVideo(path=moved, seed=1)).status == "changed"
    res = check_video(proj, FakeVideo(n=13, path=moved))
    assert res.status == "changed" and "12 frames" in res.message

    proj.set_video(moved, FakeVideo(path=moved))  # relink
    proj.save()
    assert Project.open(proj.path).resolve_video_path() == moved.resolve()
    assert compute_fingerprint(FakeVideo(), None).file_size is None
