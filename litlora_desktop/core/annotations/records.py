"""The values the annotation store holds: a mask on one frame with where it came from, and objects.

All are frozen and validated on construction, so a record read from a damaged file fails with a
clear message instead of reaching the store; being immutable, records are shared freely between
the store, its snapshots and its undo history.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.rle import check_rle_size, checked_rle_area, encode_mask

PROVENANCE_KINDS = ("sam2", "user", "lora", "imported")
_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.\-]")


def adapter_provenance(adapter: str) -> str:
    """``lora:<adapter>`` with the adapter label made safe for the provenance format (a mask a
    LIT-LoRA candidate gave: accepted in the app, or auto-applied by batch tracking)."""
    return "lora:" + (_UNSAFE_LABEL.sub("_", adapter)[:64] or "adapter")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a mask came from: ``sam2``, ``user``, ``lora:<adapter>`` or ``imported``.

    Kept as a tiny validated type rather than a free string so a typo cannot silently create a
    fifth kind that the timeline and the exporters do not know.
    """

    kind: str
    adapter: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PROVENANCE_KINDS:
            raise ValueError(f"unknown mask provenance {self.kind!r}; expected one of {PROVENANCE_KINDS}")
        if self.kind == "lora":
            if not _ADAPTER_NAME.match(self.adapter):
                raise ValueError(f"bad LoRA adapter name {self.adapter!r} (letters, digits, _ . - only)")
        elif self.adapter:
            raise ValueError(f"provenance {self.kind!r} takes no adapter name")

    @staticmethod
    @lru_cache(maxsize=256)
    def parse(text: str) -> Provenance:
        """Parse ``"sam2"``, ``"user"``, ``"imported"`` or ``"lora:<adapter>"`` (cached: records share it)."""
        if not isinstance(text, str):
            raise ValueError(f"provenance must be a string, got {type(text).__name__}")
        kind, sep, adapter = text.partition(":")
        if sep and kind != "lora":
            raise ValueError(f"unknown mask provenance {text!r}")
        if kind == "lora" and not sep:
            raise ValueError("provenance 'lora' needs an adapter name: 'lora:<adapter>'")
        return Provenance(kind, adapter)

    def __str__(self) -> str:
        return f"lora:{self.adapter}" if self.kind == "lora" else self.kind


ProvenanceLike = Provenance | str


def as_provenance(value: ProvenanceLike) -> Provenance:
    """Accept a :class:`Provenance` or its string form."""
    return value if isinstance(value, Provenance) else Provenance.parse(value)


class Click(NamedTuple):
    """A prompt click in frame pixel coordinates; ``positive`` False means "not this"."""

    x: float
    y: float
    positive: bool


def _as_clicks(clicks: Any) -> tuple[Click, ...]:
    out = []
    for c in clicks or ():
        if len(c) != 3:
            raise ValueError(f"a click is (x, y, positive), got {c!r}")
        x, y, pos = c
        if isinstance(pos, (int, np.integer)) and pos in (0, 1):
            pos = bool(pos)
        if not isinstance(pos, (bool, np.bool_)):
            raise ValueError(f"click label must be a bool, got {pos!r}")
        out.append(Click(float(x), float(y), bool(pos)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class MaskRecord:
    """One object's mask on one frame, as RLE, with its provenance and the clicks that made it.

    ``slots`` and the flat fields keep a record at ~200 bytes plus the RLE string, which is what
    lets a 10,000-frame video stay small in memory.
    """

    height: int
    width: int
    counts: str
    provenance: Provenance
    clicks: tuple[Click, ...] = ()
    score: float | None = None
    area: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.counts, str) or not self.counts.isascii():
            raise ValueError("RLE counts must be an ASCII string (COCO compressed RLE)")
        h, w = check_rle_size(self.height, self.width)
        area = checked_rle_area(self.counts, h, w)
        if not isinstance(self.provenance, Provenance):
            raise ValueError("provenance must be a Provenance")
        if self.area < 0:
            object.__setattr__(self, "area", area)

    @classmethod
    def from_mask(
        cls,
        mask: np.ndarray,
        provenance: ProvenanceLike,
        clicks: Any = (),
        score: float | None = None,
    ) -> MaskRecord:
        """Encode a bool (H, W) array."""
        h, w, counts = encode_mask(mask)
        return cls(h, w, counts, as_provenance(provenance), _as_clicks(clicks), _as_score(score))

    @classmethod
    def from_rle(
        cls, rle: Mapping[str, Any], provenance: ProvenanceLike, clicks: Any = (), score: float | None = None
    ) -> MaskRecord:
        """Build from a COCO RLE dict (compressed str/bytes counts, or uncompressed list counts)."""
        size = rle.get("size")
        counts = rle.get("counts")
        if not (isinstance(size, (list, tuple)) and len(size) == 2):
            raise ValueError("RLE needs 'size': [height, width]")
        h, w = check_rle_size(*size)
        if isinstance(counts, list):
            if not all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counts
            ):
                raise ValueError("the mask data (RLE counts) must be non-negative whole numbers")
            if sum(counts) != h * w:
                raise ValueError(
                    f"the mask data (RLE counts) covers {sum(counts)} pixels but a {w}x{h} mask has {h * w}"
                )
            counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if not isinstance(counts, str):
            raise ValueError("RLE 'counts' must be a string or a list of ints")
        return cls(h, w, counts, as_provenance(provenance), _as_clicks(clicks), _as_score(score))

    @property
    def rle(self) -> dict[str, Any]:
        """COCO RLE dict with ``counts`` as str (what JSON and pycocotools both accept)."""
        return {"size": [self.height, self.width], "counts": self.counts}

    def decode(self) -> np.ndarray:
        """The mask as a bool (H, W) array."""
        return mask_utils.decode(self.rle).astype(bool)

    def bbox(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the mask's pixels; zeros when empty."""
        x, y, w, h = mask_utils.toBbox(self.rle).tolist()
        return int(x), int(y), int(w), int(h)

    def to_json(self) -> dict[str, Any]:
        """Short-keyed dict (c counts, p provenance, a area, k clicks, s score): there are many."""
        d: dict[str, Any] = {"c": self.counts, "p": str(self.provenance), "a": self.area}
        if self.clicks:
            d["k"] = [[c.x, c.y, int(c.positive)] for c in self.clicks]
        if self.score is not None:
            d["s"] = self.score
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], height: int, width: int) -> MaskRecord:
        """Inverse of :meth:`to_json`; keys are short because there can be 100,000 of them."""
        if not isinstance(d, Mapping) or "c" not in d or "p" not in d:
            raise ValueError(f"a mask record needs 'c' (RLE counts) and 'p' (provenance): {d!r:.80}")
        rec = cls(
            height, width, d["c"], Provenance.parse(d["p"]), _as_clicks(d.get("k")), _as_score(d.get("s"))
        )
        if "a" in d and d["a"] != rec.area:
            raise ValueError("mask record area does not match its RLE (corrupt data)")
        return rec


def _as_score(score: Any) -> float | None:
    if score is None:
        return None
    s = float(score)
    if not np.isfinite(s):
        raise ValueError(f"object score must be finite, got {score!r}")
    return s


_BASE_COLORS = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128),
]  # fmt: skip


def default_color(index: int) -> tuple[int, int, int]:
    """Distinct colours: ten hand-picked ones, then golden-ratio hues."""
    if index < len(_BASE_COLORS):
        return _BASE_COLORS[index]
    h = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.95)
    return (round(r * 255), round(g * 255), round(b * 255))


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An annotated object (a track): what the user calls it and how it is drawn."""

    id: int
    name: str
    color: tuple[int, int, int]
    category: str = "object"
    hidden: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool) or self.id <= 0:
            raise ValueError(f"object id must be a positive int, got {self.id!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("object name must be a non-empty string")
        if not isinstance(self.category, str) or not self.category.strip():
            raise ValueError("object category must be a non-empty string")
        color = tuple(self.color)
        if len(color) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in color):
            raise ValueError(f"object colour must be three ints 0..255, got {self.color!r}")
        object.__setattr__(self, "color", tuple(int(c) for c in color))
        object.__setattr__(self, "hidden", bool(self.hidden))

    def to_json(self) -> dict[str, Any]:
        """The on-disk form of an object."""
        return {
            "id": self.id,
            "name": self.name,
            "color": list(self.color),
            "category": self.category,
            "hidden": self.hidden,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ObjectInfo:
        """Validate and build; ValueError names the bad entry."""
        if not isinstance(d, Mapping):
            raise ValueError(f"an object entry must be a mapping, got {d!r:.80}")
        try:
            return cls(
                d["id"], d["name"], tuple(d["color"]), d.get("category", "object"), d.get("hidden", False)
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad object entry {d!r:.80}: {exc}") from exc


def check_frame(frame: Any, num_frames: int | None) -> None:
    """ValueError unless ``frame`` is a frame index of a video of ``num_frames`` frames (any, when None)."""
    if not isinstance(frame, (int, np.integer)) or frame < 0:
        raise ValueError(f"frame index must be a non-negative int, got {frame!r}")
    if num_frames is not None and frame >= num_frames:
        raise ValueError(f"frame {frame} is past the end of the video ({num_frames} frames)")
