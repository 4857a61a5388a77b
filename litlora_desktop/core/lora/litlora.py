"""LIT-LoRA: learn from each correction and propose candidate masks (README, "LIT-LoRA"; LIT, CVPR 2026).

Per object, every correction of a tracked frame becomes a ``CorrectionSample``: the mask decoder's
inputs captured when SAM2 tracked that frame unprompted, and the corrected mask as target. LoRA
adapters on the decoder's two-way transformer (q/k/v of every attention) learn to produce the
corrected mask *without clicks*; on later frames each adapter runs on the frame's captured inputs and
proposes a ``CandidateMask``. Accepting one writes it into SAM2's memory as a mask prompt (the
public-API way to make the candidate that frame's memory), so tracking continues from it.

Modes, stated plainly: SAM2.1 tracks with multimask output (best of three by predicted IoU); the
adapters are trained and used in single-mask mode (mask token 0) as in the paper, and SAM2's
"dynamic multimask via stability" fallback is switched off for these calls so that training and
candidates always see the same output.

All adapters of all objects are named PEFT adapters injected into the one shared decoder (no copies).
Tracking runs with every adapter disabled, so SAM2's own masks are bit-identical to a model without
adapters. Every model access takes the tracker's ``model_lock``; training releases it between epochs
so tracking steps interleave with a long training run.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from itertools import count
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from peft import LoraConfig
from peft.functional import (
    delete_adapter,
    get_peft_model_state_dict,
    inject_adapter_in_model,
    set_adapter,
    set_peft_model_state_dict,
)
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file

from litlora_desktop.core.files import read_regular_file
from litlora_desktop.core.lora.losses import VOID, iou_scores, mask_loss
from litlora_desktop.core.sam2.preprocess import upsample_logits
from litlora_desktop.core.sam2.results import ObjectMask
from litlora_desktop.core.sam2.tracker import Tracker

SCHEMA_VERSION = 1
# q/k/v projections of both two-way blocks (self-attention and both cross-attentions) and of the final
# token-to-image attention: 7 attentions x 3 projections = 21 LoRA'd layers.
TARGET_MODULES = (
    r"transformer\.(layers\.\d+\.(self_attn|cross_attn_token_to_image|cross_attn_image_to_token)"
    r"|final_attn_token_to_image)\.(q_proj|k_proj|v_proj)"
)
MAX_RANK = 64  # a LoRA rank read from a file is bounded: 10**7 tried to allocate 5 GB
MAX_ADAPTERS_PER_OBJECT = 16
CancelFn = Callable[[], bool]
_bank_ids = count(1)


class LitLoRAError(Exception):
    """A LIT-LoRA request that cannot be honoured; the message is meant for the user."""


@dataclass
class LoraSettings:
    """Every knob of the method; defaults are the authors' code (rank 4, alpha 4, dropout 0.1)."""

    rank: int = 4
    alpha: float = 4.0
    dropout: float = 0.1
    lr_new: float = 1e-4
    lr_finetune: float = 5e-5
    max_epochs_new: int = 100
    max_epochs_finetune: int = 20
    patience: int = 10  # stop after this many epochs without gain ...
    converged_iou: float = 0.6  # ... once the best IoU is above this
    give_up_epoch: int = 50  # give up at this epoch ...
    give_up_iou: float = 0.2  # ... if the best IoU is still below this
    zero_iou_epoch: int = 10  # give up at this epoch if the best IoU is 0
    max_adapters: int = 3
    new_adapter_iou: float = 0.4  # a correction the best adapter scores <= this starts a new adapter
    replay: int = 5
    max_samples_per_object: int = 32  # bounded replay memory (oldest dropped first)
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    auto_apply: bool = False
    auto_apply_threshold: float = 0.9

    def __post_init__(self) -> None:
        if self.rank < 1 or self.max_adapters < 1:
            raise ValueError("rank and max_adapters must be at least 1")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoraSettings:
        """Build from saved settings, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# A tiny *random* decoder must learn spatial selection from scratch: the paper's defaults (rank 4,
# lr 1e-4, 20 focal + 1 dice) are for a pretrained SAM2, whose unprompted output is already close to
# the object, and make no visible progress on a random one. This preset (more capacity, a larger step,
# a dice-heavy loss so a small object cannot collapse to "all background") is for random test and
# developer models only: the tests, ``--model tiny-random`` and ``litlora-eval --model tiny-random``.
RANDOM_DECODER_LORA: dict[str, Any] = {
    "rank": 16,
    "alpha": 16,
    "lr_new": 3e-3,
    "lr_finetune": 1e-3,
    "focal_weight": 1.0,
    "dice_weight": 5.0,
    "focal_alpha": 0.75,
    "max_epochs_new": 300,
    "max_epochs_finetune": 100,
    "give_up_epoch": 250,
}


@dataclass
class CorrectionSample:
    """One lesson: decoder inputs of an unprompted pass on a frame, and the mask it should have given."""

    object_id: int
    frame_index: int
    image_embeddings: torch.Tensor  # (1, C, h, w), a normal (autograd-capable) tensor
    high_resolution_features: tuple[torch.Tensor, ...]
    target: torch.Tensor  # (S, S) uint8: 0, 1, or 255 void
    created: float = field(default_factory=time.time)
    adapter: str | None = None

    @property
    def nbytes(self) -> int:
        ts = [self.image_embeddings, *self.high_resolution_features, self.target]
        return sum(t.numel() * t.element_size() for t in ts)


@dataclass
class CandidateMask:
    """An adapter's proposal for a frame, with how sure it is and how much it differs from SAM2."""

    object_id: int
    frame_index: int
    adapter: str
    mask: np.ndarray  # (H, W) bool
    predicted_iou: float
    object_score: float
    iou_with_sam: float

    @property
    def confidence(self) -> float:
        """Predicted IoU times the probability the object is present, in [0, 1]."""
        return float(self.predicted_iou) / (1.0 + math.exp(-float(self.object_score)))


@dataclass
class TrainProgress:
    """Reported after every epoch and once at the end of a training job."""

    object_id: int
    adapter: str
    epoch: int
    max_epochs: int
    loss: float
    iou: float
    best_iou: float
    new_adapter: bool
    finished: bool = False
    outcome: str | None = None  # converged | max_epochs | gave_up | cancelled


@dataclass
class _Adapter:
    name: str
    label: str  # what the user sees, e.g. "A1"
    created: float = field(default_factory=time.time)
    trained_on: list[int] = field(default_factory=list)  # frames


@dataclass
class _ObjectLoRA:
    samples: list[CorrectionSample] = field(default_factory=list)
    pending: list[CorrectionSample] = field(default_factory=list)
    adapters: dict[str, _Adapter] = field(default_factory=dict)
    accepted: dict[int, str] = field(default_factory=dict)  # frame -> adapter label
    corrections: int = 0
    next_label: int = 1


class LitLoRA:
    """The LIT-LoRA engine over one ``Tracker``: samples, adapter bank, trainer, candidates, accept.

    Blocking and thread-safe through the tracker's lock: call it from the model worker thread.
    """

    def __init__(self, tracker: Tracker, settings: LoraSettings | None = None) -> None:
        self.tracker = tracker
        self.settings = settings or LoraSettings()
        self.decoder = tracker.model.mask_decoder
        self.lock = tracker.model_lock
        self._bank = f"b{next(_bank_ids)}"
        self._objects: dict[int, _ObjectLoRA] = {}
        self._constants: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._injected = False

    # ------------------------------------------------------------------------------ bookkeeping
    def _obj(self, object_id: int) -> _ObjectLoRA:
        return self._objects.setdefault(object_id, _ObjectLoRA())

    def num_samples(self, object_id: int) -> int:
        return len(self._objects[object_id].samples) if object_id in self._objects else 0

    def num_adapters(self, object_id: int) -> int:
        return len(self._objects[object_id].adapters) if object_id in self._objects else 0

    def adapter_labels(self, object_id: int) -> list[str]:
        return (
            [a.label for a in self._objects[object_id].adapters.values()]
            if object_id in self._objects
            else []
        )

    def has_pending(self, object_id: int) -> bool:
        return object_id in self._objects and bool(self._objects[object_id].pending)

    def corrections_saved(self, object_id: int | None = None) -> int:
        """Candidates accepted instead of a correction (what the product saves the annotator)."""
        if object_id is not None:
            return len(self._objects[object_id].accepted) if object_id in self._objects else 0
        return sum(len(o.accepted) for o in self._objects.values())

    @property
    def memory_bytes(self) -> int:
        """Bytes held by samples (adapters are a few hundred KB at most)."""
        return sum(s.nbytes for o in self._objects.values() for s in o.samples)

    # ------------------------------------------------------------------------------ samples
    def add_correction(self, object_id: int, frame_index: int, mask: np.ndarray) -> CorrectionSample | None:
        """Record a correction: the corrected mask of a frame SAM2 had tracked for this object.

        ``mask`` is bool, or uint8 with 255 for void pixels. Returns None (nothing to learn from) when
        the tracker holds no unprompted capture for that frame: e.g. it was never tracked, only clicked.
        """
        cap = self.tracker.capture(object_id, frame_index)
        if cap is None:
            return None
        src = self.tracker.source
        mask = np.asarray(mask)
        if mask.shape != (src.height, src.width):
            raise LitLoRAError(
                f"corrected mask is {mask.shape[::-1]} but the video is {src.width}x{src.height}"
            )
        with self.lock, torch.inference_mode(False):
            self._keep_constants()
            sample = CorrectionSample(
                object_id=object_id,
                frame_index=frame_index,
                image_embeddings=cap.image_embeddings.clone(),
                high_resolution_features=tuple(t.clone() for t in cap.high_resolution_features),
                target=self._target(mask),
            )
        ob = self._obj(object_id)
        ob.samples = [s for s in ob.samples if s.frame_index != frame_index]
        ob.pending = [s for s in ob.pending if s.frame_index != frame_index]
        ob.samples.append(sample)
        ob.pending.append(sample)
        ob.corrections += 1
        while len(ob.samples) > self.settings.max_samples_per_object:
            old = ob.samples.pop(0)
            if old in ob.pending:
                ob.pending.remove(old)
        return sample

    def remove_correction(self, object_id: int, frame_index: int) -> bool:
        """Withdraw a correction (the user undid it): its sample leaves the queue and the replay pool.

        An adapter already trained on it keeps that lesson until it is retrained (``train(batch=True)``
        rebuilds from the remaining samples); untraining one sample exactly is not possible.
        """
        ob = self._objects.get(object_id)
        if ob is None:
            return False
        before = len(ob.samples) + len(ob.pending)
        ob.samples = [s for s in ob.samples if s.frame_index != frame_index]
        ob.pending = [s for s in ob.pending if s.frame_index != frame_index]
        removed = len(ob.samples) + len(ob.pending) < before
        if removed:
            ob.corrections = max(0, ob.corrections - 1)
        return removed

    def _target(self, mask: np.ndarray) -> torch.Tensor:
        s = self.tracker.image_size
        if mask.dtype == bool:
            labels = mask.astype(np.uint8)
        else:
            labels = np.where(mask == VOID, VOID, (mask > 0).astype(np.uint8)).astype(np.uint8)
        fg = cv2.resize((labels == 1).astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) >= 0.5
        void = cv2.resize((labels == VOID).astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) >= 0.5
        out = np.where(void, VOID, fg.astype(np.uint8)).astype(np.uint8)
        return torch.from_numpy(out).to(self.tracker.device)

    def _keep_constants(self) -> None:
        if self._constants is None:
            k = self.tracker.decoder_constants
            if k is None:
                raise LitLoRAError("no tracked frame yet: nothing has been captured")
            self._constants = (
                k.image_positional_embeddings.clone(),
                k.sparse_prompt_embeddings.clone(),
                k.dense_prompt_embeddings.clone(),
            )

    # ------------------------------------------------------------------------------ adapters
    def _lora_config(self) -> LoraConfig:
        s = self.settings
        return LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=TARGET_MODULES)

    def _layers(self) -> list[BaseTunerLayer]:
        return [m for m in self.decoder.modules() if isinstance(m, BaseTunerLayer)]

    def _new_adapter(self, ob: _ObjectLoRA, object_id: int) -> _Adapter:
        label = f"A{ob.next_label}"
        ob.next_label += 1
        name = f"{self._bank}_o{object_id}_{label}"
        with warnings.catch_warnings():  # several named adapters in one decoder is the design
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            inject_adapter_in_model(self._lora_config(), self.decoder, adapter_name=name)
        self._injected = True
        self._enable(False)
        ad = _Adapter(name=name, label=label)
        ob.adapters[name] = ad
        return ad

    def _delete(self, name: str) -> None:
        delete_adapter(self.decoder, name, prefix="lora_")
        self._enable(False)

    def _enable(self, enabled: bool) -> None:
        for layer in self._layers():
            layer.enable_adapters(enabled)

    def _params(self, name: str) -> list[torch.nn.Parameter]:
        return [p for n, p in self.decoder.named_parameters() if f".{name}." in n and "lora_" in n]

    def _snapshot(self, name: str) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.decoder.named_parameters() if f".{name}." in n}

    def _restore(self, name: str, snap: dict[str, torch.Tensor]) -> None:
        params = dict(self.decoder.named_parameters())
        with torch.no_grad():
            for n, t in snap.items():
                params[n].copy_(t)

    @contextmanager
    def _active(self, name: str, train: bool = False) -> Iterator[None]:
        """One adapter on, dropout only while training, single-mask output pinned to token 0."""
        set_adapter(self.decoder, name, inference_mode=not train)
        self._enable(True)
        dyn = self.decoder.dynamic_multimask_via_stability
        self.decoder.dynamic_multimask_via_stability = False
        drop = [m for n, m in self.decoder.named_modules() if n.endswith(f"lora_dropout.{name}")]
        for m in drop:
            m.train(train)
        try:
            yield
        finally:
            for m in drop:
                m.train(False)
            self.decoder.dynamic_multimask_via_stability = dyn
            self._enable(False)

    def _autocast(self):
        dt = self.tracker.autocast_dtype
        return torch.autocast(self.tracker.device.type, dtype=dt) if dt is not None else nullcontext()

    def _forward(
        self, embeddings: torch.Tensor, hires: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder alone, single-mask: (logits at S x S (B, S, S), predicted IoU (B,), object score (B,))."""
        assert self._constants is not None
        pos, sparse, dense = self._constants
        b = embeddings.shape[0]
        with self._autocast():
            masks, iou, _, obj = self.decoder(
                image_embeddings=embeddings,
                image_positional_embeddings=pos.expand(b, -1, -1, -1),
                sparse_prompt_embeddings=sparse.expand(b, -1, -1, -1),
                dense_prompt_embeddings=dense.expand(b, -1, -1, -1),
                multimask_output=False,
                high_resolution_features=hires,
            )
        s = self.tracker.image_size
        logits = torch.nn.functional.interpolate(
            masks[:, 0].float(), size=(s, s), mode="bilinear", align_corners=False
        )
        return logits[:, 0], iou.float().reshape(b), obj.float().reshape(b)

    @staticmethod
    def _batch(samples: list[CorrectionSample]) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        emb = torch.cat([s.image_embeddings for s in samples])
        hires = [torch.cat([s.high_resolution_features[i] for s in samples]) for i in range(2)]
        tgt = torch.stack([s.target for s in samples])
        return emb, hires, tgt

    def _eval_ious(self, name: str, samples: list[CorrectionSample]) -> torch.Tensor:
        emb, hires, tgt = self._batch(samples)
        with self.lock, self._active(name), torch.no_grad():
            logits, _, _ = self._forward(emb, hires)
        return iou_scores(logits, tgt)

    # ------------------------------------------------------------------------------ training
    def train_steps(self, object_id: int, should_cancel: CancelFn | None = None) -> Iterator[TrainProgress]:
        """Train on the object's pending corrections, one after another, yielding after each epoch.

        Policy (§4.4): no adapter yet, or the best adapter scores IoU <= ``new_adapter_iou`` on the
        correction while fewer than ``max_adapters`` exist: a new adapter learns it. Otherwise the best
        adapter is fine-tuned on it plus a replay of the ``replay`` earlier samples it scores best on.
        """
        ob = self._objects.get(object_id)
        while ob is not None and ob.pending:
            if should_cancel is not None and should_cancel():
                return
            sample = ob.pending.pop(0)
            name, new, batch = self._plan(ob, object_id, sample)
            s = self.settings
            yield from self._fit(
                object_id,
                name,
                batch,
                new=new,
                lr=s.lr_new if new else s.lr_finetune,
                max_epochs=s.max_epochs_new if new else s.max_epochs_finetune,
                should_cancel=should_cancel,
            )
            ad = ob.adapters.get(name)
            if ad is not None:
                sample.adapter = name
                ad.trained_on.append(sample.frame_index)

    def train(
        self,
        object_id: int,
        should_cancel: CancelFn | None = None,
        progress: Callable[[TrainProgress], None] | None = None,
        batch: bool = False,
    ) -> list[TrainProgress]:
        """Blocking form of ``train_steps`` (or ``train_batch_steps`` with ``batch``).

        ``progress`` is called after every epoch; returns the final report of each training job.
        """
        steps = self.train_batch_steps if batch else self.train_steps
        finals = []
        for p in steps(object_id, should_cancel):
            if progress is not None:
                progress(p)
            if p.finished:
                finals.append(p)
        return finals

    def train_batch_steps(
        self, object_id: int, should_cancel: CancelFn | None = None
    ) -> Iterator[TrainProgress]:
        """Retrain from every collected sample: each adapter on its own samples, or a new one on all."""
        ob = self._objects.get(object_id)
        if ob is None or not ob.samples:
            return
        ob.pending.clear()
        s = self.settings
        if not ob.adapters:
            ad = self._new_adapter_locked(ob, object_id)
            yield from self._fit(
                object_id,
                ad.name,
                list(ob.samples),
                new=True,
                lr=s.lr_new,
                max_epochs=s.max_epochs_new,
                should_cancel=should_cancel,
            )
            if ad.name in ob.adapters:
                for smp in ob.samples:
                    smp.adapter = ad.name
            return
        for name in list(ob.adapters):
            mine = [x for x in ob.samples if x.adapter == name] or list(ob.samples)
            yield from self._fit(
                object_id,
                name,
                mine,
                new=False,
                lr=s.lr_finetune,
                max_epochs=s.max_epochs_finetune,
                should_cancel=should_cancel,
            )

    def _new_adapter_locked(self, ob: _ObjectLoRA, object_id: int) -> _Adapter:
        with self.lock:
            return self._new_adapter(ob, object_id)

    def _plan(
        self, ob: _ObjectLoRA, object_id: int, sample: CorrectionSample
    ) -> tuple[str, bool, list[CorrectionSample]]:
        s = self.settings
        best_name, best_iou = None, -1.0
        for name in ob.adapters:
            iou = float(self._eval_ious(name, [sample])[0])
            if iou > best_iou:
                best_name, best_iou = name, iou
        if best_name is None or (best_iou <= s.new_adapter_iou and len(ob.adapters) < s.max_adapters):
            return self._new_adapter_locked(ob, object_id).name, True, [sample]
        earlier = [x for x in ob.samples if x.adapter == best_name and x is not sample]
        if len(earlier) > s.replay:
            scores = self._eval_ious(best_name, earlier)
            order = torch.argsort(scores, descending=True)[: s.replay].tolist()
            earlier = [earlier[i] for i in order]
        return best_name, False, [sample, *earlier]

    def _fit(
        self,
        object_id: int,
        name: str,
        samples: list[CorrectionSample],
        *,
        new: bool,
        lr: float,
        max_epochs: int,
        should_cancel: CancelFn | None,
    ) -> Iterator[TrainProgress]:
        """Train one adapter with early stopping (§4.3), keeping the best epoch's weights."""
        s = self.settings
        emb, hires, tgt = self._batch(samples)
        with self.lock:
            params = self._params(name)
            best_state = None if new else self._snapshot(name)
        best_iou = -1.0 if new else float(self._eval_ious(name, samples).mean())
        opt = torch.optim.AdamW(params, lr=lr)
        since_gain, outcome, epoch, loss_v, iou_v = 0, "max_epochs", 0, float("nan"), 0.0
        for epoch in range(1, max_epochs + 1):
            if should_cancel is not None and should_cancel():
                outcome = "cancelled"
                break
            with self.lock:
                with torch.inference_mode(False), torch.enable_grad(), self._active(name, train=True):
                    logits, _, _ = self._forward(emb, hires)
                    loss = mask_loss(logits, tgt, s.focal_weight, s.dice_weight, s.focal_alpha, s.focal_gamma)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                loss_v = float(loss.detach())
                with self._active(name), torch.no_grad():
                    iou_v = float(iou_scores(self._forward(emb, hires)[0], tgt).mean())
                if iou_v > best_iou:
                    best_iou, best_state, since_gain = iou_v, self._snapshot(name), 0
                else:
                    since_gain += 1
            yield TrainProgress(
                object_id, self._label(object_id, name), epoch, max_epochs, loss_v, iou_v, best_iou, new
            )
            if since_gain >= s.patience and best_iou > s.converged_iou:
                outcome = "converged"
                break
            if epoch >= s.give_up_epoch and best_iou < s.give_up_iou:
                outcome = "gave_up"
                break
            if epoch >= s.zero_iou_epoch and best_iou <= 0.0:
                outcome = "gave_up"
                break
        label = self._label(object_id, name)
        with self.lock:
            useless = new and (best_state is None or outcome == "gave_up")
            if useless:
                self._delete(name)
                self._objects[object_id].adapters.pop(name, None)
            elif best_state is not None:
                self._restore(name, best_state)
        yield TrainProgress(
            object_id,
            label,
            epoch,
            max_epochs,
            loss_v,
            iou_v,
            max(best_iou, 0.0),
            new,
            finished=True,
            outcome=outcome,
        )

    def _label(self, object_id: int, name: str) -> str:
        ad = self._objects[object_id].adapters.get(name)
        return ad.label if ad is not None else name.rsplit("_", 1)[-1]

    # ------------------------------------------------------------------------------ candidates
    def candidates(self, object_id: int, frame_index: int) -> list[CandidateMask]:
        """One candidate per adapter for a tracked frame, best first; [] before any adapter exists."""
        ob = self._objects.get(object_id)
        cap = self.tracker.capture(object_id, frame_index)
        if ob is None or not ob.adapters or cap is None:
            return []
        self.ensure_ready()
        if self._constants is None:
            return []
        src = self.tracker.source
        s = self.tracker.image_size
        out: list[CandidateMask] = []
        with self.lock, torch.no_grad():
            hires = list(cap.high_resolution_features)
            sam = None
            if cap.sam_low_res_logits is not None:
                sam = upsample_logits(cap.sam_low_res_logits, s, src.height, src.width)[0] > 0
            for name, ad in ob.adapters.items():
                with self._active(name):
                    logits, iou, obj = self._forward(cap.image_embeddings, hires)
                mask_t = upsample_logits(logits[:, None], s, src.height, src.width)[0] > 0
                out.append(
                    CandidateMask(
                        object_id=object_id,
                        frame_index=frame_index,
                        adapter=ad.label,
                        mask=mask_t.cpu().numpy(),
                        predicted_iou=float(iou[0]),
                        object_score=float(obj[0]),
                        iou_with_sam=_iou(mask_t, sam) if sam is not None else float("nan"),
                    )
                )
        out.sort(key=lambda c: c.confidence, reverse=True)
        return out

    def accept(self, candidate: CandidateMask) -> ObjectMask:
        """Make a candidate the frame's mask and SAM2's memory there (as a mask prompt).

        The returned mask is exactly the accepted candidate: SAM2's memory necessarily holds it
        resampled to the model's input size, but the annotation is what the annotator accepted.
        """
        result = self.tracker.add_mask(candidate.object_id, candidate.frame_index, candidate.mask)
        self._obj(candidate.object_id).accepted[candidate.frame_index] = candidate.adapter
        return replace(result, mask=candidate.mask.copy())

    def undo_accept(self, object_id: int, frame_index: int) -> ObjectMask | None:
        """Take an accepted candidate back: SAM2's own tracking of that frame is restored."""
        ob = self._objects.get(object_id)
        if ob is None or frame_index not in ob.accepted:
            return None
        del ob.accepted[frame_index]
        self.tracker.clear_prompts(object_id, frame_index)
        res = self.tracker.track(frame_index, object_ids=[object_id])
        return res.masks.get(object_id)

    def auto_apply(self, object_id: int, frame_index: int) -> CandidateMask | None:
        """Accept the top candidate without asking when auto-apply is on and it is confident enough."""
        if not self.settings.auto_apply:
            return None
        cands = self.candidates(object_id, frame_index)
        if cands and cands[0].confidence >= self.settings.auto_apply_threshold:
            self.accept(cands[0])
            return cands[0]
        return None

    # ------------------------------------------------------------------------------ lifecycle
    def drop_object(self, object_id: int) -> None:
        """Free an object's samples and adapters (its captures belong to the tracker)."""
        ob = self._objects.pop(object_id, None)
        if ob is None:
            return
        with self.lock:
            for name in ob.adapters:
                self._delete(name)
        ob.samples.clear()
        ob.pending.clear()

    def close(self) -> None:
        """Free everything: samples, adapters, cached constants."""
        for oid in list(self._objects):
            self.drop_object(oid)
        self._constants = None

    # ------------------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write every adapter (safetensors), its config and sample metadata into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "settings": asdict(self.settings),
            "objects": {},
        }
        with self.lock:
            for oid, ob in self._objects.items():
                ads = []
                for name, ad in ob.adapters.items():
                    fname = f"object{oid}_{ad.label}.safetensors"
                    sd = get_peft_model_state_dict(self.decoder, adapter_name=name)
                    tmp = folder / (fname + ".tmp")
                    save_file({k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(tmp))
                    tmp.replace(folder / fname)
                    ads.append(
                        {"label": ad.label, "file": fname, "created": ad.created, "trained_on": ad.trained_on}
                    )
                meta["objects"][str(oid)] = {
                    "adapters": ads,
                    "samples": [
                        {
                            "frame": x.frame_index,
                            "created": x.created,
                            "adapter": self._label(oid, x.adapter) if x.adapter in ob.adapters else None,
                        }
                        for x in ob.samples
                    ],
                    "accepted": {str(f): a for f, a in ob.accepted.items()},
                    "corrections": ob.corrections,
                }
        tmp = folder / "litlora.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(folder / "litlora.json")
        return folder

    def load(self, folder: str | Path, object_map: dict[int, int] | None = None) -> dict[int, list[str]]:
        """Load saved adapters (e.g. from another video) for candidates here.

        ``object_map`` maps saved object ids to this tracker's ids (default: same ids). Samples' tensors
        are tied to the other video and are not saved; their metadata is. Returns loaded labels per object.

        Everything is checked before anything changes (all or nothing): the rank (1..MAX_RANK), that
        every adapter file is a plain file in ``folder`` itself (no path out of it), its size, and its
        tensors' names, shapes and finiteness against this model's decoder; an adapter whose weights
        are all zero (never trained) is refused too. Every refusal is one LitLoRAError sentence.
        """
        folder = Path(folder)
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
        rank, alpha, dropout, plan = self._checked_plan(folder, meta, object_map or {})
        # adapters are rebuilt with the shape they were trained with
        keep = asdict(self.settings) | {"rank": rank, "alpha": alpha, "dropout": dropout}
        self.settings = LoraSettings.from_dict(keep)
        loaded: dict[int, list[str]] = {}
        with self.lock:
            for oid, fname, trained_on, sd in plan:
                ob = self._obj(oid)
                ad = self._new_adapter(ob, oid)
                ad.trained_on = trained_on
                res = set_peft_model_state_dict(self.decoder, sd, adapter_name=ad.name)
                if getattr(res, "unexpected_keys", None):
                    raise LitLoRAError(f"The adapter {folder / fname} does not fit this model's decoder.")
                self._enable(False)
                loaded.setdefault(oid, []).append(ad.label)
            self._keep_constants_if_possible()
        return loaded

    def _checked_plan(
        self, folder: Path, meta: Any, object_map: dict[int, int]
    ) -> tuple[int, float, float, list[tuple[int, str, list[int], dict[str, torch.Tensor]]]]:
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
        shapes = self._adapter_shapes(rank)
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
                    (oid, fname, trained[:100_000], self._read_adapter(folder / fname, shapes, limit))
                )
        return rank, float(alpha), float(dropout), plan

    def _adapter_shapes(self, rank: int) -> dict[str, tuple[int, int]]:
        """The tensors an adapter of ``rank`` has on this decoder: name -> shape."""
        out = {}
        for name, mod in self.decoder.named_modules():
            if re.fullmatch(TARGET_MODULES, name):
                fin, fout = int(mod.in_features), int(mod.out_features)
                out[f"{name}.lora_A.weight"] = (rank, fin)
                out[f"{name}.lora_B.weight"] = (fout, rank)
        return out

    def _read_adapter(
        self, path: Path, shapes: dict[str, tuple[int, int]], limit: int
    ) -> dict[str, torch.Tensor]:
        """An adapter file's tensors, checked against ``shapes``; LitLoRAError naming the file otherwise."""
        try:
            size = path.stat().st_size
            if size > limit:
                raise LitLoRAError(
                    f"The adapter {path} is {size} bytes, far more than an adapter of this model."
                )
            raw = read_regular_file(path)
        except FileNotFoundError:
            raise LitLoRAError(f"The adapter {path} is missing.") from None
        except OSError as exc:
            raise LitLoRAError(f"The adapter {path} cannot be read: {exc.strerror or exc}.") from None
        try:
            sd = load_safetensors_bytes(raw)
        except Exception:  # safetensors raises its own error types on damaged headers
            raise LitLoRAError(
                f"The adapter {path} is damaged: it is not a readable safetensors file."
            ) from None
        if not sd:
            raise LitLoRAError(f"The adapter {path} is empty: it holds no weights.")
        if set(sd) != set(shapes) or any(tuple(t.shape) != shapes[k] for k, t in sd.items()):
            raise LitLoRAError(
                f"The adapter {path} does not fit this model's decoder (other layers or shapes)."
            )
        if not all(t.is_floating_point() and bool(torch.isfinite(t).all()) for t in sd.values()):
            raise LitLoRAError(
                f"The adapter {path} is damaged: it holds weights that are not finite numbers."
            )
        if not any(bool(t.any()) for k, t in sd.items() if ".lora_B." in k):
            raise LitLoRAError(f"The adapter {path} was never trained: all its weights are zero.")
        return {k: t.to(dtype=torch.float32, device=self.tracker.device) for k, t in sd.items()}

    def _keep_constants_if_possible(self) -> None:
        if self._constants is None and self.tracker.decoder_constants is not None:
            with torch.inference_mode(False):
                self._keep_constants()

    def ensure_ready(self) -> None:
        """Pick up the decoder constants once the tracker has tracked a frame (for loaded adapters)."""
        with self.lock:
            self._keep_constants_if_possible()


def _plain_file_name(folder: Path, name: str) -> bool:
    """True when ``name`` is a bare file name whose file lies in ``folder`` itself (no ``..``, no
    separators, no absolute path, no link out of the folder)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or Path(name).is_absolute() or "\0" in name:
        return False
    try:
        return (folder / name).resolve().parent == folder.resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union > 0 else 1.0
