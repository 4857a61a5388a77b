"""Project folder: save/open/resume, SIGKILL-safe saves, recovery, read-only projects, save as."""

import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import threading
import time

import pytest

from litlora_desktop.core.annotations.manifest import AUTOSAVE, BACKUP, MANIFEST, ProjectError
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.records import MaskRecord
from tests.core.annotations.project_samples import H, W, blob, make_project


def test_save_open_resumes_everything(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    proj.settings["litlora"] = {"rank": 4, "enabled": True}
    proj.extras["tracker"] = {"prompts": [[0, 1, [[3, 4, 1]]]]}
    proj.update_ui_state(frame=3, object_id=2, zoom=2.5, center=(10.0, 12.5))
    assert proj.is_dirty
    proj.save()
    assert not proj.is_dirty

    folder = tmp_path / "clip.litlora"
    assert json.loads((folder / MANIFEST).read_text())["schema_version"] == 1
    assert (folder / "adapters").is_dir() and proj.adapters_dir == folder / "adapters"
    assert len(list((folder / "data").glob("store-*.json"))) <= 2  # old stores are collected

    back = Project.open(folder / MANIFEST)
    assert back.path == folder and back.loaded_from == "saved"
    assert back.store.objects == proj.store.objects
    for f, oid, rec in proj.store.iter_records():
        assert back.store.get_record(f, oid) == rec
    assert back.settings == proj.settings and back.extras == proj.extras
    assert (back.ui_state.frame, back.ui_state.object_id, back.ui_state.zoom) == (3, 2, 2.5)
    assert back.ui_state.center == (10.0, 12.5)
    assert back.video.path == "../clip.mp4" and back.resolve_video_path() == video.resolve()
    assert back.store.num_frames == 12 and (back.store.height, back.store.width) == (H, W)
    # undo history survives the reopen
    assert back.store.undo_label == "Edit mask"
    back.store.undo()
    assert back.store.get_record(3, 2) is None
    assert back.is_dirty  # the undo is an unsaved change


def test_backup_holds_the_previous_save_and_autosave_is_separate(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    proj.save()
    first = proj.store.mask_count()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()
    folder = proj.path
    assert Project.open(folder, "backup").store.mask_count() == first
    assert Project.open(folder).store.mask_count() == first + 1

    proj.store.set_mask(10, 1, blob(20, 20), "user")
    saved_manifest = (folder / MANIFEST).read_bytes()
    assert proj.write_autosave()
    assert not proj.write_autosave()  # nothing new: no write
    assert (folder / MANIFEST).read_bytes() == saved_manifest
    probe = Project.probe(folder)
    assert probe.autosave_is_newer and all(s.ok for s in probe.states.values())
    assert Project.open(folder, "autosave").store.mask_count() == first + 2
    assert Project.open(folder).store.mask_count() == first + 1
    proj.save()
    assert not Project.probe(folder).autosave_is_newer
    proj.discard_autosave()
    assert not (folder / AUTOSAVE).exists()
    referenced = {json.loads((folder / m).read_text())["store"]["file"] for m in (MANIFEST, BACKUP)}
    assert {f"data/{p.name}" for p in (folder / "data").iterdir()} == referenced


def test_corrupt_or_truncated_files_give_clear_errors_and_offer_recovery(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    proj.save()
    proj.store.set_mask(11, 1, blob(20, 20), "user")
    proj.write_autosave()
    folder = proj.path
    good = (folder / MANIFEST).read_bytes()

    (folder / MANIFEST).write_bytes(good[: len(good) // 2])
    with pytest.raises(ProjectError, match=r"corrupt or truncated \(unreadable from line \d+\)") as e:
        Project.open(folder)
    assert e.value.recovery[0] == "autosave" and "autosave from" in str(e.value)
    assert "Expecting" not in str(e.value) and "char " not in str(e.value)  # no parser's words
    assert Project.open(folder, e.value.recovery[0]).store.get_record(11, 1) is not None

    (folder / MANIFEST).write_bytes(b"")
    with pytest.raises(ProjectError, match="empty"):
        Project.open(folder)

    (folder / MANIFEST).write_bytes(good)
    store_file = folder / json.loads(good)["store"]["file"]
    raw = store_file.read_bytes()
    store_file.write_bytes(raw[:-10])
    with pytest.raises(ProjectError, match="truncated or corrupt"):
        Project.open(folder)
    store_file.write_bytes(raw)
    assert Project.open(folder).store.mask_count() == proj.store.mask_count() - 1

    with pytest.raises(ProjectError, match="no project"):
        Project.open(tmp_path / "nowhere.litlora")


def test_project_folder_moved_with_its_video_still_finds_it(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    proj.save()
    dest = tmp_path / "moved"
    dest.mkdir()
    shutil.move(proj.path, dest / proj.path.name)
    shutil.move(video, dest / video.name)
    back = Project.open(dest / "clip.litlora")
    assert back.resolve_video_path() == (dest / "clip.mp4").resolve()


def test_save_as_copies_adapters_and_rebases_video_path(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    (proj.adapters_dir / "adapter-0").mkdir()
    (proj.adapters_dir / "adapter-0" / "weights.safetensors").write_bytes(b"w")
    new = tmp_path / "sub" / "copy.litlora"
    proj.save_as(new)
    assert proj.path == new and proj.name == "copy"
    assert (new / "adapters" / "adapter-0" / "weights.safetensors").read_bytes() == b"w"
    back = Project.open(new)
    assert back.video.path == "../../clip.mp4" and back.resolve_video_path() == video.resolve()
    assert back.store.mask_count() == 8
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(new)


def _folder_bytes(folder):
    """Every file under ``folder`` with its content: what "left untouched" means."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_save_that_keeps_the_view_never_replaces_the_backup(tmp_path, video):
    """Issue 11: an automatic save (the quit-time one that keeps the view) rotated the backup away."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    first = proj.store.mask_count()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()
    folder = proj.path
    backup = (folder / BACKUP).read_bytes()
    # the quit-time save writes the view, never the backup
    proj.update_ui_state(frame=5)
    proj.save(rotate_backup=False)
    assert (folder / BACKUP).read_bytes() == backup
    assert Project.open(folder).ui_state.frame == 5
    # an explicit save with nothing new in it does not throw the one good backup away either
    for _ in range(3):
        proj.save()
    assert (folder / BACKUP).read_bytes() == backup
    assert Project.open(folder, "backup").store.mask_count() == first
    # ... while a save with new data keeps the save before it, as always
    proj.store.set_mask(10, 1, blob(20, 20), "user")
    proj.save()
    assert Project.open(folder, "backup").store.mask_count() == first + 1
    assert Project.open(folder).store.mask_count() == first + 2


def test_a_read_only_project_never_writes_into_its_folder(tmp_path, video):
    """Issue 11: a project opened detached (its video no longer fits) must never be written."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()
    proj.store.set_mask(10, 1, blob(20, 20), "user")
    proj.write_autosave()
    (proj.adapters_dir / "old-adapter.safetensors").write_bytes(b"w")
    folder = proj.path
    before = _folder_bytes(folder)

    ro = Project.open(folder)
    ro.read_only = True
    ro.store.set_mask(11, 1, blob(20, 20), "user")
    ro.update_ui_state(frame=4)
    for write in (
        ro.save,
        lambda: ro.save(rotate_backup=False),
        ro.write_autosave,
        lambda: ro.save_as(folder),
        lambda: ro.save_as(folder / "data" / "inside.litlora"),  # nor into a folder inside it
    ):
        with pytest.raises(ProjectError, match="read-only"):
            write()
    ro.discard_autosave()  # the autosave in the folder is the user's: it stays
    assert _folder_bytes(folder) == before

    # Save As into another folder works; the project lives there and is writable again
    new = tmp_path / "elsewhere.litlora"
    ro.save_as(new)
    assert ro.path == new and not ro.read_only
    assert Project.open(new).store.get_record(11, 1) is not None
    assert not (new / "adapters" / "old-adapter.safetensors").exists()  # not this work's adapters
    ro.store.set_mask(0, 1, blob(5, 5), "user")
    ro.save()
    assert _folder_bytes(folder) == before


_RECORDS = [MaskRecord.from_mask(blob(5 + (i % 35), 5 + (i * 7) % 25), "sam2") for i in range(64)]


def _writer(folder: str, conn) -> None:
    """Child process: open the project, add masks, save, report; forever, until SIGKILLed."""
    proj = Project.open(folder)
    store = proj.store
    f = store.mask_count()
    while True:
        for _ in range(40):
            store.set_record(f, 1, _RECORDS[f % len(_RECORDS)])
            f += 1
        conn.send(("begin", f))
        if f % 3:
            proj.save()
        else:
            proj.write_autosave()
            proj.save()
        conn.send(("saved", f))


def test_sigkill_mid_save_never_loses_a_completed_save(tmp_path):
    folder = tmp_path / "kill.litlora"
    proj = Project.create(folder)
    proj.store.height, proj.store.width = H, W
    proj.store.add_object("o")
    proj.save()
    ctx = mp.get_context("fork")
    rng = random.Random(1234)
    mid_save = 0
    last_saved = 0
    t_end = time.monotonic() + 30
    for _ in range(30):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_writer, args=(str(folder), child))
        p.start()
        child.close()
        time.sleep(rng.uniform(0.05, 0.25))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert p.exitcode == -signal.SIGKILL
        last = None
        while parent.poll():
            try:
                last = parent.recv()
            except EOFError:
                break
            if last[0] == "saved":
                last_saved = last[1]
        parent.close()
        mid_save += last is not None and last[0] == "begin"
        back = Project.open(folder)  # always opens, never needs recovery
        assert back.store.mask_count() >= last_saved
        assert back.store.frames_for_object(1) == list(range(back.store.mask_count()))
        assert time.monotonic() < t_end
    assert last_saved > 0
    print(f"{mid_save} of 30 kills landed inside a save; last completed save had {last_saved} masks")
    assert mid_save >= 5, f"only {mid_save} kills landed inside a save; the test is not testing much"
    Project.open(folder).save()  # a later save clears temp files of killed writers
    assert list(folder.rglob(".*tmp-*")) == []


def test_opening_while_another_writer_saves_never_fails(tmp_path):
    """A reader (e.g. the export CLI) may race a writer that collects the store file it just named."""
    proj = Project.create(tmp_path / "r.litlora")
    proj.store.height, proj.store.width = H, W
    proj.store.add_object()
    proj.write_autosave(force=True)
    stop = threading.Event()

    def write():
        f = 0
        while not stop.is_set():
            proj.store.set_record(f, 1, _RECORDS[f % len(_RECORDS)])
            proj.write_autosave()
            f += 1

    t = threading.Thread(target=write)
    t.start()
    try:
        # at least 100 opens, and on until the writer has been seen saving a few times: a loaded
        # machine may not schedule the writer during the first hundred (that made the test flaky)
        counts: list[int] = []
        deadline = time.monotonic() + 60
        while len(counts) < 100 or (counts[-1] < 3 and time.monotonic() < deadline):
            counts.append(Project.open(proj.path, "autosave").store.mask_count())
    finally:
        stop.set()
        t.join()
    assert counts == sorted(counts) and counts[-1] >= 3


def test_undo_back_to_the_save_is_clean_before_and_after_reopening(tmp_path, video):
    """``is_dirty`` compares the content, not a change counter: undoing to the saved state is clean,
    redoing past it is not, in a group too, and the versions of a reopened history line up again."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    a = proj.store.objects[0].id
    with proj.store.group("Brush"):
        proj.store.set_mask(1, a, blob(20, 20), "user")
        proj.store.set_mask(2, a, blob(20, 20), "user")
    assert proj.is_dirty
    proj.store.undo()
    assert not proj.is_dirty
    proj.store.redo()
    assert proj.is_dirty
    proj.store.undo()
    proj.store.undo()  # before the save
    assert proj.is_dirty
    proj.store.redo()
    assert not proj.is_dirty
    proj.store.redo()
    proj.store.undo()  # the brush can be redone: saved with its redo step
    proj.save()

    back = Project.open(tmp_path / "clip.litlora")
    assert not back.is_dirty and back.store.can_undo and back.store.can_redo
    back.store.redo()
    assert back.is_dirty
    back.store.undo()
    assert not back.is_dirty
    back.store.undo()
    assert back.is_dirty
    back.store.redo()
    assert not back.is_dirty


def test_open_with_a_probe_reads_the_store_once(tmp_path, video, monkeypatch):
    """Probing then opening a long project read and checked its store twice (seconds of CPU on a
    worker that the GUI thread then queues behind for the GIL): the probe's reading is reused."""
    import litlora_desktop.core.annotations.project as project_mod

    proj, _ = make_project(tmp_path, video)
    proj.save()
    probe = Project.probe(proj.path)

    def no_second_read(*_a):
        raise AssertionError("the store was read again")

    monkeypatch.setattr(project_mod, "read_store", no_second_read)
    back = Project.open(proj.path, "saved", probe)
    assert back.store.mask_count() == proj.store.mask_count()
    with pytest.raises(AssertionError, match="read again"):
        Project.open(proj.path, "saved", probe)  # handed out once: a second open reads afresh


def test_opening_with_a_probe_lets_the_other_states_it_read_go(tmp_path, video):
    """A probe reads every state (saved, autosave, backup: three stores of a long project); once one
    is opened the others must not stay in memory for as long as someone holds the probe."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()  # a backup now
    proj.store.set_mask(10, 1, blob(20, 20), "user")
    assert proj.write_autosave()
    probe = Project.probe(proj.path)
    assert set(probe._read) == {"saved", "autosave", "backup"}
    Project.open(proj.path, "autosave", probe)
    assert probe._read == {}


def test_a_failed_open_keeps_the_other_states_the_probe_read_for_the_fallback(tmp_path, video):
    """The GUI offers the autosave or backup when the save is damaged; it opens with the same probe,
    which must still hold them (reading a long project's store again costs seconds)."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()  # a backup now
    probe = Project.probe(proj.path)
    probe._read["saved"] = (b"not what is on disk", {}, None)  # as if another writer saved since
    (proj.path / MANIFEST).write_text("{damaged")
    with pytest.raises(ProjectError):
        Project.open(proj.path, "saved", probe)
    assert "backup" in probe._read
    back = Project.open(proj.path, "backup", probe)
    assert back.store.mask_count() == proj.store.mask_count() - 1 and probe._read == {}


def test_a_probe_taken_before_another_save_is_not_reused(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    proj.save()
    probe = Project.probe(proj.path)
    before = proj.store.mask_count()
    proj.store.set_mask(9, 1, blob(20, 20), "user")
    proj.save()  # another writer replaced project.json after the probe
    back = Project.open(proj.path, "saved", probe)
    assert back.store.mask_count() == before + 1


def test_a_save_never_replaces_a_project_another_program_saved_since(tmp_path, video):
    """Two writers of one folder (another window, `litlora-desktop track --overwrite`, a sync tool):
    the last save used to win in silence, throwing the other's work away. A save now refuses when
    the project on disk is no longer the one this object read or wrote, unless told to replace it."""
    from litlora_desktop.core.annotations.project import ProjectChangedOnDisk

    proj, _ = make_project(tmp_path, video)
    proj.save()
    other = Project.open(proj.path)
    other.store.add_object("theirs")
    other.save()
    theirs = (proj.path / MANIFEST).read_bytes()
    proj.update_ui_state(frame=4)  # even a save of the view alone (the app's save on quitting)
    with pytest.raises(ProjectChangedOnDisk, match="saved by another program or window"):
        proj.save(rotate_backup=False)
    with pytest.raises(ProjectChangedOnDisk):
        proj.save()
    assert (proj.path / MANIFEST).read_bytes() == theirs  # untouched
    assert [o.name for o in Project.open(proj.path).store.objects][-1] == "theirs"
    # the autosave is this window's own file: it still keeps the unsaved work
    assert proj.write_autosave()
    proj.save(replace_changed=True)  # the user chose to replace it
    assert "theirs" not in [o.name for o in Project.open(proj.path).store.objects]
    # from then on this object's saves are the project on disk again
    proj.update_ui_state(frame=5)
    proj.save()
    # a folder whose project was deleted meanwhile is saved again without a question
    (proj.path / MANIFEST).unlink()
    proj.save()
    assert Project.open(proj.path).ui_state.frame == 5
    # a project opened from its autosave checks against the save it found beside it
    proj.update_ui_state(frame=6)
    proj.write_autosave()
    recovered = Project.open(proj.path, "autosave")
    other = Project.open(proj.path)
    other.update_ui_state(frame=1)
    other.save()
    with pytest.raises(ProjectChangedOnDisk):
        recovered.save()


def test_replacing_a_changed_project_replaces_only_the_save_the_user_saw(tmp_path, video):
    from litlora_desktop.core.annotations.project import ProjectChangedOnDisk

    folder = tmp_path / "new.litlora"
    mine = Project(folder)  # a video opened without a project: this window never read one
    mine.store.add_object("mine")
    theirs = Project.create(folder)  # meanwhile another program makes the project
    theirs.store.add_object("theirs")
    theirs.save()
    with pytest.raises(ProjectChangedOnDisk, match="while this window had it unsaved") as refused:
        mine.save()
    third = Project.open(folder)  # a third save while the user read the question
    third.store.add_object("third")
    third.save()
    with pytest.raises(ProjectChangedOnDisk):
        mine.save(replace_changed=refused.value.found)  # not the save the user agreed to replace
    assert [o.name for o in Project.open(folder).store.objects] == ["theirs", "third"]
    with pytest.raises(ProjectChangedOnDisk) as again:
        mine.save()
    mine.save(replace_changed=again.value.found)
    assert [o.name for o in Project.open(folder).store.objects] == ["mine"]


def test_save_as_takes_this_windows_autosave_out_of_the_old_folder_only(tmp_path, video):
    """The old folder would offer this work back, at its next opening, as its own unsaved work."""
    proj, _ = make_project(tmp_path, video)
    proj.save()
    old = proj.path
    proj.update_ui_state(frame=2)
    assert proj.write_autosave()
    proj.save_as(tmp_path / "elsewhere.litlora")
    assert not (old / AUTOSAVE).exists() and Project.open(old).store.objects
    # an autosave there that is not this object's (another window's) stays
    other = Project.open(old)
    other.update_ui_state(frame=4)
    other.write_autosave()
    proj2 = Project.open(old)
    proj2.save_as(tmp_path / "third.litlora")
    assert (old / AUTOSAVE).exists()
