"""The project folder: everything the user did, saved so that it is never lost.

Layout of ``<name>.litlora/``::

    project.json          manifest of the explicit save (schema_version, video, settings, UI state)
    project.backup.json   the previous good manifest (a save never destroys the one before it);
                          only an explicit save that holds new data replaces it, never an automatic one
    autosave.json         manifest written by the autosaver, separate from the explicit save
    data/store-<id>.json  the annotation store (RLE masks, objects, undo history), one per state
    adapters/             reserved for LIT-LoRA adapters (the engine writes there)

Crash safety comes from never overwriting data in place: a save writes a *new* store file, then
atomically replaces the small manifest that names it (temp file in the same folder, fsync,
``os.replace``), and only then deletes store files that no manifest names any more. A process
killed at any instant leaves either the old manifest with its old store file or the new manifest
with its new store file. Each manifest records the store file's size and SHA-256, so a file
damaged some other way is detected and reported rather than half-loaded.

Only one process should write a project at a time; within a process a lock serializes the
autosaver thread and explicit saves.

A project opened ``read_only`` (the GUI does this when its video no longer fits the masks) never
writes into its folder: save, autosave and garbage collection raise or do nothing there, and only
:meth:`Project.save_as` into another folder saves its work (the project then lives there).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import reprlib
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from litlora_desktop import __version__
from litlora_desktop.core.annotations.store import MAX_MASK_SIDE, AnnotationStore
from litlora_desktop.core.files import read_regular_file
from litlora_desktop.core.video.sources import FrameSource

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PROJECT_SUFFIX = ".litlora"
MANIFEST = "project.json"
BACKUP = "project.backup.json"
AUTOSAVE = "autosave.json"
DATA_DIR = "data"
ADAPTERS_DIR = "adapters"
_MANIFESTS = {"saved": MANIFEST, "backup": BACKUP, "autosave": AUTOSAVE}
StateName = Literal["saved", "autosave", "backup"]

# MIGRATIONS[v] turns a schema-v manifest (a dict) into a schema-(v+1) one. Old projects must keep
# opening forever: add a function here whenever SCHEMA_VERSION goes up, never edit an old one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class ProjectError(Exception):
    """A project cannot be opened or saved; the message is meant for the user.

    ``recovery`` names other states of the same project that do open (``"autosave"``,
    ``"backup"``), so the GUI can offer them.
    """

    def __init__(self, message: str, path: Path | None = None, recovery: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.recovery = recovery


# --------------------------------------------------------------------------- atomic files
def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; directories cannot be opened this way on Windows, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _json_bytes(obj: Any, indent: int | None = None) -> bytes:
    seps = (",", ":") if indent is None else (",", ": ")
    return json.dumps(obj, indent=indent, separators=seps, ensure_ascii=False).encode("utf-8")


_PIECE = 256  # items encoded per call of the C encoder, which holds the GIL for the whole call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _big(v: Any, depth: int = 2) -> bool:
    """A container too big to encode in one C call (or one holding such a container)."""
    if isinstance(v, dict):
        children: Any = v.values()
    elif isinstance(v, list):
        children = v
    else:
        return False
    return len(v) > _PIECE or (depth > 0 and any(_big(c, depth - 1) for c in children))


def _encode_in_pieces(obj: Any, out: list[str]) -> None:
    """Append the compact JSON text of ``obj`` to ``out``, at most ``_PIECE`` items per C call, and
    let other threads run between calls (the GUI thread must not wait on an autosave's encoding)."""
    is_dict = isinstance(obj, dict)
    if not _big(obj) or (is_dict and not all(isinstance(k, str) for k in obj)):
        out.append(_ENCODER.encode(obj))
        return
    items = list(obj.items()) if is_dict else list(obj)
    out.append("{" if is_dict else "[")
    first, batch = True, []

    def flush() -> None:
        nonlocal first
        if batch:
            text = _ENCODER.encode(dict(batch) if is_dict else batch)[1:-1]
            out.append(text if first else "," + text)
            first = False
            batch.clear()
            time.sleep(0)  # give the GIL away between two pieces

    for item in items:
        value = item[1] if is_dict else item
        if _big(value):
            flush()
            out.append("" if first else ",")
            if is_dict:
                out.append(_ENCODER.encode(item[0]) + ":")
            _encode_in_pieces(value, out)
            first = False
            time.sleep(0)
        else:
            batch.append(item)
            if len(batch) >= _PIECE:
                flush()
    flush()
    out.append("}" if is_dict else "]")


def _json_bytes_in_pieces(obj: Any) -> bytes:
    """``_json_bytes(obj)``, byte for byte, without holding the GIL for more than a few ms at a time."""
    out: list[str] = []
    _encode_in_pieces(obj, out)
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- video identity
@dataclass(frozen=True)
class Fingerprint:
    """Enough about a video to notice that it moved or changed, without storing the video.

    ``frame_hashes`` are exact (SHA-256 of the decoded pixels); ``thumbnails`` (8×8, base64) let a
    different decoder build, which may round pixels differently, still be recognised.
    """

    file_size: int | None
    num_frames: int
    width: int
    height: int
    sample_frames: tuple[int, ...]
    frame_hashes: tuple[str, ...]
    thumbnails: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form for the manifest."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_json(cls, d: Any) -> Fingerprint:
        """Validate and build; ValueError when malformed."""
        try:
            fp = cls(
                None if d["file_size"] is None else int(d["file_size"]),
                int(d["num_frames"]),
                int(d["width"]),
                int(d["height"]),
                tuple(int(i) for i in d["sample_frames"]),
                tuple(str(h) for h in d["frame_hashes"]),
                tuple(str(t) for t in d["thumbnails"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad video fingerprint: {exc!r}") from exc
        if not len(fp.sample_frames) == len(fp.frame_hashes) == len(fp.thumbnails):
            raise ValueError("bad video fingerprint: sample lists differ in length")
        return fp


def _path_size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():  # an image-folder "video": total size of its files
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return None


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    import cv2  # imported here: only fingerprints need it, and it is slow to import

    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return cv2.resize(arr, (8, 8), interpolation=cv2.INTER_AREA)


def compute_fingerprint(
    source: FrameSource, video_path: str | os.PathLike | None = None, samples: int = 5
) -> Fingerprint:
    """Fingerprint a video from its size, frame count and a few evenly spaced frames' pixels."""
    n = int(source.num_frames)
    if n <= 0:
        raise ValueError("the video has no frames")
    idx = tuple(sorted(set(np.linspace(0, n - 1, min(samples, n)).round().astype(int).tolist())))
    hashes, thumbs = [], []
    for k in idx:
        frame = np.ascontiguousarray(source.frame(k))
        h = hashlib.sha256(repr((frame.shape, str(frame.dtype))).encode())
        h.update(frame.tobytes())
        hashes.append(h.hexdigest())
        thumbs.append(base64.b64encode(_thumbnail(frame).tobytes()).decode("ascii"))
    path = video_path if video_path is not None else getattr(source, "path", None)
    size = _path_size(Path(path)) if path is not None else None
    return Fingerprint(size, n, int(source.width), int(source.height), idx, tuple(hashes), tuple(thumbs))


@dataclass(frozen=True)
class FingerprintResult:
    """Outcome of :func:`check_video`: ``match``, ``moved`` (same content, other path) or ``changed``."""

    status: Literal["match", "moved", "changed"]
    message: str
    actual: Fingerprint


@dataclass
class VideoRef:
    """The project's video: path as stored (relative to the project folder when possible)."""

    path: str
    absolute: str
    fingerprint: Fingerprint | None = None


def check_video(
    project: Project, source: FrameSource, video_path: str | os.PathLike | None = None
) -> FingerprintResult:
    """Compare an opened video with the one the project was made on.

    ``video_path`` defaults to ``source.path``. "changed" means the annotations may not fit the
    frames any more; "moved" means it is the same video at another path (relink and carry on).
    """
    path = video_path if video_path is not None else getattr(source, "path", None)
    actual = compute_fingerprint(source, path)
    ref = project.video
    if ref is None or ref.fingerprint is None:
        return FingerprintResult("match", "The project has no recorded video to compare with.", actual)
    exp = ref.fingerprint
    if (exp.num_frames, exp.width, exp.height) != (actual.num_frames, actual.width, actual.height):
        msg = (
            f"The video has changed: the project was made on {exp.num_frames} frames of "
            f"{exp.width}x{exp.height}, this one has {actual.num_frames} frames of "
            f"{actual.width}x{actual.height}."
        )
        return FingerprintResult("changed", msg, actual)
    if exp.frame_hashes != actual.frame_hashes and not _thumbs_close(exp, actual):
        return FingerprintResult(
            "changed", "The video has changed: its frames differ from the ones annotated.", actual
        )
    expected_path = project.resolve_video_path()
    if path is not None and (expected_path is None or not _same_path(Path(path), expected_path)):
        return FingerprintResult("moved", f"The video was moved: it is now at {path}.", actual)
    return FingerprintResult("match", "The video matches the project.", actual)


def _thumbs_close(a: Fingerprint, b: Fingerprint, tol: float = 6.0) -> bool:
    if a.sample_frames != b.sample_frames:
        return False
    for ta, tb in zip(a.thumbnails, b.thumbnails, strict=True):
        xa = np.frombuffer(base64.b64decode(ta), np.uint8).astype(np.int16)
        xb = np.frombuffer(base64.b64decode(tb), np.uint8).astype(np.int16)
        if xa.shape != xb.shape or np.abs(xa - xb).max() > tol:
            return False
    return True


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


# --------------------------------------------------------------------------- project
@dataclass
class UIState:
    """Where the user was, so that reopening resumes there."""

    frame: int = 0
    object_id: int | None = None
    zoom: float = 1.0
    center: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, d: Any) -> UIState:
        """Validate and build; ValueError names the bad field."""
        if not isinstance(d, Mapping):
            raise ValueError("ui_state must be a mapping")
        frame, obj, zoom, center = d.get("frame", 0), d.get("object_id"), d.get("zoom", 1.0), d.get("center")
        if not isinstance(frame, int) or frame < 0:
            raise ValueError(f"ui_state.frame must be a non-negative int, got {frame!r}")
        if obj is not None and not isinstance(obj, int):
            raise ValueError(f"ui_state.object_id must be an int or null, got {obj!r}")
        if not isinstance(zoom, (int, float)) or not zoom > 0:
            raise ValueError(f"ui_state.zoom must be a positive number, got {zoom!r}")
        if center is not None:
            center = (float(center[0]), float(center[1]))
        return cls(frame, obj, float(zoom), center)


@dataclass(frozen=True)
class StateInfo:
    """Whether one saved state (saved / autosave / backup) opens, and when it was written."""

    name: str
    exists: bool
    ok: bool
    error: str | None = None
    saved_at: str | None = None
    sequence: int = -1


@dataclass(frozen=True)
class ProjectProbe:
    """What can be opened in a project folder; the GUI uses it to offer recovery."""

    path: Path
    states: dict[str, StateInfo] = field(default_factory=dict)

    @property
    def autosave_is_newer(self) -> bool:
        """True when the autosave holds work done after the last explicit save."""
        a, s = self.states.get("autosave"), self.states.get("saved")
        return bool(a and a.ok and (s is None or not s.ok or a.sequence > s.sequence))


def default_project_path(video_path: str | os.PathLike) -> Path:
    """``clip.mp4`` -> ``clip.litlora`` next to it."""
    v = Path(video_path)
    return v.parent / (v.stem + PROJECT_SUFFIX)


def _project_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.parent if p.name in _MANIFESTS.values() else p


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
        self._meta_listeners: list[Callable[[], None]] = []

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
        proj.save()
        return proj

    @classmethod
    def open(cls, path: str | os.PathLike, which: StateName = "saved") -> Project:
        """Open the explicit save, the autosave or the backup; :class:`ProjectError` says what is wrong."""
        folder = _project_dir(path)
        if which not in _MANIFESTS:
            raise ValueError(f"which must be one of {sorted(_MANIFESTS)}")
        if not folder.is_dir():
            raise ProjectError(f"There is no project at {folder}.", folder)
        try:
            proj = cls._load(folder, which)
        except ProjectError as exc:
            probe = cls.probe(folder)
            others = tuple(n for n in ("autosave", "backup") if n != which and probe.states[n].ok)
            hint = ""
            if others:
                info = probe.states[others[0]]
                hint = f" The {others[0]} from {info.saved_at} can be opened instead."
            raise ProjectError(f"{exc}{hint}", folder, others) from exc
        return proj

    @classmethod
    def probe(cls, path: str | os.PathLike) -> ProjectProbe:
        """Try every saved state without keeping it; cheap enough to call before opening."""
        folder = _project_dir(path)
        states = {}
        for name, fname in _MANIFESTS.items():
            exists = (folder / fname).exists()
            try:
                manifest = _read_manifest(folder, fname)
                _read_store(folder, manifest)
                states[name] = StateInfo(
                    name, True, True, None, manifest.get("saved_at"), manifest["sequence"]
                )
            except ProjectError as exc:
                states[name] = StateInfo(name, exists, False, str(exc))
        return ProjectProbe(folder, states)

    @classmethod
    def _load(cls, folder: Path, which: str) -> Project:
        for attempt in range(5):
            m = _read_manifest(folder, _MANIFESTS[which])
            try:
                store = _read_store(folder, m)
                break
            except ProjectError:
                # a writer in another process may have replaced the manifest and collected the
                # store file it named between our two reads: read the new manifest and retry
                with contextlib.suppress(ProjectError):
                    if attempt < 4 and _read_manifest(folder, _MANIFESTS[which]) != m:
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
                f"The project file {folder / _MANIFESTS[which]} is invalid: {exc}", folder
            ) from exc
        proj = cls(folder, store, video, settings, ui, extras)
        proj.loaded_from = which
        proj._sequence = max(_all_sequences(folder))
        if video is not None and video.fingerprint is not None:
            store.num_frames = video.fingerprint.num_frames
        if which == "saved":
            proj._saved = (store.revision, 0)
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
        """True when something changed since the last explicit save."""
        return self._state_key() != self._saved

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
    def save(self, rotate_backup: bool = True) -> None:
        """Explicit save; the previous good save is kept as ``project.backup.json``.

        The backup is replaced only when the save it would keep holds other data than the new one
        (a repeated Ctrl+S keeps the older backup). ``rotate_backup=False`` (a save the user did
        not ask for, such as keeping the view on quitting) never touches the backup.
        """
        self._write(MANIFEST, rotate_backup=rotate_backup)

    def save_as(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Save to a new project folder (adapters are copied); this project then lives there."""
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
            if src_adapters.is_dir() and not self.read_only:  # a read-only one's are not this work's
                shutil.copytree(src_adapters, new / ADAPTERS_DIR, dirs_exist_ok=True)
            old, old_ro, old_video = self.path, self.read_only, self.video and self.video.path
            self.path, self.read_only = new, False
            if self.video is not None:
                self.video.path = self._stored_path(Path(self.video.absolute))
            try:
                self._sequence = max(self._sequence, *_all_sequences(new))
                self._write(MANIFEST)
            except BaseException:
                self.path, self.read_only = old, old_ro
                if self.video is not None and old_video is not None:
                    self.video.path = old_video
                raise

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

    def _write(self, manifest_name: str, rotate_backup: bool = True) -> None:
        with self._lock:
            self._refuse_if_read_only()
            key = self._state_key()
            snap = self.store.snapshot()
            payload = _json_bytes_in_pieces(snap.to_json())  # the autosaver's thread: not in one GIL hold
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
                data = _json_bytes(manifest, indent=1)
                target = self.path / manifest_name
                if manifest_name == MANIFEST and rotate_backup and target.exists():
                    self._rotate_backup(json.loads(data))
                atomic_write_bytes(target, data)
            except BaseException as exc:
                # unless the manifest was written after all, nothing names this attempt's store file:
                # leave no orphan behind to fill a nearly full disk on every retry
                if _store_file_of(self.path, manifest_name) != rel:
                    with contextlib.suppress(OSError):
                        (self.path / rel).unlink()
                if isinstance(exc, OSError):
                    raise ProjectError(
                        f"Could not save the project {self.path}: writing {step} failed "
                        f"({exc.strerror or exc}); what was saved before is unchanged.",
                        self.path,
                    ) from exc
                raise
            if manifest_name == MANIFEST:
                self._saved = (snap.revision, key[1])
            self._autosaved = (snap.revision, key[1])
            self._collect_garbage()

    def _rotate_backup(self, new: dict[str, Any]) -> None:
        """Keep the current save as the backup, unless it is damaged or holds what ``new`` holds
        (then replacing the backup would throw an older good state away for nothing)."""
        with contextlib.suppress(ProjectError, OSError):
            current = _read_manifest(self.path, MANIFEST, check_store=True)  # back up only a good save
            if _content(current) == _content(new) and _is_good(self.path, BACKUP):
                return
            atomic_write_bytes(self.path / BACKUP, read_regular_file(self.path / MANIFEST))

    def _video_json(self) -> dict[str, Any]:
        assert self.video is not None
        fp = self.video.fingerprint
        return {"path": self.video.path, "absolute": self.video.absolute, "fingerprint": fp and fp.to_json()}

    def _collect_garbage(self) -> None:
        """Delete store files no manifest names, and temp files of writers that were killed."""
        keep = set()
        for fname in _MANIFESTS.values():
            with contextlib.suppress(Exception):
                keep.add(json.loads(read_regular_file(self.path / fname))["store"]["file"])
        for p in list((self.path / DATA_DIR).iterdir()) + list(self.path.iterdir()):
            rel = f"{DATA_DIR}/{p.name}"
            stale_tmp = p.name.startswith(".") and ".tmp-" in p.name
            if stale_tmp or (p.parent.name == DATA_DIR and p.name.startswith("store-") and rel not in keep):
                with contextlib.suppress(OSError):
                    p.unlink()

    def discard_autosave(self) -> None:
        """Forget the autosave (e.g. the user chose not to recover it); never in a read-only project."""
        if self.read_only:
            return
        with self._lock, contextlib.suppress(FileNotFoundError):
            (self.path / AUTOSAVE).unlink()
            self._collect_garbage()


def _content(m: dict[str, Any]) -> tuple[Any, ...]:
    """What a manifest saves, without when or where the user was looking."""
    return (m["store"]["sha256"], m.get("video"), m.get("settings"), m.get("extras"))


def _store_file_of(folder: Path, fname: str) -> str | None:
    """The store file a manifest names, or None when it cannot be read."""
    try:
        return json.loads(read_regular_file(folder / fname))["store"]["file"]
    except Exception:
        return None


def _is_good(folder: Path, fname: str) -> bool:
    try:
        _read_manifest(folder, fname, check_store=True)
    except ProjectError:
        return False
    return True


def _all_sequences(folder: Path) -> list[int]:
    seqs = [0]
    for fname in _MANIFESTS.values():
        with contextlib.suppress(Exception):
            seqs.append(int(json.loads(read_regular_file(folder / fname))["sequence"]))
    return seqs


def _read_manifest(folder: Path, fname: str, check_store: bool = False) -> dict[str, Any]:
    """Read, validate and migrate one manifest; every failure becomes a clear ProjectError."""
    p = folder / fname
    try:
        raw = read_regular_file(p)
    except FileNotFoundError:
        raise ProjectError(f"{p} does not exist.", folder) from None
    except OSError as exc:
        raise ProjectError(f"{p} cannot be read: {exc.strerror or exc}.", folder) from exc
    if not raw.strip():
        raise ProjectError(f"The project file {p} is empty (truncated).", folder)
    try:
        m = json.loads(raw)
    except RecursionError:
        raise ProjectError(
            f"The project file {p} is damaged: its data is nested far too deeply to be a project file.",
            folder,
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"The project file {p} is corrupt or truncated ({exc}).", folder) from exc
    if not isinstance(m, dict) or not isinstance(m.get("schema_version"), int):
        raise ProjectError(f"{p} is not a LIT-LoRA project file (no schema_version).", folder)
    version = m["schema_version"]
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{p} was saved by a newer LIT-LoRA Desktop (project schema {version}); this version reads "
            f"schema {SCHEMA_VERSION} and older. Update the application to open it.",
            folder,
        )
    while m["schema_version"] < SCHEMA_VERSION:
        v = m["schema_version"]
        if v not in MIGRATIONS:
            raise ProjectError(f"{p} uses project schema {v}, which this version cannot upgrade.", folder)
        m = MIGRATIONS[v](dict(m))
        if m.get("schema_version") != v + 1:
            raise AssertionError(f"migration from schema {v} must produce schema {v + 1}")
    store = m.get("store")
    if (
        not isinstance(store, dict)
        or not isinstance(store.get("file"), str)
        or not isinstance(store.get("sha256"), str)
    ):
        raise ProjectError(f"The project file {p} is invalid: it does not name its annotation data.", folder)
    try:
        _check_manifest(m)
    except ValueError as exc:
        raise ProjectError(f"The project file {p} is invalid: {exc}.", folder) from None
    if check_store:
        _read_store_bytes(folder, m)
    return m


# --------------------------------------------------------------------------- manifest schema
_SHA256 = re.compile(r"[0-9a-f]{64}")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40
_short.maxlist = _short.maxdict = 4
_brief = _short.repr  # a field's value, cut short, for a message
_MAX_FRAMES = 2**31 - 1


def _whole(v: Any, where: str, low: int = 0, high: int = 2**53) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high}, not {_brief(v)}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{where} must be text, not {_brief(v)}")
    return v


def _mapping(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"{where} must be an object (a mapping), not {_brief(v)}")
    return v


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where} must be a finite number, not {_brief(v)}")
    return float(v)


def _check_manifest(m: dict[str, Any]) -> None:
    """Every field a manifest may hold, with its type and range; ValueError names the first bad one.

    What the other parts of the app keep in ``settings`` and ``extras`` is theirs to check: here
    those only have to be mappings.
    """
    _whole(m.get("sequence"), "sequence")
    for key in ("saved_at", "app_version", "kind"):
        if key in m:
            _text(m[key], key)
    store = m["store"]
    if not _SHA256.fullmatch(store["sha256"]):
        raise ValueError("store.sha256 must be 64 hexadecimal digits")
    if "bytes" in store:
        _whole(store["bytes"], "store.bytes")
    if "revision" in store:
        _whole(store["revision"], "store.revision")
    for key in ("settings", "extras"):
        if m.get(key) is not None:
            _mapping(m[key], key)
    if m.get("ui_state") is not None:
        ui = _mapping(m["ui_state"], "ui_state")
        _whole(ui.get("frame", 0), "ui_state.frame", 0, _MAX_FRAMES)
        if ui.get("object_id") is not None:
            _whole(ui["object_id"], "ui_state.object_id", 0, _MAX_FRAMES)
        if _number(ui.get("zoom", 1.0), "ui_state.zoom") <= 0:
            raise ValueError(f"ui_state.zoom must be positive, not {_brief(ui['zoom'])}")
        center = ui.get("center")
        if center is not None:
            if not isinstance(center, list) or len(center) != 2:
                raise ValueError(f"ui_state.center must be a pair of numbers or null, not {_brief(center)}")
            for v in center:
                _number(v, "ui_state.center")
    if m.get("video") is not None:
        _check_video_ref(_mapping(m["video"], "video"))


def _check_video_ref(v: dict[str, Any]) -> None:
    _text(v.get("path"), "video.path")
    _text(v.get("absolute"), "video.absolute")
    if v.get("fingerprint") is None:
        return
    fp = _mapping(v["fingerprint"], "video.fingerprint")
    where = "video.fingerprint."
    if fp.get("file_size") is not None:
        _whole(fp["file_size"], where + "file_size")
    n = _whole(fp.get("num_frames"), where + "num_frames", 1, _MAX_FRAMES)
    _whole(fp.get("width"), where + "width", 1, MAX_MASK_SIDE)
    _whole(fp.get("height"), where + "height", 1, MAX_MASK_SIDE)
    lists = {k: fp.get(k) for k in ("sample_frames", "frame_hashes", "thumbnails")}
    for k, items in lists.items():
        if not isinstance(items, list):
            raise ValueError(f"{where}{k} must be a list, not {_brief(items)}")
    if not len(lists["sample_frames"]) == len(lists["frame_hashes"]) == len(lists["thumbnails"]):
        raise ValueError(f"{where}sample_frames, frame_hashes and thumbnails must have the same length")
    for i in lists["sample_frames"]:
        _whole(i, where + "sample_frames", 0, n - 1)
    for h in lists["frame_hashes"]:
        if not isinstance(h, str) or not _SHA256.fullmatch(h):
            raise ValueError(f"{where}frame_hashes must hold SHA-256 digests, not {_brief(h)}")
    for t in lists["thumbnails"]:
        try:
            base64.b64decode(_text(t, where + "thumbnails"), validate=True)
        except binascii.Error:
            raise ValueError(f"{where}thumbnails must hold base64 text, not {_brief(t)}") from None


def _read_store_bytes(folder: Path, m: dict[str, Any]) -> bytes:
    rel = m["store"]["file"]
    p = (folder / rel).resolve()
    if folder.resolve() not in p.parents:
        raise ProjectError(f"The project file names annotation data outside the project: {rel}", folder)
    try:
        raw = read_regular_file(p)
    except FileNotFoundError:
        raise ProjectError(f"The annotation data {p} is missing.", folder) from None
    except OSError as exc:
        raise ProjectError(f"The annotation data {p} cannot be read: {exc.strerror or exc}.", folder) from exc
    if (
        len(raw) != m["store"].get("bytes", len(raw))
        or hashlib.sha256(raw).hexdigest() != m["store"]["sha256"]
    ):
        raise ProjectError(
            f"The annotation data {p} is truncated or corrupt ({len(raw)} bytes, checksum mismatch).", folder
        )
    return raw


def _read_store(folder: Path, m: dict[str, Any]) -> AnnotationStore:
    raw = _read_store_bytes(folder, m)
    num_frames = None
    with contextlib.suppress(Exception):
        num_frames = int(m["video"]["fingerprint"]["num_frames"])
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ProjectError(
            f"The annotation data in {folder} is damaged: it is nested far too deeply to be annotations.",
            folder,
        ) from None
    except ValueError as exc:
        raise ProjectError(
            f"The annotation data in {folder} is damaged: it is not valid JSON ({exc}).", folder
        ) from None
    try:
        return AnnotationStore.from_json(data, num_frames=num_frames)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ProjectError(f"The annotation data in {folder} is invalid: {exc}", folder) from exc


# --------------------------------------------------------------------------- autosave
class Autosaver:
    """Saves a few seconds after the last change, on a background thread; no Qt.

    Debounced: a burst of edits (propagation over 500 frames) causes one save ``delay`` seconds
    after it ends, but never later than ``max_delay`` after the first unsaved change, so work is
    on disk within seconds even while edits keep coming. A failing save is reported through
    ``on_error`` and retried after ``max_delay``.
    """

    def __init__(
        self,
        save: Callable[[], object],
        delay: float = 2.0,
        max_delay: float = 10.0,
        on_error: Callable[[BaseException], None] | None = None,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        self._save = save
        self.delay, self.max_delay = delay, max_delay
        self._on_error, self._on_saved = on_error, on_saved
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()
        self._first_change: float | None = None
        self._last_change = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._detach: Callable[[], None] | None = None

    @classmethod
    def for_project(cls, project: Project, **kwargs: Any) -> Autosaver:
        """An autosaver writing ``project``'s autosave, notified by every store and UI-state change."""
        saver = cls(project.write_autosave, **kwargs)
        detach_store = project.store.add_listener(lambda _change: saver.notify_changed())
        project._meta_listeners.append(saver.notify_changed)

        def detach() -> None:
            detach_store()
            with contextlib.suppress(ValueError):
                project._meta_listeners.remove(saver.notify_changed)

        saver._detach = detach
        return saver

    def notify_changed(self) -> None:
        """Something changed: schedule a save (cheap; call it as often as you like)."""
        with self._cond:
            if self._stopping:
                return
            now = time.monotonic()
            self._last_change = now
            if self._first_change is None:
                self._first_change = now
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="litlora-autosave", daemon=True)
                self._thread.start()
            self._cond.notify()

    @property
    def pending(self) -> bool:
        """True while a change waits to be saved."""
        return self._first_change is not None

    def flush(self) -> None:
        """Save now, in the caller's thread, if a change is pending (e.g. before quitting)."""
        with self._cond:
            pending, self._first_change = self._first_change is not None, None
        if pending:
            self._do_save()

    def stop(self, flush: bool = True) -> None:
        """Stop the thread; by default write what is pending first."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._detach is not None:
            self._detach()
        if flush:
            self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._first_change is None:
                    self._cond.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                due = min(self._last_change + self.delay, self._first_change + self.max_delay)
                if now < due:
                    self._cond.wait(due - now)
                    continue
                self._first_change = None
            self._do_save()

    def _do_save(self) -> None:
        with self._save_lock:
            try:
                self._save()
            except Exception as exc:
                log.exception("autosave failed")
                with self._cond:  # retry later rather than give up on the user's work
                    if self._first_change is None:
                        self._first_change = time.monotonic()
                        self._last_change = self._first_change + self.max_delay - self.delay
                if self._on_error is not None:
                    self._on_error(exc)
                return
        if self._on_saved is not None:
            self._on_saved()
