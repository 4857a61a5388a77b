"""Project folder: save/open/resume, SIGKILL-safe saves, recovery, video fingerprint, autosave."""

import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from litlora_desktop.core.annotations import project as project_mod
from litlora_desktop.core.annotations.project import (
    AUTOSAVE,
    BACKUP,
    MANIFEST,
    Autosaver,
    Project,
    ProjectError,
    check_video,
    compute_fingerprint,
    default_project_path,
)
from litlora_desktop.core.annotations.store import AnnotationStore, MaskRecord

H, W = 36, 48


class FakeVideo:
    """A FrameSource: deterministic frames, optionally tweaked to model a changed video."""

    def __init__(self, n=12, path=None, seed=0, noise=0):
        self.num_frames, self.width, self.height, self.path = n, W, H, path
        self._seed, self._noise = seed, noise

    def frame(self, k):
        rng = np.random.default_rng(self._seed * 1000 + k)
        f = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        if self._noise:
            f = np.clip(f.astype(int) + self._noise, 0, 255).astype(np.uint8)
        return f


def blob(cx, cy, r=7):
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


@pytest.fixture
def video(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"not really a video, but it has a size")
    return p


def make_project(tmp_path, video):
    src = FakeVideo(path=video)
    proj = Project.create(default_project_path(video), video, src)
    a = proj.store.add_object("person", category="person")
    b = proj.store.add_object("ball")
    for f in range(6):
        proj.store.set_mask(f, a.id, blob(8 + f, 15), "sam2", score=0.9)
    proj.store.set_mask(2, b.id, blob(30, 20), "user", clicks=[(30, 20, True), (2, 2, False)])
    proj.store.set_mask(3, b.id, blob(31, 20), "lora:adapter-0")
    return proj, src


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
    with pytest.raises(ProjectError, match="corrupt or truncated") as e:
        Project.open(folder)
    assert e.value.recovery[0] == "autosave" and "autosave from" in str(e.value)
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

    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(project_mod.MIGRATIONS, 1, one_to_two)
    assert Project.open(folder).settings["migrated"] is True
    monkeypatch.delitem(project_mod.MIGRATIONS, 1)
    with pytest.raises(ProjectError, match="cannot upgrade"):
        Project.open(folder)


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


# ----------------------------------------------------------------------------- autosaver
def test_autosaver_debounces_and_flushes():
    calls = []
    saver = Autosaver(lambda: calls.append(time.monotonic()), delay=0.15, max_delay=5)
    t0 = time.monotonic()
    for _ in range(10):
        saver.notify_changed()
        time.sleep(0.02)
    deadline = time.monotonic() + 3
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 1 and calls[0] - t0 >= 0.15 + 0.18  # after the burst, not during it
    saver.notify_changed()
    saver.flush()  # immediate, in this thread
    assert len(calls) == 2
    saver.stop()
    assert len(calls) == 2  # nothing pending: stop writes nothing
    saver.notify_changed()
    time.sleep(0.3)
    assert len(calls) == 2  # stopped


def test_autosaver_max_delay_and_error_retry():
    calls, errors = [], []
    fail = [True]

    def save():
        calls.append(time.monotonic())
        if fail[0]:
            fail[0] = False
            raise OSError("disk full")

    saver = Autosaver(save, delay=0.2, max_delay=0.3, on_error=errors.append)
    stop = threading.Event()

    def keep_editing():
        while not stop.is_set():
            saver.notify_changed()
            time.sleep(0.02)

    t = threading.Thread(target=keep_editing)
    t.start()
    time.sleep(1.0)
    stop.set()
    t.join()
    saver.stop(flush=False)
    assert len(errors) == 1 and "disk full" in str(errors[0])
    assert len(calls) >= 2  # a save happened during continuous edits, and the failure was retried


def test_autosaver_for_project_writes_autosave_within_seconds(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    saver = Autosaver.for_project(proj, delay=0.05, max_delay=1)
    proj.store.set_mask(7, 1, blob(9, 9), "user")
    deadline = time.monotonic() + 5
    while not (proj.path / AUTOSAVE).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Project.open(proj.path, "autosave").store.get_record(7, 1) is not None
    proj.update_ui_state(frame=9)  # moving around is remembered too
    deadline = time.monotonic() + 5
    while Project.open(proj.path, "autosave").ui_state.frame != 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    saver.stop()
    assert Project.open(proj.path, "autosave").ui_state.frame == 9


# ----------------------------------------------------------------------------- SIGKILL
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
        counts = [Project.open(proj.path, "autosave").store.mask_count() for _ in range(100)]
    finally:
        stop.set()
        t.join()
    assert counts == sorted(counts) and counts[-1] > 0


def test_the_store_is_encoded_in_pieces_byte_for_byte_as_one_call_would(monkeypatch):
    """An autosave's encoding must not hold the GIL for the whole store: it is chunked, same bytes."""
    store = AnnotationStore(20, 30, 2000)
    a = store.add_object()
    m = np.zeros((20, 30), bool)
    m[2:9, 3:11] = True
    with store.group("Track frames 0–1999"):  # one history step holding 2,000 operations
        for f in range(2000):
            store.set_mask(f, a.id, np.roll(m, f % 17, axis=1), "user" if f % 10 == 0 else "sam2", score=0.5)
    obj = store.to_json()
    calls = []
    original = project_mod._ENCODER.encode
    monkeypatch.setattr(
        project_mod, "_ENCODER", type("E", (), {"encode": lambda _s, o: calls.append(1) or original(o)})()
    )
    assert project_mod._json_bytes_in_pieces(obj) == project_mod._json_bytes(obj)
    assert len(calls) > 10  # many short encoder calls, not one
