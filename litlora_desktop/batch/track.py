"""Tracking one video headless: its first masks in, a project folder (and an export) out.

The app's own model-side object (``EngineState``) does the tracking, so a batch run gives the masks
the app would: the same prompts (every mask that did not come from SAM2 is a mask prompt, as when
the app reopens a project), the same tracker settings, the same LIT-LoRA auto-apply. What differs is
only who drives it: a loop here instead of the model thread, frame after frame forward from each
object's first prompt, then backward from it to the first frame.

Where the first masks come from, per video (``first_masks``):
  * ``--masks PATH``: a DAVIS palette-PNG folder, a COCO JSON or a CVAT XML, imported as the app's
    File ▸ Import does. PATH may hold one entry per video, named after it (``PATH/<video>/``,
    ``PATH/<video>.json``, ``PATH/<video>.xml``), or, with a single video, be the annotation itself.
  * otherwise the video's own project (``clip.litlora`` beside ``clip.mp4``, or ``--project``): its
    objects and every mask the annotator made there. It is read, never written.

The tracking (``track_video``, which may run on a Ray worker) writes nothing: it hands back the
store and the adapters' files, and the driver writes them (``save_tracked``), so a cluster's
outputs land where the command was run. The output project is new: an existing one is refused
unless ``overwrite``, and even then never the project the first masks come from; a replaced project
is swapped in whole (written beside it first), so no autosave or adapter of the old one survives
into the new one, and a failure leaves the old one as it was.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litlora_desktop.batch.inputs import TrackError, first_masks, output_folder
from litlora_desktop.core.annotations.formats import (
    ExportError,
    check_not_protected,
    export,
    format_named,
    import_annotations,
)
from litlora_desktop.core.annotations.manifest import AUTOSAVE, MANIFEST, ProjectError, readable_time
from litlora_desktop.core.annotations.open_marker import opened_elsewhere
from litlora_desktop.core.annotations.project import Project, default_project_path
from litlora_desktop.core.annotations.records import MaskRecord, adapter_provenance
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.annotations.video_identity import check_video
from litlora_desktop.core.video.sources import VideoSource

if TYPE_CHECKING:  # torch: imported where a video is tracked, never by a --ray driver that only writes
    from litlora_desktop.workers.engine_state import EngineState
    from litlora_desktop.workers.outcomes import TrackOutcome

__all__ = [
    "TrackError",
    "TrackJob",
    "TrackReport",
    "Tracked",
    "check_outputs",
    "first_masks",
    "output_folder",
    "run_job",
    "save_tracked",
    "track_video",
]

DEFAULT_AUTO_APPLY = 0.9  # with --adapters and no --auto-apply


@dataclass(frozen=True)
class TrackJob:
    """One video and where its first masks, adapters and outputs are."""

    video: Path
    out: Path  # the project folder to write
    masks: Path | None = None  # an annotation file or folder to import, else ``project``
    project: Path | None = None  # a project of this video whose masks are the prompts
    adapters: Path | None = None  # a project (or adapters folder) whose LIT-LoRA adapters auto-apply
    auto_apply: float | None = None  # candidate confidence above which it replaces SAM2's mask; None: off
    export_format: str | None = None
    export_to: Path | None = None
    overwrite: bool = False


@dataclass
class TrackReport:
    """What a job did (picklable: it comes back from a worker process or a Ray task)."""

    video: str
    out: str
    frames: int = 0
    objects: int = 0
    prompts: int = 0
    tracked: int = 0  # masks written by SAM2
    applied: int = 0  # masks an adapter's candidate replaced
    seconds: float = 0.0
    exported: str | None = None
    export_error: str | None = None  # the project is written; only its export failed
    adapters_used: int = 0  # objects given --adapters' (or the project's) adapters
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Tracked:
    """What tracking one video gives back (picklable: from a worker process or a Ray task)."""

    report: TrackReport
    store: dict[str, Any] | None = None  # AnnotationStore.to_json()
    adapters: dict[str, bytes] = field(default_factory=dict)  # the adapters folder's files


def run_job(job: TrackJob, loaded: Any, on_frame: Any = None) -> TrackReport:
    """Track one video and write its project and export (in this process)."""
    return save_tracked(job, track_video(job, loaded, on_frame))


def track_video(job: TrackJob, loaded: Any, on_frame: Any = None) -> Tracked:
    """Track one video with an already loaded model; writes nothing. Every failure is the report's
    ``error`` (a run over hundreds of videos reports one, it does not stop on it)."""
    tracked = Tracked(TrackReport(str(job.video), str(job.out)))
    t0 = time.perf_counter()
    try:  # the outputs are the driver's to check (check_outputs): a Ray worker may not see them
        _track(job, loaded, tracked, on_frame)
    except TrackError as exc:
        tracked.report.error = str(exc)
    except Exception as exc:
        tracked.report.error = f"{exc.__class__.__name__}: {exc}"
    tracked.report.seconds = time.perf_counter() - t0
    return tracked


def check_outputs(job: TrackJob) -> None:
    """Refuse outputs that would replace the user's work: an existing project or export without
    ``overwrite``, and ever the project the first masks come from, the video, or the project's own
    folder as the export. Checked before tracking (minutes) and again before writing."""
    source_project = job.project if job.project is not None else default_project_path(job.video)
    if job.masks is None and _same_folder(job.out, source_project):
        raise TrackError(f"{job.out} is the project the first masks are read from: choose another --out")
    if (job.out / "project.json").exists():
        if not job.overwrite:
            raise TrackError(f"{job.out} already holds a project: pass --overwrite to replace it")
        _check_replaceable(job.out)
    if job.export_to is not None:
        try:
            check_not_protected(job.export_to, [job.out, source_project, job.video])
        except ExportError as exc:
            raise TrackError(str(exc)) from None
        if job.export_to.exists() and not job.overwrite:
            raise TrackError(f"{job.export_to} exists: pass --overwrite to replace it")


TRACKED_MARK = "tracked.json"  # beside project.json: what track wrote, to tell later edits from it


def _check_replaceable(folder: Path) -> None:
    """``--overwrite`` re-runs a batch: it replaces a project track wrote and nobody changed since,
    never an annotator's corrections (saved, or unsaved in the autosave) nor a project made in the app."""
    try:
        mark = json.loads((folder / TRACKED_MARK).read_text())
    except (OSError, ValueError):
        mark = None
    if not isinstance(mark, dict):
        raise TrackError(
            f"{folder} is not one track wrote (no {TRACKED_MARK}: the app made it, or an older track): "
            "--overwrite will not replace it (move it away, or choose another --out)"
        )
    other = opened_elsewhere(folder)
    if other is not None:
        raise TrackError(
            f"{folder} is open in the app (on {other.host}, since {readable_time(other.since)}): --overwrite "
            "will not replace it under the annotator (close it there first)"
        )
    if (folder / AUTOSAVE).exists():
        raise TrackError(
            f"{folder} has unsaved work in its autosave since it was tracked: --overwrite will not replace "
            "it (open it in the app and save or discard that work, or move the project away)"
        )
    if mark.get("project_sha256") != _sha256(folder / MANIFEST):
        raise TrackError(
            f"{folder} was saved in the app since it was tracked: --overwrite will not replace that work "
            "(move the project away, or choose another --out)"
        )


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _track(job: TrackJob, loaded: Any, tracked: Tracked, on_frame: Any) -> None:
    from litlora_desktop.workers.engine_state import EngineState

    report = tracked.report
    try:
        source = VideoSource.open(job.video)
    except Exception as exc:  # VideoError says which file and why
        raise TrackError(str(exc)) from None
    state = EngineState()
    try:
        start = _prompt_store(job, source, report)
        store, adapters = start.store, start.adapters
        if adapters is not None:
            state.lora_settings.auto_apply = True
            threshold = DEFAULT_AUTO_APPLY if job.auto_apply is None else job.auto_apply
            state.lora_settings.auto_apply_threshold = float(threshold)
        state.set_model(loaded)
        state.set_source(source)
        if adapters is not None:
            _load_adapters(state, adapters, store, report, same_video=start.own)
        firsts = _give_prompts(state, store)
        report.frames, report.objects, report.prompts = source.num_frames, len(store.objects), len(firsts)
        if not firsts:
            raise TrackError("no object has a mask to start from")
        write = _writer(store, report, on_frame)
        first = min(firsts.values())  # every object joins on the frame after its prompt
        for f in range(first + 1, source.num_frames):
            write(state.track(f))
        for f in range(max(firsts.values()) - 1, -1, -1):  # and back to the first frame
            write(state.track(f, reverse=True))
        tracked.store = store.to_json()
        if state.lora is not None and adapters is not None and state.lora_enabled:
            tracked.adapters = _adapter_files(state)
        else:
            tracked.adapters = start.carried
    finally:
        state.close()


def _adapter_files(state: EngineState) -> dict[str, bytes]:
    """The adapters as the app saves them (Ctrl+S), as bytes: the driver writes them into the project."""
    with tempfile.TemporaryDirectory(prefix="litlora-adapters-") as tmp:
        state.lora.save(tmp, enabled=True)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


def save_tracked(job: TrackJob, tracked: Tracked) -> TrackReport:
    """On the driver: write the project (swapped in whole over an old one) and the export."""
    report = tracked.report
    if report.error is not None or tracked.store is None:
        return report
    try:
        check_outputs(job)
        source = VideoSource.open(job.video)
    except TrackError as exc:
        report.error = str(exc)
        return report
    except Exception as exc:  # VideoError: the driver cannot see the video the worker tracked
        report.error = f"tracked, but the video cannot be opened here to save its project: {exc}"
        return report
    try:
        store = AnnotationStore.from_json(tracked.store, source.num_frames)
        _write_project(job, store, source, tracked.adapters)
    except (TrackError, ProjectError) as exc:  # ProjectError: a full disk, a read-only folder
        report.error = str(exc)
    except OSError as exc:
        report.error = f"the project could not be written to {job.out}: {exc.strerror or exc}"
    else:
        if job.export_format:
            try:
                report.exported = _export(job, store, source, report)
            except TrackError as exc:
                report.export_error = str(exc)
    finally:
        source.close()
    return report


def _write_project(job: TrackJob, store: AnnotationStore, source: Any, adapters: dict[str, bytes]) -> None:
    """Write the project beside ``job.out`` first, then put it in place: an old project is replaced
    whole (none of its autosaves or adapters is left to be mistaken for the new one's), and a
    failure before the swap leaves it untouched."""
    job.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = job.out.with_name(f".{job.out.name}.writing-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        project = Project(tmp, store)
        project.set_video(job.video, source)
        project.save()
        if adapters:
            folder = project.adapters_dir
            for name, data in adapters.items():
                (folder / Path(name).name).write_bytes(data)
        mark = {"written_by": "litlora-desktop track", "project_sha256": _sha256(tmp / MANIFEST)}
        (tmp / TRACKED_MARK).write_text(json.dumps(mark))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # no half-written project left beside the outputs
        raise
    old = job.out.with_name(f".{job.out.name}.replaced-{os.getpid()}")
    if job.out.exists():
        job.out.rename(old)
    tmp.rename(job.out)
    # the manifest stores the video's path relative to the project folder: the same one level up
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class _Start:
    """What tracking a video starts from."""

    store: AnnotationStore  # the objects and the masks to start from; nothing tracked yet
    adapters: Path | None = None  # the adapters that auto-apply: --adapters, or the video's own project
    own: bool = False  # those adapters are this video's own project's (its counts and samples carry on)
    carried: dict[str, bytes] = field(default_factory=dict)  # own adapters copied over, not applied


def _prompt_store(job: TrackJob, source: Any, report: TrackReport) -> _Start:
    """The objects and first masks of a video, and the adapters to use: ``--adapters``, else those of
    the project the first masks come from."""
    store = AnnotationStore()
    store.height, store.width, store.num_frames = (
        int(source.height),
        int(source.width),
        int(source.num_frames),
    )
    store.history_limit = 0  # headless: nothing to undo, nothing to hold for it
    if job.masks is not None:
        try:
            result = import_annotations(store, job.masks)
        except Exception as exc:  # AnnotationImportError: one sentence naming the file
            raise TrackError(f"the first masks could not be imported: {exc}") from None
        report.warnings += list(getattr(result, "warnings", []) or [])
        return _Start(store, job.adapters)
    folder = job.project if job.project is not None else default_project_path(job.video)
    if not (Path(folder) / "project.json").is_file():
        raise TrackError(
            f"no first masks: give --masks, or annotate the video in the app first (no project at {folder})"
        )
    project = Project.open(folder)
    if check_video(project, source, job.video).status == "changed":
        raise TrackError(f"the project {folder} was made on another video (its frames differ)")
    for info in project.store.objects:
        store.add_object(info.name, info.color, info.category, obj_id=info.id)
        for f, rec in sorted(project.store.records_for_object(info.id).items()):
            if rec.provenance.kind != "sam2":
                store.set_record(f, info.id, rec)
    if job.adapters is not None:
        own = _same_folder(job.adapters, folder) or _same_folder(job.adapters, Path(folder) / "adapters")
        return _Start(store, job.adapters, own=own)
    own = Path(folder) / "adapters"
    if (own / "litlora.json").is_file():
        if job.auto_apply is not None:
            return _Start(store, Path(folder), own=True)  # the project's own adapters auto-apply
        # not asked to auto-apply: the new project still gets them, so correcting it goes on teaching
        return _Start(store, carried={p.name: p.read_bytes() for p in own.iterdir() if p.is_file()})
    if job.auto_apply is not None:
        raise TrackError(f"--auto-apply needs adapters, and the project {folder} has none: give --adapters")
    return _Start(store)


def _give_prompts(state: EngineState, store: AnnotationStore) -> dict[int, int]:
    """Every mask not from SAM2 becomes a mask prompt, as when the app reopens a project; returns
    each prompted object's first prompted frame."""
    from litlora_desktop.workers.outcomes import Prompt

    firsts: dict[int, int] = {}
    for info in store.objects:
        state.add_object(info.id)
        for f, rec in sorted(store.records_for_object(info.id).items()):
            if rec.provenance.kind == "sam2":
                continue
            state.prompt(info.id, f, Prompt(mask=rec.decode()), learn=False)
            firsts.setdefault(info.id, f)
    return firsts


def _writer(store: AnnotationStore, report: TrackReport, on_frame: Any) -> Any:
    """Writes a tracked frame into the store as the app's ``Tracking.apply`` does: a mask that did
    not come from SAM2 is never replaced; an auto-applied candidate is stored as the adapter's."""

    def write(outcome: TrackOutcome | None) -> None:
        if outcome is None:
            return
        f = outcome.frame_index
        for oid, upd in outcome.updates.items():
            held = store.get_record(f, oid)
            if held is not None and held.provenance.kind != "sam2":
                continue
            if upd.applied is not None:
                cand = upd.applied
                rec = MaskRecord.from_mask(
                    cand.mask, adapter_provenance(cand.adapter), score=float(cand.object_score)
                )
                store.set_record(f, oid, rec)
                report.applied += 1
            elif upd.mask.kind != "reused":
                store.set_mask(f, oid, upd.mask.mask, "sam2", score=float(upd.mask.score))
                report.tracked += 1
        if on_frame is not None:
            on_frame(1)

    return write


def _load_adapters(
    state: EngineState, folder: Path, store: AnnotationStore, report: TrackReport, same_video: bool
) -> None:
    """The adapters of a project, matched to this video's objects by name (case and spaces aside), or
    by id for a bare adapters folder that has no names. ``same_video``: the video's own project, whose
    objects are this store's by id, and whose correction counts, accepted candidates and samples
    carry on as this video's."""
    folder = Path(folder)
    adapters = folder / "adapters" if (folder / "adapters" / "litlora.json").is_file() else folder
    names = _object_names(folder)
    mine = {_name_key(o.name): o.id for o in store.objects}
    ids = {o.id for o in store.objects}
    object_map = {}
    for saved_id in _saved_object_ids(adapters):
        if same_video:  # the store was copied from that project, ids and all; names may repeat
            if saved_id in ids:
                object_map[saved_id] = saved_id
        elif names:  # by name, as the app's adapter reuse matches them; never "dog" onto "person"
            if _name_key(names.get(saved_id, "")) in mine:
                object_map[saved_id] = mine[_name_key(names[saved_id])]
        elif saved_id in ids:  # a bare adapters folder has no names: ids are all there is
            object_map[saved_id] = saved_id
    if not object_map:
        report.warnings.append(f"no object of {folder} has the name of one of this video's: no adapters used")
        return
    state.lora.restore(adapters, object_map, same_video=same_video, only=list(object_map))
    state.set_lora_enabled(True)
    report.adapters_used = len(object_map)


@functools.lru_cache(maxsize=8)
def _object_names(folder: Path) -> dict[int, str]:
    """The objects' names of an adapters project ({} for a bare adapters folder), read once per
    process: a batch reuses one project's adapters for hundreds of videos, and opening it reads its
    whole store."""
    if not (folder / "project.json").is_file():
        return {}
    return {o.id: o.name for o in Project.open(folder).store.objects}


def _name_key(name: str) -> str:
    return name.strip().casefold()


def _saved_object_ids(adapters: Path) -> list[int]:
    from litlora_desktop.core.files import read_regular_file

    try:
        meta = json.loads(read_regular_file(adapters / "litlora.json"))
        return [int(k) for k in meta.get("objects", {})]
    except FileNotFoundError:
        raise TrackError(f"{adapters} holds no LIT-LoRA adapters (no litlora.json)") from None
    except OSError as exc:
        raise TrackError(
            f"the LIT-LoRA adapters in {adapters} cannot be read: {exc.strerror or exc}"
        ) from None
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise TrackError(
            f"the LIT-LoRA adapters in {adapters} are damaged (litlora.json is not valid)"
        ) from None


def _export(job: TrackJob, store: AnnotationStore, source: Any, report: TrackReport) -> str:
    fmt = format_named(job.export_format)
    out = job.export_to or job.out.with_name(job.out.stem + f".{job.export_format}{fmt.suffix}")
    try:
        result = export(job.export_format, store, out, source=source, overwrite=job.overwrite)
    except Exception as exc:  # ExportError / OSError: the project is saved; say what failed
        why = exc.strerror or exc if isinstance(exc, OSError) else exc
        raise TrackError(f"the {job.export_format} export to {out} failed: {why}") from None
    report.warnings += list(result.warnings)
    return str(result.path)
