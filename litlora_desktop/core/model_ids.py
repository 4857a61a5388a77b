"""The names of the models the app offers, by family, without importing torch or transformers.

The window, its settings and the command line need these names before a model is loaded; importing
them from ``core/sam2/models.py`` pulled in torch and transformers (seconds) on the way to the first
paint. ``core/sam2/models.py`` re-exports them from here; ``core/sam2/families.py`` holds what the
code needs per family (classes, normalisation), keyed on ``FamilyInfo.model_type``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MODEL_ID = "facebook/sam2.1-hiera-tiny"
DEMO_MODEL = "demo"
"""The small SAM2 this repository trains on synthetic shapes and ships: works offline, knows shapes only."""
TINY_RANDOM = "tiny-random"
"""Developer model id: a tiny randomly initialised SAM2 (no download; masks are meaningless)."""
DEMO_LABEL = "Demo SAM2 (synthetic shapes, offline)"


def device_problem(name: str | None) -> str | None:
    """What is wrong with a device name a user gave (None: nothing; no name means "auto").

    Here, without torch, so that a command line checks ``--device`` before it loads anything (and a
    Ray driver, which never imports torch, checks it at all); ``choose_device`` checks the same way."""
    if name is None or re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name.strip().lower()):
        return None
    return f"unknown device '{name}': use cuda, cuda:N (N a GPU's number), mps, cpu or auto"


@dataclass(frozen=True)
class FamilyInfo:
    """One model family as the user meets it: its hub models, size, licence and what it needs."""

    key: str
    label: str
    model_type: str
    """config.json ``model_type`` of its ``save_pretrained`` folders (SAM2 and SAM2.1 share one)."""
    hub_ids: dict[str, str]
    """Size name -> model-hub id; the first is the family's default."""
    params_m: float
    """Parameters (millions) of the default size, counted from the architecture (a test checks it)."""
    input_size: int
    licence: str
    access: str
    """How to get the weights, where that takes more than a download."""
    gpu_recommended: bool
    meta_checkpoint: str = ""
    """Meta's own checkpoint file(s) and whether the app converts them (shown to users, not read)."""

    @property
    def default_id(self) -> str:
        return next(iter(self.hub_ids.values()))


def _sizes(prefix: str) -> dict[str, str]:
    return {size: f"{prefix}-{size}" for size in ("tiny", "small", "base-plus", "large")}


FAMILIES: tuple[FamilyInfo, ...] = (
    FamilyInfo(
        "sam2.1",
        "SAM2.1",
        "sam2_video",
        _sizes("facebook/sam2.1-hiera"),
        39.0,
        1024,
        "Apache-2.0",
        "",
        False,
        "sam2.1_hiera_*.pt",
    ),
    FamilyInfo(
        "sam2",
        "SAM2",
        "sam2_video",
        _sizes("facebook/sam2-hiera"),
        38.9,
        1024,
        "Apache-2.0",
        "",
        False,
        "sam2_hiera_*.pt",
    ),
    FamilyInfo(
        "sam3",
        "SAM 3 tracker",
        "sam3_tracker_video",
        {"(one size)": "facebook/sam3"},
        465.8,
        1008,
        "SAM License (Meta; not Apache)",
        "Gated: sign in on the model hub, open facebook/sam3 and request access (accept Meta's SAM "
        "License); once granted, run `hf auth login` with a read token on this machine (or set HF_TOKEN) "
        "and pick the model again. Only the tracker is loaded: SAM 3's text/concept detector is not used.",
        True,
    ),
    FamilyInfo(
        "edgetam",
        "EdgeTAM",
        "edgetam_video",
        {"(one size)": "yonigozlan/EdgeTAM-hf"},
        13.9,
        1024,
        "Apache-2.0",
        "",
        False,
        "edgetam.pt (facebook/EdgeTAM): not converted yet; use the transformers-format folder",
    ),
)
"""Every family the app offers, SAM2.1 (the default) first."""


def family_info(key: str) -> FamilyInfo:
    """The family with this key (``sam2.1``, ``sam2``, ``sam3``, ``edgetam``)."""
    for f in FAMILIES:
        if f.key == key:
            return f
    raise KeyError(key)


def family_of_hub_id(hub_id: str) -> FamilyInfo | None:
    """The family a hub id belongs to (listed ids, and any ``facebook/sam2*`` id), or None."""
    for f in FAMILIES:
        if hub_id in f.hub_ids.values():
            return f
    low = hub_id.lower()
    if low.startswith("facebook/sam2.1"):
        return family_info("sam2.1")
    if low.startswith("facebook/sam2"):
        return family_info("sam2")
    return None


def _choice_label(f: FamilyInfo, size: str) -> str:
    return f.label if size.startswith("(") else f"{f.label} {size}"


MODEL_CHOICES: dict[str, str] = {
    **{_choice_label(f, size): hub for f in FAMILIES for size, hub in f.hub_ids.items()},
    DEMO_LABEL: DEMO_MODEL,
}
"""Label -> model id of every model the Settings list offers (the demo last)."""


class ModelLoadError(Exception):
    """A model could not be loaded; the message is meant for the user. Defined here, not in
    ``core/sam2/models.py``, so a caller that only reports it (``litlora-eval --ray``'s driver) need
    not import torch."""
