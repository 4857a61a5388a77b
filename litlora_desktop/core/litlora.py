"""LIT-LoRA: learn from each correction and propose candidate masks (DESIGN.md §4; LIT, CVPR 2026).

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
from safetensors.torch import load_file, save_file

from litlora_desktop.core.losses import VOID, iou_scores, mask_loss
from litlora_desktop.core.preprocess import upsample_logits
from litlora_desktop.core.tracker import ObjectMask, Tracker

SCHEMA_VERSION = 1
# q/k/v projections of both two-way blocks (self-attention and both cross-attentions) and of the final
# token-to-image attention: 7 attentions x 3 projections = 21 LoRA'd layers.
TARGET_MODULES = (
    r"transformer\.(layers\.\d+\.(self_attn|cross_attn_token_to_image|cross_attn_image_to_token)"
    r"|final_attn_token_to_image)\.(q_proj|k_proj|v_proj)"
)
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
        """
        folder = Path(folder)
        try:
            meta = json.loads((folder / "litlora.json").read_text())
        except (OSError, ValueError) as exc:
            raise LitLoRAError(f"{folder} holds no readable LIT-LoRA adapters ({exc})") from exc
        if int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
            raise LitLoRAError(f"{folder} was written by a newer version of LIT-LoRA Desktop")
        saved = LoraSettings.from_dict(meta.get("settings", {}))
        # adapters are rebuilt with the shape they were trained with
        keep = asdict(self.settings) | {"rank": saved.rank, "alpha": saved.alpha, "dropout": saved.dropout}
        self.settings = LoraSettings.from_dict(keep)
        loaded: dict[int, list[str]] = {}
        with self.lock:
            for key, info in meta.get("objects", {}).items():
                oid = (object_map or {}).get(int(key), int(key))
                ob = self._obj(oid)
                for a in info.get("adapters", []):
                    try:
                        sd = load_file(str(folder / a["file"]), device=str(self.tracker.device))
                    except Exception as exc:
                        raise LitLoRAError(
                            f"adapter file {a['file']} in {folder} is unreadable ({exc})"
                        ) from exc
                    ad = self._new_adapter(ob, oid)
                    ad.trained_on = list(a.get("trained_on", []))
                    res = set_peft_model_state_dict(self.decoder, sd, adapter_name=ad.name)
                    if getattr(res, "unexpected_keys", None):
                        raise LitLoRAError(f"adapter {a['file']} does not fit this model's decoder")
                    self._enable(False)
                    loaded.setdefault(oid, []).append(ad.label)
            self._keep_constants_if_possible()
        return loaded

    def _keep_constants_if_possible(self) -> None:
        if self._constants is None and self.tracker.decoder_constants is not None:
            with torch.inference_mode(False):
                self._keep_constants()

    def ensure_ready(self) -> None:
        """Pick up the decoder constants once the tracker has tracked a frame (for loaded adapters)."""
        with self.lock:
            self._keep_constants_if_possible()


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union > 0 else 1.0
