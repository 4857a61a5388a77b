"""Adapter folders: the bank written to disk (one safetensors file per adapter and ``litlora.json``)
and read back, into this video or another.

A folder may come from anywhere (a shared project, a damaged disk), so reading checks everything
before anything changes (all or nothing): the rank (1..MAX_RANK), that every adapter file is a plain
file in the folder itself (no path out of it), its size, and its tensors' names, shapes and finiteness
against this model's decoder; an adapter whose weights are all zero (never trained) is refused too.
Every refusal is one LitLoRAError sentence naming the file. Samples' tensors are tied to their video
and are not saved; their metadata is.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as safetensors_bytes

from litlora_desktop.core.files import atomic_write_bytes, read_regular_file
from litlora_desktop.core.lora.adapters import AdapterBank
from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.objects import ObjectLoRA
from litlora_desktop.core.lora.settings import LoraSettings

__all__ = [
    "MAX_ADAPTERS_PER_OBJECT",
    "MAX_RANK",
    "SCHEMA_VERSION",
    "AdapterPlan",
    "read_adapters",
    "save_adapters",
]

SCHEMA_VERSION = 1
MAX_RANK = 64  # a LoRA rank read from a file is bounded: 10**7 tried to allocate 5 GB
MAX_ADAPTERS_PER_OBJECT = 16
# What a checked folder holds: (rank, alpha, dropout, [(object id here, file name, frames trained on, tensors)]).
AdapterPlan = tuple[int, float, float, list[tuple[int, str, list[int], dict[str, torch.Tensor]]]]


def save_adapters(
    folder: str | Path, bank: AdapterBank, objects: dict[int, ObjectLoRA], settings: LoraSettings
) -> Path:
    """Write every adapter (safetensors), its config and sample metadata into ``folder``.

    Each file is written to a temporary name and renamed, so a crash never leaves half an adapter, and
    gets the user's usual permissions (safetensors' own ``save_file`` made them 0600, unreadable to the
    rest of a team sharing the project).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "settings": asdict(settings),
        "objects": {},
    }
    with bank.lock:
        for oid, ob in objects.items():
            ads = []
            for name, ad in ob.adapters.items():
                fname = f"object{oid}_{ad.label}.safetensors"
                atomic_write_bytes(folder / fname, safetensors_bytes(bank.weights(name)))
                ads.append(
                    {"label": ad.label, "file": fname, "created": ad.created, "trained_on": ad.trained_on}
                )
            meta["objects"][str(oid)] = {
                "adapters": ads,
                "samples": [
                    {
                        "frame": x.frame_index,
                        "created": x.created,
                        "adapter": ob.label_of(x.adapter) if x.adapter in ob.adapters else None,
                    }
                    for x in ob.samples
                ],
                "accepted": {str(f): a for f, a in ob.accepted.items()},
                "corrections": ob.corrections,
            }
    atomic_write_bytes(folder / "litlora.json", json.dumps(meta, indent=1).encode("utf-8"))
    return folder


def read_adapters(folder: Path, bank: AdapterBank, object_map: dict[int, int]) -> AdapterPlan:
    """Read and check a saved folder against ``bank``'s decoder; LitLoRAError on the first fault.

    ``object_map`` maps saved object ids to this tracker's ids (ids not in it stay as they are).
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
    return _checked_plan(folder, meta, object_map, bank)


def _checked_plan(folder: Path, meta: Any, object_map: dict[int, int], bank: AdapterBank) -> AdapterPlan:
    """Validate litlora.json and read every adapter file it names; LitLoRAError on the first fault."""
    where = folder / "litlora.json"

    def bad(what: str) -> LitLoRAError:
        return LitLoRAError(f"The adapter list {where} is damaged: {what}.")

    if not isinstance(meta, dict):
        raise bad("it is not a JSON object")
    version = meta.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise bad("its schema_version is not a whole number")
    if version > SCHEMA_VERSION:
        raise LitLoRAError(f"{folder} was written by a newer version of LIT-LoRA Desktop")
    saved = meta.get("settings", {})
    if not isinstance(saved, dict):
        raise bad("its settings are not a JSON object")
    rank, alpha, dropout = saved.get("rank", 4), saved.get("alpha", 4.0), saved.get("dropout", 0.1)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_RANK:
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
    shapes = bank.shapes(rank)
    numel = sum(math.prod(v) for v in shapes.values())
    limit = 8 * numel + (1 << 20)  # float64 at most, plus the header
    plan = []
    for key, info in objects.items():
        if not (isinstance(key, str) and key.isdigit()) or not isinstance(info, dict):
            raise bad(f"object {str(key)[:20]!r} is not an object id with its adapters")
        oid = object_map.get(int(key), int(key))
        ads = info.get("adapters", [])
        if not isinstance(ads, list) or len(ads) > MAX_ADAPTERS_PER_OBJECT:
            raise bad(f"object {key} has no list of at most {MAX_ADAPTERS_PER_OBJECT} adapters")
        for a in ads:
            fname = a.get("file") if isinstance(a, dict) else None
            if not isinstance(fname, str) or not _plain_file_name(folder, fname):
                raise LitLoRAError(
                    f"The adapter list {where} names {str(fname)[:60]!r}, which is not a file in {folder} "
                    "itself: it was refused."
                )
            trained = a.get("trained_on", [])
            if not isinstance(trained, list) or not all(
                isinstance(f, int) and not isinstance(f, bool) for f in trained
            ):
                trained = []
            plan.append(
                (
                    oid,
                    fname,
                    trained[:100_000],
                    _read_adapter(folder / fname, shapes, limit, bank.tracker.device),
                )
            )
    return rank, float(alpha), float(dropout), plan


def _read_adapter(
    path: Path, shapes: dict[str, tuple[int, int]], limit: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """An adapter file's tensors, checked against ``shapes``; LitLoRAError naming the file otherwise."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise LitLoRAError(f"The adapter {path} is {size} bytes, far more than an adapter of this model.")
        raw = read_regular_file(path)
    except FileNotFoundError:
        raise LitLoRAError(f"The adapter {path} is missing.") from None
    except OSError as exc:
        raise LitLoRAError(f"The adapter {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        sd = load_safetensors_bytes(raw)
    except Exception:  # safetensors raises its own error types on damaged headers
        raise LitLoRAError(f"The adapter {path} is damaged: it is not a readable safetensors file.") from None
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
