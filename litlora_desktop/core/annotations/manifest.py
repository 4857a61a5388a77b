"""The project folder's layout and its manifests: reading one back, validated and migrated.

Layout of ``<name>.litlora/``::

    project.json          manifest of the explicit save (schema_version, video, settings, UI state)
    project.backup.json   the previous good manifest (a save never destroys the one before it);
                          only an explicit save that holds new data replaces it, never an automatic one
    autosave.json         manifest written by the autosaver, separate from the explicit save
    data/store-<id>.json  the annotation store (RLE masks, objects, undo history), one per state
    adapters/             reserved for LIT-LoRA adapters (the engine writes there)

Each manifest records the store file's size and SHA-256, so a file damaged some other way is
detected and reported rather than half-loaded: every way a manifest or the store it names can be
damaged becomes a :class:`ProjectError` whose message says which file and what is wrong.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from litlora_desktop.core.annotations.manifest_schema import check_manifest
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.files import read_regular_file

SCHEMA_VERSION = 1
PROJECT_SUFFIX = ".litlora"
MANIFEST = "project.json"
BACKUP = "project.backup.json"
AUTOSAVE = "autosave.json"
DATA_DIR = "data"
ADAPTERS_DIR = "adapters"
MANIFESTS = {"saved": MANIFEST, "backup": BACKUP, "autosave": AUTOSAVE}
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


class ProjectChangedOnDisk(ProjectError):
    """A save would replace a project that another program or window saved since this one read it
    (or, for a project this one never read, saved at all). ``found`` identifies that save:
    ``Project.save(replace_changed=exc.found)`` replaces it, and only it, when the user says so."""

    is_question = True  # the app asks the user what to do: not logged as a failure

    def __init__(self, message: str, path: Path, found: tuple[Any, ...]) -> None:
        super().__init__(message, path)
        self.found = found


def manifest_identity(m: Any) -> tuple[Any, ...]:
    """What tells one save's manifest from another's: its sequence, time and store checksum."""
    store = m.get("store") if isinstance(m, dict) else None
    if not isinstance(store, dict):
        return ("unreadable",)
    return (m.get("sequence"), m.get("saved_at"), store.get("sha256"))


def identity_on_disk(folder: Path, name: str = MANIFEST) -> tuple[Any, ...] | None:
    """The ``manifest_identity`` of a manifest on disk now (None: there is none)."""
    try:
        return manifest_identity(json.loads(read_regular_file(folder / name)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return ("unreadable",)


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


def saved_content(m: dict[str, Any]) -> tuple[Any, ...]:
    """What a manifest saves, without when or where the user was looking."""
    return (m["store"]["sha256"], m.get("video"), m.get("settings"), m.get("extras"))


def store_file_of(folder: Path, fname: str) -> str | None:
    """The store file a manifest names, or None when it cannot be read."""
    try:
        return json.loads(read_regular_file(folder / fname))["store"]["file"]
    except Exception:
        return None


def is_good_manifest(folder: Path, fname: str) -> bool:
    """True when the manifest and the store file it names both read back intact."""
    try:
        read_manifest(folder, fname, check_store=True)
    except ProjectError:
        return False
    return True


def all_sequences(folder: Path) -> list[int]:
    """The save sequence numbers of the folder's readable manifests (and 0), so a new save numbers past them."""
    seqs = [0]
    for fname in MANIFESTS.values():
        with contextlib.suppress(Exception):
            seqs.append(int(json.loads(read_regular_file(folder / fname))["sequence"]))
    return seqs


def read_manifest(folder: Path, fname: str, check_store: bool = False) -> dict[str, Any]:
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
    except (
        json.JSONDecodeError
    ) as exc:  # the parser's own words ("Expecting ',' delimiter") say nothing to a user
        raise ProjectError(
            f"The project file {p} is corrupt or truncated (unreadable from line {exc.lineno}).", folder
        ) from exc
    except UnicodeDecodeError as exc:
        raise ProjectError(f"The project file {p} is corrupt (it is not text).", folder) from exc
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
        check_manifest(m)
    except ValueError as exc:
        raise ProjectError(f"The project file {p} is invalid: {exc}.", folder) from None
    if check_store:
        _read_store_bytes(folder, m)
    return m


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


def read_store(folder: Path, m: dict[str, Any]) -> AnnotationStore:
    """The annotation store manifest ``m`` names, checked against its size and SHA-256."""
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


def readable_time(saved_at: str | None, now: _dt.datetime | None = None) -> str:
    """A manifest's ``saved_at`` (UTC, ISO 8601) as a person reads it, in the local time zone:
    "today at 14:03", "yesterday at 09:12", "3 March 2026 at 17:45"; the raw text when it is not
    a time (an old or hand-edited file), "an unknown time" when there is none."""
    if not saved_at:
        return "an unknown time"
    try:
        when = _dt.datetime.fromisoformat(saved_at)
    except (TypeError, ValueError):
        return str(saved_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    when = when.astimezone()  # the local zone
    today = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone().date()
    clock = f"{when.hour:02d}:{when.minute:02d}"
    if when.date() == today:
        return f"today at {clock}"
    if when.date() == today - _dt.timedelta(days=1):
        return f"yesterday at {clock}"
    return f"{when.day} {when.strftime('%B')} {when.year} at {clock}"


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
    """What can be opened in a project folder; the GUI uses it to offer recovery.

    It also keeps each state it read, so that opening one right after probing does not read and
    check a long project's store a second time (that is seconds of CPU for 10,000 frames).
    """

    path: Path
    states: dict[str, StateInfo] = field(default_factory=dict)
    _read: dict[str, tuple[bytes, dict[str, Any], AnnotationStore]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def autosave_is_newer(self) -> bool:
        """True when the autosave holds work done after the last explicit save."""
        a, s = self.states.get("autosave"), self.states.get("saved")
        return bool(a and a.ok and (s is None or not s.ok or a.sequence > s.sequence))

    def take(self, name: str) -> tuple[dict[str, Any], AnnotationStore] | None:
        """The manifest and store of state ``name`` as probed, handed out once, or None when the
        manifest changed on disk since (another writer saved): the caller then reads it afresh.
        The manifest names its store file with a SHA-256, so the same manifest bytes mean the
        same store."""
        kept = self._read.pop(name, None)
        if kept is None:
            return None
        raw, manifest, store = kept
        try:
            same = read_regular_file(self.path / MANIFESTS[name]) == raw
        except OSError:
            same = False
        return (manifest, store) if same else None

    def release(self) -> None:
        """Let go of every state still kept (a project was opened: the others are not needed; until
        then a failed open can still fall back to another state without reading it again)."""
        self._read.clear()


def probe_folder(folder: Path) -> ProjectProbe:
    """Try every saved state of the project in ``folder``, keeping what it read for one open."""
    probe = ProjectProbe(folder)
    for name, fname in MANIFESTS.items():
        exists = (folder / fname).exists()
        raw = None
        with contextlib.suppress(OSError):  # read_manifest below says what is wrong
            raw = read_regular_file(folder / fname)  # before parsing: take() compares against it
        try:
            manifest = read_manifest(folder, fname)
            store = read_store(folder, manifest)
            if raw is not None:
                probe._read[name] = (raw, manifest, store)
            probe.states[name] = StateInfo(
                name, True, True, None, manifest.get("saved_at"), manifest["sequence"]
            )
        except ProjectError as exc:
            probe.states[name] = StateInfo(name, exists, False, str(exc))
    return probe


def collect_garbage(folder: Path) -> None:
    """Delete store files no manifest names, and temp files of writers that were killed."""
    keep = set()
    for fname in MANIFESTS.values():
        with contextlib.suppress(Exception):
            keep.add(json.loads(read_regular_file(folder / fname))["store"]["file"])
    for p in list((folder / DATA_DIR).iterdir()) + list(folder.iterdir()):
        rel = f"{DATA_DIR}/{p.name}"
        stale_tmp = p.name.startswith(".") and ".tmp-" in p.name
        if stale_tmp or (p.parent.name == DATA_DIR and p.name.startswith("store-") and rel not in keep):
            with contextlib.suppress(OSError):
                p.unlink()
