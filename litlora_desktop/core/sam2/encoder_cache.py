"""Compute the image encoder's constant position encodings once per model instead of once per frame.

Two tensors in transformers' SAM2 image encoder depend only on the frame size and the weights, never
on the frame: the Hiera backbone's interpolated absolute position embedding (a bicubic resize of a
learned table) and the FPN neck's sine position encodings (one per feature level; the finest is
256×256×256 floats, 67 MB, at 1024²). transformers rebuilds both on every frame (its sine cache holds
one entry, and the neck asks for four sizes in turn): ~180 ms of a 2-core CPU's frame, and each
frame's encodings were separate tensors, so every frame kept in the tracker's feature cache held its
own copy. Meta's implementation caches the sine encodings; this does the same for both.

The cached tensors are built outside inference mode with autograd off, so they can be used both by
tracking (inference mode) and by anything that runs with autograd. They are keyed on the weights'
storage and version counter: loading other weights into the model recomputes them.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from transformers.models.sam2.modeling_sam2 import Sam2SinePositionEmbedding

_MARK = "_litlora_cached_encodings"


class CachedSinePositionEmbedding(Sam2SinePositionEmbedding):
    """``Sam2SinePositionEmbedding`` that remembers its result for each (shape, device, dtype)."""

    _cache: dict[tuple[Any, ...], torch.Tensor]

    def forward(
        self,
        shape: torch.Size,
        device: torch.device | str,
        dtype: torch.dtype,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if mask is not None:  # a padding mask makes it frame-specific: nothing to reuse
            return super().forward(shape, device, dtype, mask)
        key = (tuple(shape), str(device), dtype)
        cached = self._cache.get(key)
        if cached is None:
            with torch.inference_mode(False), torch.no_grad():
                cached = super().forward(shape, device, dtype)
            self._cache[key] = cached
        return cached


def _cached_pos_embed(backbone: torch.nn.Module, original: Any) -> Any:
    cache: dict[tuple[Any, ...], torch.Tensor] = {}

    def get_pos_embed(self: torch.nn.Module, hw: tuple[int, int]) -> torch.Tensor:
        table, window = self.pos_embed, self.pos_embed_window
        key = (tuple(hw), table.data_ptr(), table._version, window.data_ptr(), window._version, table.dtype)
        cached = cache.get(key)
        if cached is None:
            cache.clear()  # new weights or a new size: the old entry is dead
            with torch.inference_mode(False), torch.no_grad():
                cached = original(hw)
            cache[key] = cached
        return cached

    return types.MethodType(get_pos_embed, backbone)


def cache_constant_encodings(model: torch.nn.Module) -> bool:
    """Install both caches on a ``Sam2VideoModel`` (idempotent); False when its layout is unknown."""
    if getattr(model, _MARK, False):
        return True
    vision = getattr(model, "vision_encoder", None)
    neck = getattr(vision, "neck", None)
    backbone = getattr(vision, "backbone", None)
    sine = getattr(neck, "position_encoding", None)
    if type(sine) is not Sam2SinePositionEmbedding or not hasattr(backbone, "_get_pos_embed"):
        return False
    sine.__class__ = CachedSinePositionEmbedding  # same module, same (empty) state dict
    sine._cache = {}
    backbone._get_pos_embed = _cached_pos_embed(backbone, backbone._get_pos_embed)
    setattr(model, _MARK, True)
    return True
