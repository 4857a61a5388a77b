"""Adapter folders: the bank written to disk (one safetensors file per adapter, one per object for its
samples, and ``litlora.json``) and read back, into this video or another.

A folder may come from anywhere (a shared project, a damaged disk), so reading checks everything
before anything changes (all or nothing): the rank (1..MAX_RANK), that every file it names is a plain
file in the folder itself (no path out of it), its size, and its tensors' names, shapes, dtypes and
values against this model's decoder; an adapter whose weights are all zero (never trained) is refused
too. Every refusal is one LitLoRAError sentence naming the file.

Samples (the decoder inputs of each correction and its target) are saved too, so replay survives a
restart, but bounded: the newest ``SAVED_SAMPLES_PER_OBJECT`` of each object and, over all objects,
the newest that fit in ``SAVED_SAMPLE_BYTES`` (a SAM2.1 sample is 17 MiB). A folder written before
samples were saved simply has none.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as safetensors_bytes

from litlora_desktop.core.files import atomic_write_bytes, read_regular_file
from litlora_desktop.core.lora.adapters import AdapterBank
from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.losses import VOID
from litlora_desktop.core.lora.objects import ObjectLoRA
from litlora_desktop.core.lora.samples import CorrectionSample
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker

__all__ = [
    "MAX_ADAPTERS_PER_OBJECT",
    "MAX_RANK",
    "MAX_SAMPLES_READ",
    "SAVED_SAMPLES_PER_OBJECT",
    "SAVED_SAMPLE_BYTES",
    "SCHEMA_VERSION",
    "FolderPlan",
    "PlannedAdapter",
    "PlannedSample",
    "read_adapters",
    "sample_shapes",
    "save_adapters",
]

SCHEMA_VERSION = 1
MAX_RANK = 64  # a LoRA rank read from a file is bounded: 10**7 tried to allocate 5 GB
MAX_ADAPTERS_PER_OBJECT = 16
SAVED_SAMPLES_PER_OBJECT = 8  # the newest corrections of each object are kept for replay after a restart
SAVED_SAMPLE_BYTES = 256 * 2**20  # and no more than this in all (about 15 SAM2.1 samples)
MAX_SAMPLES_READ = 64  # a file claiming more samples for one object is refused
_FEATURE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_SAMPLE_PARTS = ("image_embeddings", "high_res_0", "high_res_1", "target")
_OWN_FILE = re.compile(r"object\d+_(A\d+|samples)\.safetensors")  # files this module writes


@dataclass
class PlannedAdapter:
    """A checked adapter file: the object it goes to here, its saved label and its weights."""

    object_id: int
    file: str
    label: str
    trained_on: list[int]
    weights: dict[str, torch.Tensor]


@dataclass
class PlannedSample:
    """A checked sample: the object it goes to here, the adapter label it trained, and its tensors."""

    object_id: int
    frame_index: int
    created: float
    adapter_label: str | None
    origin: str
    tensors: dict[str, torch.Tensor]


@dataclass
class FolderPlan:
    """What a checked folder holds, ready to go into the bank; nothing of it is in the decoder yet."""

    rank: int
    alpha: float
    dropout: float
    adapters: list[PlannedAdapter] = field(default_factory=list)
    samples: list[PlannedSample] = field(default_factory=list)
    accepted: dict[int, dict[int, str]] = field(default_factory=dict)  # object -> frame -> label
    corrections: dict[int, int] = field(default_factory=dict)
    enabled: bool = False  # LIT_LoRA was on when the folder was saved


def sample_shapes(tracker: Tracker) -> dict[str, tuple[int, ...]]:
    """The shape of each part of a sample on this model: its decoder's inputs and the S x S target."""
    cfg = tracker.model.config
    c = int(cfg.mask_decoder_config.hidden_size)
    s = int(tracker.image_size)
    e = s // int(cfg.prompt_encoder_config.patch_size)
    return {
        "image_embeddings": (1, c, e, e),
        "high_res_0": (1, c // 8, 4 * e, 4 * e),
        "high_res_1": (1, c // 4, 2 * e, 2 * e),
        "target": (s, s),
    }


def _samples_to_save(
    objects: dict[int, ObjectLoRA], per_object: int, budget: int
) -> dict[int, list[CorrectionSample]]:
    """The samples a save keeps: each object's newest ``per_object``, then the newest that fit ``budget``."""
    pool = [(oid, x) for oid, ob in objects.items() for x in ob.samples[-per_object:] if per_object > 0]
    pool.sort(key=lambda p: p[1].created, reverse=True)
    kept: set[int] = set()
    used = 0
    for _, x in pool:
        if used + x.nbytes > budget:
            continue
        used += x.nbytes
        kept.add(id(x))
    return {oid: [x for x in ob.samples if id(x) in kept] for oid, ob in objects.items()}


def save_adapters(
    folder: str | Path,
    bank: AdapterBank,
    objects: dict[int, ObjectLoRA],
    settings: LoraSettings,
    enabled: bool = False,
    samples_per_object: int = SAVED_SAMPLES_PER_OBJECT,
    sample_bytes: int = SAVED_SAMPLE_BYTES,
) -> Path:
    """Write every adapter (safetensors), each object's newest samples, the config and ``enabled``.

    Each file is written to a temporary name and renamed, so a crash never leaves half an adapter, and
    gets the user's usual permissions (safetensors' own ``save_file`` made them 0600, unreadable to the
    rest of a team sharing the project). ``litlora.json`` is written last; files of an earlier save
    that it no longer names (a deleted object's) are removed after it. Only files the earlier
    ``litlora.json`` named are ever removed: when that index cannot be read (damaged), nothing else
    is removed, and the damaged index is kept beside the new one as ``litlora.damaged-<time>.json``
    (its adapters could not be loaded, but their files are someone's work).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    named_before = _files_named(folder)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "settings": asdict(settings),
        "enabled": bool(enabled),
        "objects": {},
    }
    written: set[str] = set()
    with bank.lock:
        keep = _samples_to_save(objects, samples_per_object, sample_bytes)
        for oid, ob in objects.items():
            ads = []
            for name, ad in ob.adapters.items():
                fname = f"object{oid}_{ad.label}.safetensors"
                atomic_write_bytes(folder / fname, safetensors_bytes(bank.weights(name)))
                written.add(fname)
                ads.append(
                    {"label": ad.label, "file": fname, "created": ad.created, "trained_on": ad.trained_on}
                )
            info: dict[str, Any] = {
                "adapters": ads,
                "samples": [],
                "accepted": {str(f): a for f, a in ob.accepted.items()},
                "corrections": ob.corrections,
            }
            if keep[oid]:
                tensors: dict[str, torch.Tensor] = {}
                shared: set[int] = set()
                for i, x in enumerate(keep[oid]):
                    parts = (x.image_embeddings, *x.high_resolution_features[:2], x.target)
                    for part, t in zip(_SAMPLE_PARTS, parts, strict=True):
                        t = t.detach().cpu().contiguous()
                        if t.untyped_storage().data_ptr() in shared:  # safetensors refuses shared memory
                            t = t.clone()
                        shared.add(t.untyped_storage().data_ptr())
                        tensors[f"{i}.{part}"] = t
                    info["samples"].append(
                        {
                            "index": i,
                            "frame": x.frame_index,
                            "created": x.created,
                            "adapter": ob.label_of(x.adapter) if x.adapter in ob.adapters else None,
                            "origin": x.origin,
                        }
                    )
                fname = f"object{oid}_samples.safetensors"
                atomic_write_bytes(folder / fname, safetensors_bytes(tensors))
                written.add(fname)
                info["samples_file"] = fname
            meta["objects"][str(oid)] = info
    if named_before is None:  # a damaged index: kept for whoever can mend it
        with contextlib.suppress(OSError):
            os.replace(
                folder / "litlora.json", folder / f"litlora.damaged-{time.strftime('%Y%m%d-%H%M%S')}.json"
            )
    atomic_write_bytes(folder / "litlora.json", json.dumps(meta, indent=1).encode("utf-8"))
    for name in named_before or ():
        old = folder / name
        if _OWN_FILE.fullmatch(name) and name not in written and old.is_file():
            old.unlink(missing_ok=True)
    return folder


def set_aside(folder: str | Path) -> Path | None:
    """Move a folder's adapter files and their index into ``unloaded-<time>/`` inside it (renames,
    never deletes); the folder they are in, or None when there were none.

    For adapters that could not be loaded into this session (a damaged file, another model): the
    session's own adapters are then saved beside them, where they would have replaced the files of
    the same names (``object1_A1.safetensors``) or deleted the rest, though someone's work."""
    folder = Path(folder)
    theirs = [
        p
        for p in folder.glob("*")
        if p.is_file() and (_OWN_FILE.fullmatch(p.name) or p.name == "litlora.json")
    ]
    if not theirs:
        return None
    aside = folder / f"unloaded-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while aside.exists():
        n += 1
        aside = folder / f"unloaded-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
    aside.mkdir()
    for p in theirs:
        os.replace(p, aside / p.name)
    return aside


def _files_named(folder: Path) -> set[str] | None:
    """The files an adapters folder's ``litlora.json`` names (empty: no index yet; None: an index
    that cannot be read)."""
    try:
        meta = json.loads(read_regular_file(folder / "litlora.json"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, RecursionError):
        return None
    names: set[str] = set()
    try:
        for info in meta.get("objects", {}).values():  # no objects: an empty save
            names.update(str(a["file"]) for a in info.get("adapters", []))
            if info.get("samples_file"):
                names.add(str(info["samples_file"]))
    except (KeyError, TypeError, AttributeError):
        return None
    return names


def read_adapters(
    folder: Path, bank: AdapterBank, object_map: dict[int, int], only: Collection[int] | None = None
) -> FolderPlan:
    """Read and check a saved folder against ``bank``'s decoder; LitLoRAError on the first fault.

    ``object_map`` maps saved object ids to this tracker's ids (ids not in it stay as they are);
    ``only``: the saved objects to read (None: all), the others' files are not even opened.
    """
    meta_path = folder / "litlora.json"
    try:
        meta = json.loads(read_regular_file(meta_path))
    except FileNotFoundError:
        raise LitLoRAError(
            f"{folder} holds no readable LIT-LoRA adapters (litlora.json is missing)."
        ) from None
    except OSError as exc:
        raise LitLoRAError(
            f"{folder} holds no readable LIT-LoRA adapters (litlora.json cannot be read: {exc.strerror or exc})."
        ) from None
    except (ValueError, RecursionError):
        raise LitLoRAError(
            f"{folder} holds no readable LIT-LoRA adapters (litlora.json is damaged: not valid JSON)."
        ) from None
    return _checked_plan(folder, meta, object_map, bank, only)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _checked_plan(
    folder: Path, meta: Any, object_map: dict[int, int], bank: AdapterBank, only: Collection[int] | None
) -> FolderPlan:
    """Validate litlora.json and read every file it names; LitLoRAError on the first fault."""
    where = folder / "litlora.json"

    def bad(what: str) -> LitLoRAError:
        return LitLoRAError(f"The adapter list {where} is damaged: {what}.")

    if not isinstance(meta, dict):
        raise bad("it is not a JSON object")
    version = meta.get("schema_version", 0)
    if not _whole(version):
        raise bad("its schema_version is not a whole number")
    if version > SCHEMA_VERSION:
        raise LitLoRAError(f"{folder} was written by a newer version of LIT-LoRA Desktop")
    saved = meta.get("settings", {})
    if not isinstance(saved, dict):
        raise bad("its settings are not a JSON object")
    rank, alpha, dropout = saved.get("rank", 4), saved.get("alpha", 4.0), saved.get("dropout", 0.1)
    if not _whole(rank) or not 1 <= rank <= MAX_RANK:
        raise bad(f"its LoRA rank {str(rank)[:20]} is not a whole number from 1 to {MAX_RANK}")
    for name, v, ok in (
        ("alpha", alpha, lambda x: 0 < x <= 1e4),
        ("dropout", dropout, lambda x: 0 <= x < 1),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise bad(f"its LoRA {name} {str(v)[:20]} is out of range")
    objects = meta.get("objects", {})
    if not isinstance(objects, dict):
        raise bad("its objects are not a JSON object")
    plan = FolderPlan(rank, float(alpha), float(dropout), enabled=meta.get("enabled") is True)
    shapes = bank.shapes(rank)
    numel = sum(math.prod(v) for v in shapes.values())
    limit = 8 * numel + (1 << 20)  # float64 at most, plus the header
    device = bank.tracker.device
    for key, info in objects.items():
        if not (isinstance(key, str) and key.isdigit()) or not isinstance(info, dict):
            raise bad(f"object {str(key)[:20]!r} is not an object id with its adapters")
        if only is not None and int(key) not in only:
            continue
        oid = object_map.get(int(key), int(key))
        ads = info.get("adapters", [])
        if not isinstance(ads, list) or len(ads) > MAX_ADAPTERS_PER_OBJECT:
            raise bad(f"object {key} has no list of at most {MAX_ADAPTERS_PER_OBJECT} adapters")
        for a in ads:
            fname = a.get("file") if isinstance(a, dict) else None
            _check_name(folder, where, fname)
            trained = a.get("trained_on", [])
            if not isinstance(trained, list) or not all(_whole(f) for f in trained):
                trained = []
            label = a.get("label")
            label = label[:64] if isinstance(label, str) and label else f"A{len(plan.adapters) + 1}"
            sd = _read_adapter(folder / fname, shapes, limit, device)
            plan.adapters.append(PlannedAdapter(oid, fname, label, trained[:100_000], sd))
        plan.samples += _read_samples(folder, where, key, oid, info, bank.tracker)
        acc = info.get("accepted", {})
        if isinstance(acc, dict):
            plan.accepted[oid] = {
                int(f): a[:64] for f, a in list(acc.items())[:1_000_000] if f.isdigit() and isinstance(a, str)
            }
        n = info.get("corrections", 0)
        plan.corrections[oid] = n if _whole(n) and 0 <= n < 10**9 else 0
    return plan


def _check_name(folder: Path, where: Path, fname: Any) -> None:
    if not isinstance(fname, str) or not _plain_file_name(folder, fname):
        raise LitLoRAError(
            f"The adapter list {where} names {str(fname)[:60]!r}, which is not a file in {folder} "
            "itself: it was refused."
        )


def _read_samples(
    folder: Path, where: Path, key: str, oid: int, info: dict[str, Any], tracker: Tracker
) -> list[PlannedSample]:
    """An object's saved samples, every one checked; [] for a folder saved before samples were."""
    fname = info.get("samples_file")
    if fname is None:
        return []
    _check_name(folder, where, fname)
    entries = info.get("samples", [])
    if not isinstance(entries, list) or len(entries) > MAX_SAMPLES_READ:
        raise LitLoRAError(
            f"The adapter list {where} is damaged: object {key} has no list of at most "
            f"{MAX_SAMPLES_READ} samples."
        )
    shapes = sample_shapes(tracker)
    path = folder / fname
    per_sample = sum(4 * math.prod(s) for s in shapes.values())  # float32 at most
    sd = _read_tensors(path, "samples file", len(entries) * per_sample + (1 << 20))
    out = []
    indices: set[int] = set()
    for e in entries:
        i = e.get("index") if isinstance(e, dict) else None
        frame, created = (e.get("frame"), e.get("created", 0.0)) if isinstance(e, dict) else (None, None)
        if not _whole(i) or i in indices or not _whole(frame) or not 0 <= frame < 10**9:
            raise LitLoRAError(f"The adapter list {where} is damaged: a sample of object {key} is not valid.")
        if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
            created = 0.0
        indices.add(i)
        adapter, origin = e.get("adapter"), e.get("origin", "")
        tensors = {}
        for part, shape in shapes.items():
            t = sd.get(f"{i}.{part}")
            if t is None or tuple(t.shape) != shape:
                raise LitLoRAError(f"The samples file {path} does not fit this model (other shapes).")
            if part == "target":
                if t.dtype != torch.uint8 or not bool(((t == 0) | (t == 1) | (t == VOID)).all()):
                    raise LitLoRAError(
                        f"The samples file {path} is damaged: a target is not a 0/1/void mask."
                    )
                tensors[part] = t.to(tracker.device)
            else:
                if t.dtype not in _FEATURE_DTYPES or not bool(torch.isfinite(t).all()):
                    raise LitLoRAError(
                        f"The samples file {path} is damaged: it holds features that are not finite numbers."
                    )
                tensors[part] = t.to(dtype=torch.float32, device=tracker.device)
        out.append(
            PlannedSample(
                oid,
                frame,
                float(created),
                adapter[:64] if isinstance(adapter, str) else None,
                origin[:4096] if isinstance(origin, str) else "",
                tensors,
            )
        )
    if set(sd) != {f"{i}.{p}" for i in indices for p in _SAMPLE_PARTS}:
        raise LitLoRAError(f"The samples file {path} does not match its list in {where}.")
    return out


def _read_tensors(path: Path, what: str, limit: int) -> dict[str, torch.Tensor]:
    """A safetensors file of at most ``limit`` bytes; LitLoRAError naming the file otherwise."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise LitLoRAError(f"The {what} {path} is {size} bytes, far more than it can be for this model.")
        raw = read_regular_file(path)
    except FileNotFoundError:
        raise LitLoRAError(f"The {what} {path} is missing.") from None
    except OSError as exc:
        raise LitLoRAError(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        return load_safetensors_bytes(raw)
    except Exception:  # safetensors raises its own error types on damaged headers
        raise LitLoRAError(f"The {what} {path} is damaged: it is not a readable safetensors file.") from None


def _read_adapter(
    path: Path, shapes: dict[str, tuple[int, int]], limit: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """An adapter file's tensors, checked against ``shapes``; LitLoRAError naming the file otherwise."""
    sd = _read_tensors(path, "adapter", limit)
    if not sd:
        raise LitLoRAError(f"The adapter {path} is empty: it holds no weights.")
    if set(sd) != set(shapes) or any(tuple(t.shape) != shapes[k] for k, t in sd.items()):
        raise LitLoRAError(f"The adapter {path} does not fit this model's decoder (other layers or shapes).")
    if not all(t.is_floating_point() and bool(torch.isfinite(t).all()) for t in sd.values()):
        raise LitLoRAError(f"The adapter {path} is damaged: it holds weights that are not finite numbers.")
    if not any(bool(t.any()) for k, t in sd.items() if ".lora_B." in k):
        raise LitLoRAError(f"The adapter {path} was never trained: all its weights are zero.")
    return {k: t.to(dtype=torch.float32, device=device) for k, t in sd.items()}


def _plain_file_name(folder: Path, name: str) -> bool:
    """True when ``name`` is a bare file name whose file lies in ``folder`` itself (no ``..``, no
    separators, no absolute path, no link out of the folder)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or Path(name).is_absolute() or "\0" in name:
        return False
    try:
        return (folder / name).resolve().parent == folder.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
