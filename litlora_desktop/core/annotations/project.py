"""The project: everything the user did, kept in a ``<name>.litlora`` folder so that it is never lost.

Crash safety comes from never overwriting data in place: a save writes a *new* store file, then
atomically replaces the small manifest that names it (temp file in the same folder, fsync,
``os.replace``), and only then deletes store files that no manifest names any more. A process
killed at any instant leaves either the old manifest with its old store file or the new manifest
with its new store file. The folder's layout and how a manifest is read back are in
:mod:`~litlora_desktop.core.annotations.manifest`.

Only one process should write a project at a time; within a process a lock serializes the
autosaver thread and explicit saves.

A project opened ``read_only`` (the GUI does this when its video no longer fits the masks) never
writes into its folder: save, autosave and garbage collection raise or do nothing there, and only
:meth:`Project.save_as` into another folder saves its work (the project then lives there).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from litlora_desktop import __version__
from litlora_desktop.core.annotations.json_files import atomic_write_bytes, json_bytes, json_bytes_in_pieces
from litlora_desktop.core.annotations.manifest import (
    ADAPTERS_DIR,
    AUTOSAVE,
    BACKUP,
    DATA_DIR,
    MANIFEST,
    MANIFESTS,
    PROJECT_SUFFIX,
    SCHEMA_VERSION,
    ProjectChangedOnDisk,
    ProjectError,
    ProjectProbe,
    StateName,
    UIState,
    all_sequences,
    collect_garbage,
    identity_on_disk,
    is_good_manifest,
    manifest_identity,
    probe_folder,
    read_manifest,
    read_store,
    readable_time,
    saved_content,
    store_file_of,
)
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.annotations.video_identity import Fingerprint, VideoRef, compute_fingerprint
from litlora_desktop.core.files import read_regular_file
from litlora_desktop.core.video.sources import FrameSource


def _copy_missing(src: str, dst: str) -> str:
    """``copytree``'s copy function for a Save As: a file the new folder holds (this work's adapter,
    written there first) is not replaced by the old folder's."""
    if os.path.exists(dst):
        return dst
    return shutil.copy2(src, dst)


def default_project_path(video_path: str | os.PathLike) -> Path:
    """``clip.mp4`` -> ``clip.litlora`` next to it."""
    v = Path(video_path)
    return v.parent / (v.stem + PROJECT_SUFFIX)


def _project_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.parent if p.name in MANIFESTS.values() else p


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class Project:
    """An open project: the store plus video, settings, UI state and where it lives on disk.

    ``extras`` holds JSON data that other subsystems keep with the project (tracker prompts,
    adapter metadata), each under its own key.

    ``read_only``: nothing is ever written into ``path`` (see the module docstring); a successful
    :meth:`save_as` into another folder clears it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        store: AnnotationStore | None = None,
        video: VideoRef | None = None,
        settings: dict[str, Any] | None = None,
        ui_state: UIState | None = None,
        extras: dict[str, Any] | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = _project_dir(path)
        self.read_only = read_only
        self.store = store if store is not None else AnnotationStore()
        self.video = video
        self.settings: dict[str, Any] = settings or {}
        self.ui_state = ui_state or UIState()
        self.extras: dict[str, Any] = extras or {}
        self.loaded_from = "new"
        self._lock = threading.RLock()
        self._sequence = 0
        self._meta_revision = 0
        self._saved = (-1, -1)  # (store revision, meta revision) of the last explicit save
        self._autosaved = (-1, -1)
        self._saved_content = (-1, -1)  # (store content version, meta revision) of the last explicit save
        self._meta_listeners: list[Callable[[], None]] = []
        # the project.json this object last read or wrote (``manifest_identity``; None: none, as for a project
        # made here): a save checks that it is still the one on disk, so that it never replaces
        # another writer's save in silence; and the autosave it last wrote (a Save As takes it along)
        self._on_disk: tuple[Any, ...] | None = None
        self._autosave_on_disk: tuple[Any, ...] | None = None

    # ----------------------------------------------------------------- creation / opening
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        video_path: str | os.PathLike | None = None,
        source: FrameSource | None = None,
        overwrite: bool = False,
    ) -> Project:
        """Create and save a new project; ``source`` (the opened video) gives size and fingerprint."""
        folder = _project_dir(path)
        if (folder / MANIFEST).exists() and not overwrite:
            raise ProjectError(f"A project already exists at {folder}.", folder)
        store = AnnotationStore()
        if source is not None:
            store.height, store.width, store.num_frames = (
                int(source.height),
                int(source.width),
                int(source.num_frames),
            )
        proj = cls(folder, store)
        if video_path is not None:
            proj.set_video(video_path, source)
        proj.save(replace_changed=True)  # a project there is replaced only with ``overwrite``
        return proj

    @classmethod
    def open(
        cls, path: str | os.PathLike, which: StateName = "saved", probe: ProjectProbe | None = None
    ) -> Project:
        """Open the explicit save, the autosave or the backup; :class:`ProjectError` says what is wrong.

        With the ``probe`` that was just taken of the folder, the state it already read and checked
        is used as it is, unless its manifest changed on disk since."""
        folder = _project_dir(path)
        if which not in MANIFESTS:
            raise ValueError(f"which must be one of {sorted(MANIFESTS)}")
        if not folder.is_dir():
            raise ProjectError(f"There is no project at {folder}.", folder)
        try:
            kept = probe.take(which) if probe is not None and probe.path == folder else None
            proj = cls._load(folder, which, kept)
            if probe is not None:
                probe.release()  # opened: the other states it read are not needed any more
        except ProjectError as exc:
            probe = cls.probe(folder)
            others = tuple(n for n in ("autosave", "backup") if n != which and probe.states[n].ok)
            hint = ""
            if others:
                info = probe.states[others[0]]
                hint = f" The {others[0]} from {readable_time(info.saved_at)} can be opened instead."
            raise ProjectError(f"{exc}{hint}", folder, others) from exc
        return proj

    @classmethod
    def probe(cls, path: str | os.PathLike) -> ProjectProbe:
        """Try every saved state, keeping what it read for one ``open`` with this probe (so a
        project is read and checked once); ``ProjectProbe.take`` lets the rest go."""
        return probe_folder(_project_dir(path))

    @classmethod
    def _load(
        cls, folder: Path, which: str, kept: tuple[dict[str, Any], AnnotationStore] | None = None
    ) -> Project:
        for attempt in range(5):
            if kept is not None:
                m, store = kept
                break
            m = read_manifest(folder, MANIFESTS[which])
            try:
                store = read_store(folder, m)
                break
            except ProjectError:
                # a writer in another process may have replaced the manifest and collected the
                # store file it named between our two reads: read the new manifest and retry
                with contextlib.suppress(ProjectError):
                    if attempt < 4 and read_manifest(folder, MANIFESTS[which]) != m:
                        continue
                raise
        try:
            video = None
            if m.get("video") is not None:
                v = m["video"]
                fp = Fingerprint.from_json(v["fingerprint"]) if v.get("fingerprint") is not None else None
                video = VideoRef(str(v["path"]), str(v["absolute"]), fp)
            settings, extras = m.get("settings", {}), m.get("extras", {})
            if not isinstance(settings, dict) or not isinstance(extras, dict):
                raise ValueError("settings and extras must be mappings")
            ui = UIState.from_json(m.get("ui_state", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProjectError(
                f"The project file {folder / MANIFESTS[which]} is invalid: {exc}", folder
            ) from exc
        proj = cls(folder, store, video, settings, ui, extras)
        proj.loaded_from = which
        # what a later save would replace: the save read here, or the one beside an opened autosave
        proj._on_disk = manifest_identity(m) if which == "saved" else identity_on_disk(folder)
        proj._sequence = max(all_sequences(folder))
        if video is not None and video.fingerprint is not None:
            store.num_frames = video.fingerprint.num_frames
        if which == "saved":
            proj._saved = (store.revision, 0)
            proj._saved_content = (store.content_version, 0)
        proj._autosaved = (store.revision, 0)
        return proj

    # ----------------------------------------------------------------- state
    @property
    def name(self) -> str:
        """The project's name (folder name without ``.litlora``)."""
        return self.path.name.removesuffix(PROJECT_SUFFIX)

    @property
    def load_warnings(self) -> list[str]:
        """Damaged records skipped when the store was read (empty when all was well), for the user."""
        return self.store.load_warnings

    @property
    def adapters_dir(self) -> Path:
        """Folder the LIT-LoRA engine writes adapters into (created on demand)."""
        d = self.path / ADAPTERS_DIR
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def is_dirty(self) -> bool:
        """True when the content differs from the last explicit save (an undo back to it is clean)."""
        return (self.store.content_version, self._meta_revision) != self._saved_content

    def _state_key(self) -> tuple[int, int]:
        return (self.store.revision, self._meta_revision)

    def mark_changed(self) -> None:
        """Call after editing ``settings`` or ``extras`` in place, so saves and autosaves pick it up."""
        self._meta_revision += 1
        for cb in list(self._meta_listeners):
            cb()

    def update_ui_state(self, **changes: Any) -> None:
        """Remember frame / object_id / zoom / center (written with the next save or autosave)."""
        for k, v in changes.items():
            if not hasattr(self.ui_state, k):
                raise ValueError(f"unknown UI state field {k!r}")
            setattr(self.ui_state, k, v)
        self.mark_changed()

    def set_video(self, video_path: str | os.PathLike, source: FrameSource | None = None) -> None:
        """Point the project at a video (also used to relink a moved one); fingerprints it when open."""
        absolute = Path(video_path).resolve()
        fp = compute_fingerprint(source, absolute) if source is not None else None
        self.video = VideoRef(self._stored_path(absolute), str(absolute), fp)
        if source is not None:
            self.store.num_frames = int(source.num_frames)
        self.mark_changed()

    def _stored_path(self, absolute: Path) -> str:
        try:
            return Path(os.path.relpath(absolute, self.path)).as_posix()
        except ValueError:  # another drive on Windows: no relative path exists
            return str(absolute)

    def resolve_video_path(self) -> Path | None:
        """The video's path if it exists (relative path first, so a moved folder keeps working)."""
        if self.video is None:
            return None
        for cand in (self.path / self.video.path, Path(self.video.absolute)):
            if cand.exists():
                return cand.resolve()
        return None

    def require_video(self) -> Path:
        """The video's path, or a :class:`ProjectError` telling the user to relink it."""
        found = self.resolve_video_path()
        if found is None:
            where = self.video.absolute if self.video else "(none recorded)"
            raise ProjectError(
                f"The project's video was not found at {where}. It may have been moved or renamed: "
                "choose its new location to relink it.",
                self.path,
            )
        return found

    # ----------------------------------------------------------------- saving
    def save(self, rotate_backup: bool = True, replace_changed: bool | tuple[Any, ...] = False) -> None:
        """Explicit save; the previous good save is kept as ``project.backup.json``.

        The backup is replaced only when the save it would keep holds other data than the new one
        (a repeated Ctrl+S keeps the older backup). ``rotate_backup=False`` (a save the user did
        not ask for, such as keeping the view on quitting) never touches the backup.

        :class:`ProjectChangedOnDisk` when another program or window saved the project since this
        object read or wrote it; ``replace_changed`` (the user said so) replaces that save: the one
        the refusal ``found``, or with True whatever is there.
        """
        self._write(MANIFEST, rotate_backup=rotate_backup, replace_changed=replace_changed)

    def save_as(self, path: str | os.PathLike, overwrite: bool = False, copy_adapters: bool = True) -> None:
        """Save to a new project folder; this project then lives there, and the autosave it left in
        the old folder goes (its work is saved now). Adapter files of the old folder that the new one
        lacks are copied (``copy_adapters=False``: none; the caller wrote this work's there)."""
        new = _project_dir(path)
        if self.read_only and self.path.resolve() in (new.resolve(), *new.resolve().parents):
            self._refuse_if_read_only()  # not into the read-only folder, nor into a folder inside it
        if new.resolve() == self.path.resolve():
            return self.save()
        if (new / MANIFEST).exists() and not overwrite:
            raise ProjectError(f"A project already exists at {new}.", new)
        with self._lock:
            new.mkdir(parents=True, exist_ok=True)
            src_adapters = self.path / ADAPTERS_DIR
            # a read-only one's are not this work's
            if src_adapters.is_dir() and not self.read_only and copy_adapters:
                shutil.copytree(
                    src_adapters, new / ADAPTERS_DIR, dirs_exist_ok=True, copy_function=_copy_missing
                )
            old, old_ro, old_video = self.path, self.read_only, self.video and self.video.path
            self.path, self.read_only = new, False
            if self.video is not None:
                self.video.path = self._stored_path(Path(self.video.absolute))
            try:
                self._sequence = max(self._sequence, *all_sequences(new))
                self._write(MANIFEST, replace_changed=True)  # a project there was agreed to above
            except BaseException:
                self.path, self.read_only = old, old_ro
                if self.video is not None and old_video is not None:
                    self.video.path = old_video
                raise
            mine, self._autosave_on_disk = self._autosave_on_disk, None
            if not old_ro and mine is not None and identity_on_disk(old, AUTOSAVE) == mine:
                # reopened, the old folder would offer this work back as its own unsaved work
                with contextlib.suppress(OSError):
                    (old / AUTOSAVE).unlink()
                    collect_garbage(old)

    def write_autosave(self, force: bool = False) -> bool:
        """Write the autosave state if anything changed since the last save/autosave."""
        with self._lock:
            self._refuse_if_read_only()
            key = self._state_key()
            if not force and (key == self._autosaved or key == self._saved):
                return False
            self._write(AUTOSAVE)
            return True

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ProjectError(
                f"{self.path} is open read-only and is never written to: save this work into "
                "another folder (Save project as…).",
                self.path,
            )

    def _write(
        self, manifest_name: str, rotate_backup: bool = True, replace_changed: bool | tuple[Any, ...] = False
    ) -> None:
        with self._lock:
            self._refuse_if_read_only()
            if manifest_name == MANIFEST and replace_changed is not True:
                self.check_unchanged_on_disk(replace_changed or None)
            key = self._state_key()
            content = self.store.content_version  # before the snapshot: an edit in between shows as unsaved
            snap = self.store.snapshot()
            payload = json_bytes_in_pieces(snap.to_json())  # the autosaver's thread: not in one GIL hold
            rel = f"{DATA_DIR}/store-{time.time_ns():x}-{secrets.token_hex(3)}.json"
            step = f"its {DATA_DIR} folder"
            try:
                (self.path / DATA_DIR).mkdir(parents=True, exist_ok=True)
                (self.path / ADAPTERS_DIR).mkdir(exist_ok=True)
                step = rel
                atomic_write_bytes(self.path / rel, payload)
                step = manifest_name
                self._sequence += 1
                manifest = {
                    "schema_version": SCHEMA_VERSION,
                    "app_version": __version__,
                    "kind": "autosave" if manifest_name == AUTOSAVE else "save",
                    "saved_at": _now(),
                    "sequence": self._sequence,
                    "video": None if self.video is None else self._video_json(),
                    "settings": self.settings,
                    "ui_state": asdict(self.ui_state),
                    "extras": self.extras,
                    "store": {
                        "file": rel,
                        "bytes": len(payload),
                        "sha256": hashlib.sha256(payload).hexdigest(),
                        "revision": snap.revision,
                    },
                }
                data = json_bytes(manifest, indent=1)
                target = self.path / manifest_name
                if manifest_name == MANIFEST and rotate_backup and target.exists():
                    self._rotate_backup(json.loads(data))
                atomic_write_bytes(target, data)
            except BaseException as exc:
                # unless the manifest was written after all, nothing names this attempt's store file:
                # leave no orphan behind to fill a nearly full disk on every retry
                if store_file_of(self.path, manifest_name) != rel:
                    with contextlib.suppress(OSError):
                        (self.path / rel).unlink()
                if isinstance(exc, OSError):
                    raise ProjectError(
                        f"Could not save the project {self.path}: writing {step} failed "
                        f"({exc.strerror or exc}); what was saved before is unchanged.",
                        self.path,
                    ) from exc
                raise
            if manifest_name == AUTOSAVE:
                self._autosave_on_disk = manifest_identity(manifest)
            if manifest_name == MANIFEST:
                self._on_disk = manifest_identity(manifest)
                self._saved = (snap.revision, key[1])
                self._saved_content = (content, key[1])
            self._autosaved = (snap.revision, key[1])
            collect_garbage(self.path)

    def check_unchanged_on_disk(self, agreed: tuple[Any, ...] | None = None) -> None:
        """:class:`ProjectChangedOnDisk` unless the project.json on disk is the one this object last
        read or wrote, or the one the user ``agreed`` to replace (or there is none); a save checks it
        itself, this lets a caller ask first."""
        now = identity_on_disk(self.path)
        if now is None or now == self._on_disk or now == agreed:
            return
        when = readable_time(now[1]) if now != ("unreadable",) else "an unknown time"
        since = (
            "since this window read it" if self._on_disk is not None else "while this window had it unsaved"
        )
        raise ProjectChangedOnDisk(
            f"The project {self.path} was saved by another program or window ({when}) {since}; "
            "saving here would replace that save.",
            self.path,
            now,
        )

    def _rotate_backup(self, new: dict[str, Any]) -> None:
        """Keep the current save as the backup, unless it is damaged or holds what ``new`` holds
        (then replacing the backup would throw an older good state away for nothing)."""
        with contextlib.suppress(ProjectError, OSError):
            current = read_manifest(self.path, MANIFEST, check_store=True)  # back up only a good save
            if saved_content(current) == saved_content(new) and is_good_manifest(self.path, BACKUP):
                return
            atomic_write_bytes(self.path / BACKUP, read_regular_file(self.path / MANIFEST))

    def _video_json(self) -> dict[str, Any]:
        assert self.video is not None
        fp = self.video.fingerprint
        return {"path": self.video.path, "absolute": self.video.absolute, "fingerprint": fp and fp.to_json()}

    def discard_autosave(self) -> None:
        """Forget the autosave (e.g. the user chose not to recover it); never in a read-only project."""
        if self.read_only:
            return
        with self._lock, contextlib.suppress(FileNotFoundError):
            (self.path / AUTOSAVE).unlink()
            collect_garbage(self.path)
