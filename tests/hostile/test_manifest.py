"""Hostile project.json files: every malformed manifest is refused with one ProjectError sentence.

A 200,000-deep nesting raised RecursionError out of the JSON parser, and a ``"video": "hello"``
raised AttributeError; both escaped ``Project.open`` (an abort at start-up, tracebacks from export).
"""

from __future__ import annotations

import json

import pytest

from litlora_desktop.core.annotations.export_cli import export_main
from litlora_desktop.core.annotations.manifest import MANIFEST, ProjectError
from litlora_desktop.core.annotations.project import Project

FINGERPRINT = {
    "file_size": 100,
    "num_frames": 12,
    "width": 48,
    "height": 36,
    "sample_frames": [0, 11],
    "frame_hashes": ["a" * 64, "b" * 64],
    "thumbnails": ["AAAA", "AAAA"],
}


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "clip.litlora"
    Project.create(f)
    m = json.loads((f / MANIFEST).read_text())
    m["video"] = {"path": "../clip.mp4", "absolute": str(tmp_path / "clip.mp4"), "fingerprint": FINGERPRINT}
    (f / MANIFEST).write_text(json.dumps(m))
    Project.open(f)  # the base manifest is valid
    return f


def _set(folder, path: str, value) -> None:
    m = json.loads((folder / MANIFEST).read_text())
    *parents, last = path.split(".")
    d = m
    for k in parents:
        d = d[k]
    d[last] = value
    (folder / MANIFEST).write_text(json.dumps(m))


def _assert_sentence(exc: ProjectError) -> None:
    msg = str(exc)
    assert "project.json" in msg, msg
    assert "\n" not in msg and "Error(" not in msg and "Traceback" not in msg, msg


def test_deep_nesting_is_reported_as_damaged(folder):
    depth = 200_000
    (folder / MANIFEST).write_text('{"schema_version": 1, "x": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ProjectError) as info:
        Project.open(folder)
    _assert_sentence(info.value)
    assert "damaged" in str(info.value)
    assert not Project.probe(folder).states["saved"].ok


BAD_FIELDS = [
    ("video", "hello"),
    ("video", [1, 2]),
    ("video.path", 5),
    ("video.fingerprint", "x"),
    ("video.fingerprint.num_frames", "many"),
    ("video.fingerprint.num_frames", -3),
    ("video.fingerprint.width", 10**12),
    ("video.fingerprint.sample_frames", [0, 99]),
    ("video.fingerprint.thumbnails", ["not base64!", "AAAA"]),
    ("video.fingerprint.frame_hashes", ["a"]),
    ("ui_state", "x"),
    ("ui_state.center", ["a", "b"]),
    ("ui_state.zoom", float("nan")),
    ("ui_state.zoom", float("inf")),
    ("ui_state.frame", True),
    ("settings", [1]),
    ("extras", 5),
    ("sequence", "1"),
    ("sequence", None),
    ("store.bytes", "x"),
    ("store.revision", None),
    ("saved_at", 7),
]


@pytest.mark.parametrize(("path", "value"), BAD_FIELDS, ids=[f"{p}={v!r}"[:40] for p, v in BAD_FIELDS])
def test_malformed_field_is_refused_with_a_sentence(folder, path, value):
    _set(folder, path, value)
    with pytest.raises(ProjectError) as info:
        Project.open(folder)
    _assert_sentence(info.value)
    assert path.split(".")[-1] in str(info.value) or path.split(".")[0] in str(info.value), str(info.value)
    assert not Project.probe(folder).states["saved"].ok


def test_export_reports_a_malformed_project_in_one_line(folder, tmp_path, capsys):
    _set(folder, "video", "hello")
    status = export_main([str(folder), "--format", "coco", "--out", str(tmp_path / "out.json"), "-q"])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err and err.startswith("error: ") and "project.json" in err, err
