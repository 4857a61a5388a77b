"""Decoder capture (for LIT-LoRA): the mask decoder's inputs on every unprompted tracking pass.

A forward pre-hook on ``model.mask_decoder`` records, on every tracked frame, the decoder's per-frame
keyword inputs for the unprompted tracking pass: what LIT-LoRA's adapters later run on. They are kept
in a ``CaptureStore`` bounded in bytes (oldest evicted first); the prompt-independent inputs
(positional embedding, empty-prompt sparse and dense embeddings) are the same on every frame and are
kept once, as ``DecoderConstants``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["CaptureStore", "DecoderCapture", "DecoderConstants", "DecoderRecorder"]


@dataclass
class DecoderCapture:
    """The mask decoder's per-frame inputs of an unprompted tracking pass, plus what SAM2 predicted.

    ``image_embeddings`` is the memory-conditioned embedding (1 x C x h x w); the two high-resolution
    feature maps are shared between the objects of a frame. Tensors are inference tensors: clone them
    outside ``torch.inference_mode`` before using them in autograd.
    """

    object_id: int
    frame_index: int
    image_embeddings: torch.Tensor
    high_resolution_features: tuple[torch.Tensor, ...]
    multimask_output: bool
    sam_low_res_logits: torch.Tensor | None = None  # (1, 1, h4, w4) what tracking produced
    sam_score: float | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held (shared high-resolution maps counted in full: a bound for one capture alone)."""
        return self.own_nbytes + sum(_size(t) for t in self.high_resolution_features)

    @property
    def own_nbytes(self) -> int:
        """Bytes of what is this object's alone: everything but the frame's high-resolution maps."""
        n = _size(self.image_embeddings)
        return n + (_size(self.sam_low_res_logits) if self.sam_low_res_logits is not None else 0)


def _size(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@dataclass
class DecoderConstants:
    """Decoder inputs that are the same on every frame of an unprompted pass."""

    image_positional_embeddings: torch.Tensor
    sparse_prompt_embeddings: torch.Tensor
    dense_prompt_embeddings: torch.Tensor


class CaptureStore:
    """Decoder captures by (object, frame), bounded in bytes; the least recently stored go first.

    ``on_evict`` (when set) is handed each capture the budget pushes out, before it is gone: a cell
    whose LIT-LoRA candidates were left for later must get them then or never (at 1024 px one capture
    is ~16 MiB, so the default budget holds about 32 cells, fewer than a propagation passes).
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self._items: OrderedDict[tuple[int, int], DecoderCapture] = OrderedDict()
        self.nbytes = 0
        self.on_evict: Callable[[DecoderCapture], None] | None = None
        # the objects of one frame share its high-resolution maps (at 1024 px 12 of a capture's
        # 16 MiB): counted once, while any capture holds them, so k objects fit ~k times more frames
        self._shared: dict[int, list[int]] = {}  # storage address -> [captures holding it, bytes]

    def _hold(self, cap: DecoderCapture, delta: int) -> int:
        """Count ``cap``'s shared maps in (+1) or out (-1); returns the bytes that changed hands."""
        n = cap.own_nbytes
        for t in cap.high_resolution_features:
            storage = t.untyped_storage()
            ref = self._shared.setdefault(storage.data_ptr(), [0, storage.nbytes()])
            ref[0] += delta
            if ref[0] == 0:  # the last holder let go
                del self._shared[storage.data_ptr()]
                n += ref[1]
            elif delta > 0 and ref[0] == 1:  # the first holder took them
                n += ref[1]
        return n

    def put(self, cap: DecoderCapture) -> None:
        """Keep ``cap`` (replacing that object's frame), evicting the oldest while over budget."""
        key = (cap.object_id, cap.frame_index)
        self.pop(*key)
        self._items[key] = cap
        self.nbytes += self._hold(cap, +1)
        while self.nbytes > self.budget_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.nbytes -= self._hold(old, -1)
            if self.on_evict is not None:
                self.on_evict(old)

    def get(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        return self._items.get((object_id, frame_index))

    def pop(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        cap = self._items.pop((object_id, frame_index), None)
        if cap is not None:
            self.nbytes -= self._hold(cap, -1)
        return cap

    def drop_object(self, object_id: int) -> None:
        """Forget every capture of an object (it was removed, or lost its last prompt)."""
        for key in [k for k in self._items if k[0] == object_id]:
            self.pop(*key)

    def clear(self) -> None:
        self._items.clear()
        self._shared.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def frames(self, object_id: int) -> list[int]:
        """Frames that hold a capture of the object, in order."""
        return sorted(f for o, f in self._items if o == object_id)


class DecoderRecorder:
    """Records the one decoder call of a tracking pass it was armed for, into a ``CaptureStore``.

    The hook sits on the shared decoder, so it must stay silent for every call it was not armed for:
    prompted passes, and LIT-LoRA's own decoder runs on captured inputs.
    """

    def __init__(self, decoder: torch.nn.Module, store: CaptureStore) -> None:
        self.store = store
        self.constants: DecoderConstants | None = None
        self._armed: tuple[int, int] | None = None
        self._last: DecoderCapture | None = None
        self._hook = decoder.register_forward_pre_hook(self._on_decoder_call, with_kwargs=True)

    def arm(self, key: tuple[int, int] | None) -> None:
        """Record the decoder's next call as (object, frame) ``key``; None records nothing."""
        self._armed = key
        self._last = None

    def disarm(self) -> None:
        self._armed = None

    def keep(self, low_res_logits: torch.Tensor, score: float) -> None:
        """Complete the recorded capture with what SAM2 predicted, and store it (if one was recorded)."""
        cap = self._last
        if cap is not None:
            cap.sam_low_res_logits = low_res_logits.detach()
            cap.sam_score = score
            self.store.put(cap)

    def close(self) -> None:
        """Take the hook off the shared decoder."""
        self._hook.remove()

    def _on_decoder_call(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook on the mask decoder: record an unprompted tracking pass's inputs."""
        ctx = self._armed
        if ctx is None:
            return None
        self._armed = None  # one decoder call per tracking pass
        if self.constants is None:
            self.constants = DecoderConstants(
                image_positional_embeddings=kwargs["image_positional_embeddings"][:1].detach(),
                sparse_prompt_embeddings=kwargs["sparse_prompt_embeddings"][:1].detach(),
                dense_prompt_embeddings=kwargs["dense_prompt_embeddings"][:1].detach(),
            )
        self._last = DecoderCapture(
            object_id=ctx[0],
            frame_index=ctx[1],
            image_embeddings=kwargs["image_embeddings"].detach(),
            high_resolution_features=tuple(t.detach() for t in kwargs["high_resolution_features"]),
            multimask_output=bool(kwargs.get("multimask_output", False)),
        )
        return None
