"""A save that fails after the store file was written (the disk fills up before the manifest is
written) left that store file behind in ``data/``: every retry on a nearly full disk then had even
less room. The failed attempt's store file is removed, the previous save still opens unchanged, and
the error is one sentence naming the project and what went wrong."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from litlora_desktop.core.annotations import project as project_mod
from litlora_desktop.core.annotations.manifest import AUTOSAVE, BACKUP, DATA_DIR, MANIFEST, ProjectError
from litlora_desktop.core.annotations.project import Project

H, W = 24, 32


def _blob(y: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + 4, 5:15] = True
    return m


def _saved_project(tmp_path) -> tuple[Project, int]:
    proj = Project(tmp_path / "p.litlora")
    proj.store.height, proj.store.width, proj.store.num_frames = H, W, 6
    obj = proj.store.add_object("car", (255, 0, 0))
    proj.store.set_mask(0, obj.id, _blob(2), "user")
    proj.save()
    return proj, obj.id


def _full_disk_on(monkeypatch, names: set[str]) -> None:
    real = project_mod.atomic_write_bytes

    def write(path, data):
        if path.name in names:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(project_mod, "atomic_write_bytes", write)


@pytest.mark.parametrize("target", [MANIFEST, AUTOSAVE])
def test_a_failed_save_leaves_no_store_file_and_the_last_save_opens(tmp_path, monkeypatch, target):
    proj, oid = _saved_project(tmp_path)
    data = proj.path / DATA_DIR
    before = sorted(p.name for p in data.iterdir())
    proj.store.set_mask(1, oid, _blob(8), "user")
    _full_disk_on(monkeypatch, {target})
    for _ in range(3):  # retries never pile up files either
        with pytest.raises((ProjectError, OSError)) as info:
            proj.save() if target == MANIFEST else proj.write_autosave(force=True)
        assert sorted(p.name for p in data.iterdir()) == before
    msg = str(info.value)
    assert isinstance(info.value, ProjectError), msg
    assert "p.litlora" in msg and "No space left" in msg and "\n" not in msg, msg
    monkeypatch.undo()
    back = Project.open(proj.path)
    assert back.store.get_mask(1, oid) is None
    assert np.array_equal(back.store.get_mask(0, oid), _blob(2))
    proj.save()  # with room again, the same project saves
    assert np.array_equal(Project.open(proj.path).store.get_mask(1, oid), _blob(8))


def test_a_failed_backup_does_not_fail_the_save(tmp_path, monkeypatch):
    proj, oid = _saved_project(tmp_path)
    proj.store.set_mask(1, oid, _blob(8), "user")
    _full_disk_on(monkeypatch, {BACKUP})
    proj.save()
    monkeypatch.undo()
    assert np.array_equal(Project.open(proj.path).store.get_mask(1, oid), _blob(8))
    kept = {p.name for p in (proj.path / DATA_DIR).iterdir()}
    assert len(kept) <= 2  # the new save's store (and at most the one a backup still names)
