"""Manifests: a newer schema is refused, an older one migrated."""

import json

import pytest

from litlora_desktop.core.annotations import manifest
from litlora_desktop.core.annotations.manifest import MANIFEST, ProjectError
from litlora_desktop.core.annotations.project import Project
from tests.core.annotations.project_samples import make_project


def test_newer_schema_is_refused_and_old_schema_is_migrated(tmp_path, video, monkeypatch):
    proj, _ = make_project(tmp_path, video)
    proj.save()
    folder = proj.path
    m = json.loads((folder / MANIFEST).read_text())
    m["schema_version"] = 7
    (folder / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ProjectError, match=r"newer LIT-LoRA Desktop .*schema 7"):
        Project.open(folder)

    # pretend today's format is schema 2 and a migration from 1 exists: a schema-1 file opens
    m["schema_version"] = 1
    (folder / MANIFEST).write_text(json.dumps(m))

    def one_to_two(d):
        d["settings"]["migrated"] = True
        return {**d, "schema_version": 2}

    monkeypatch.setattr(manifest, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(manifest.MIGRATIONS, 1, one_to_two)
    assert Project.open(folder).settings["migrated"] is True
    monkeypatch.delitem(manifest.MIGRATIONS, 1)
    with pytest.raises(ProjectError, match="cannot upgrade"):
        Project.open(folder)
