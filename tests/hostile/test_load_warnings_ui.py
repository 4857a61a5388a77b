"""Damaged records of a project's store are skipped when it opens (``Project.load_warnings``), but the
window said nothing: masks simply went missing. Opening such a project in the app now shows one
non-blocking message that counts the skipped records, gives the first reasons and says that nothing
was changed on disk."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from litlora_desktop.core.annotations.manifest import MANIFEST
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.video.sources import VideoSource
from tests.ui.conftest import isolated_settings, no_window_outlives_its_test  # noqa: F401
from tests.ui.test_project_ui import frames_dir, open_window  # noqa: F401

pytestmark = pytest.mark.gui


def _damaged_project(frames) -> tuple:
    folder = frames.parent / "clip.litlora"
    source = VideoSource.open(frames)
    proj = Project.create(folder, frames, source)
    source.close()
    obj = proj.store.add_object("car", (255, 0, 0))
    for f in range(3):
        m = np.zeros((48, 80), bool)
        m[10 + f : 20 + f, 10:30] = True
        proj.store.set_mask(f, obj.id, m, "user")
    proj.save()
    m = json.loads((folder / MANIFEST).read_text())
    p = folder / m["store"]["file"]
    data = json.loads(p.read_text())
    frames_json = data["masks"][str(obj.id)]
    frames_json["1"]["c"] = "\x7f!!"  # not compressed RLE
    frames_json["1"].pop("a", None)
    frames_json["400"] = frames_json["0"]  # past the video's end
    data["masks"]["99"] = {"0": frames_json["0"]}  # an object that does not exist
    raw = json.dumps(data).encode()
    p.write_bytes(raw)
    m["store"]["bytes"], m["store"]["sha256"] = len(raw), hashlib.sha256(raw).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(m))
    expected = Project.open(folder).load_warnings
    assert len(expected) == 3
    return folder, expected


def test_opening_a_project_with_damaged_records_says_so_once(qtbot, open_window, frames_dir):  # noqa: F811
    folder, expected = _damaged_project(frames_dir)
    w = open_window(folder)
    qtbot.waitUntil(lambda: any("skipped" in t.lower() for _, t in w.problems), timeout=5000)
    notes = [(title, text) for title, text in w.problems if "skipped" in text.lower()]
    assert len(notes) == 1, w.problems
    title, text = notes[0]
    assert "3 damaged record" in text and "clip.litlora" in text, text
    assert expected[0] in text and expected[1] in text, text
    assert "Nothing was changed on disk" in text, text
    assert "skipped" in w.statusBar().currentMessage().lower()
    assert w.session.store.get_mask(0, 1) is not None  # the good records are there
