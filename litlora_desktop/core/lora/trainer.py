"""Training the adapters on the annotator's corrections (README, "LIT-LoRA"; LIT §4.3-§4.4).

Which adapter learns a correction (a new one, or the best one fine-tuned with a replay of its earlier
samples), and when an adapter has learned enough (early stopping that keeps the best epoch's weights).
Training takes the tracker's ``model_lock`` per epoch and releases it in between, so tracking steps
interleave with a long training run; the generators yield a ``TrainProgress`` after every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from litlora_desktop.core.lora.adapters import AdapterBank
from litlora_desktop.core.lora.decoder_run import Prepared
from litlora_desktop.core.lora.losses import downsample_target, gate, iou_scores, mask_loss, score_loss
from litlora_desktop.core.lora.objects import AdapterRecord, ObjectLoRA
from litlora_desktop.core.lora.samples import CorrectionSample, stack_samples
from litlora_desktop.core.lora.settings import LoraSettings

__all__ = ["CancelFn", "TrainProgress", "Trainer"]

CancelFn = Callable[[], bool]


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


class Trainer:
    """Trains the adapters of the objects in ``objects`` (the engine's own dict, shared, not copied).

    ``settings`` is read at the moments the engine used to read its settings, so a settings object
    replaced on the engine (a loaded adapter folder brings its rank) takes effect as before.
    """

    reference = False
    """True: every epoch calls the transformers decoder whole, loss at S x S, as before issue 15 (the
    peer ``benchmarks/lora_speed.py`` measures against, and what the tests hold the new path to)."""

    def __init__(
        self, bank: AdapterBank, objects: dict[int, ObjectLoRA], settings: Callable[[], LoraSettings]
    ) -> None:
        self.bank = bank
        self.lock = bank.lock
        self._objects = objects
        self._settings = settings

    def steps(self, object_id: int, should_cancel: CancelFn | None = None) -> Iterator[TrainProgress]:
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
            name, new, batch = self.plan(ob, object_id, sample)
            s = self._settings()
            yield from self.fit(
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

    def batch_steps(self, object_id: int, should_cancel: CancelFn | None = None) -> Iterator[TrainProgress]:
        """Retrain from every collected sample: each adapter on its own samples, or a new one on all."""
        ob = self._objects.get(object_id)
        if ob is None or not ob.samples:
            return
        ob.pending.clear()
        s = self._settings()
        if not ob.adapters:
            ad = self._new_adapter_locked(ob, object_id)
            yield from self.fit(
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
            yield from self.fit(
                object_id,
                name,
                mine,
                new=False,
                lr=s.lr_finetune,
                max_epochs=s.max_epochs_finetune,
                should_cancel=should_cancel,
            )

    def _new_adapter_locked(self, ob: ObjectLoRA, object_id: int) -> AdapterRecord:
        with self.lock:
            return self.bank.new_adapter(ob, object_id, self._settings())

    def plan(
        self, ob: ObjectLoRA, object_id: int, sample: CorrectionSample
    ) -> tuple[str, bool, list[CorrectionSample]]:
        """(adapter name, whether it is new, the batch to train on) for one correction (§4.4)."""
        s = self._settings()
        best_name, best_iou = None, -1.0
        names = list(ob.adapters)
        if names:  # every adapter scores the correction in one decoder call; the first best wins
            scores = self.bank.ious_each(names, sample)
            best = int(torch.argmax(scores))
            best_name, best_iou = names[best], float(scores[best])
        if best_name is None or (best_iou <= s.new_adapter_iou and len(ob.adapters) < s.max_adapters):
            return self._new_adapter_locked(ob, object_id).name, True, [sample]
        earlier = [x for x in ob.samples if x.adapter == best_name and x is not sample]
        if len(earlier) > s.replay:
            scores = self.bank.ious(best_name, earlier)
            order = torch.argsort(scores, descending=True)[: s.replay].tolist()
            earlier = [earlier[i] for i in order]
        return best_name, False, [sample, *earlier]

    def _settle(self, object_id: int, name: str, new: bool, best_state: Any, outcome: str) -> None:
        """The end of a ``fit``: the best epoch's weights stay, and a new adapter that never learned
        (or gave up, unless kept) goes."""
        s = self._settings()
        with self.lock:
            useless = new and (best_state is None or (outcome == "gave_up" and not s.keep_failed_new))
            if useless:
                self.bank.delete(name)
                ob = self._objects.get(object_id)
                if ob is not None:
                    ob.adapters.pop(name, None)
            elif best_state is not None:
                self.bank.restore(name, best_state)

    def fit(
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
        """Train one adapter with early stopping (§4.3), keeping the best epoch's weights.

        The decoder's frozen part is computed once for the batch (``AdapterBank.prepare``), each
        epoch runs only the rest. The mask loss is at S x S, or on the decoder's own low-resolution
        logits without ``loss_full_res``; the IoU that early stopping reads is at S x S either way.
        """
        s = self._settings()
        bank = self.bank
        emb, hires, tgt = stack_samples(samples)
        with self.lock:
            params = bank.params(name)
            best_state = None if new else bank.snapshot(name)
            prep = None if self.reference else bank.prepare(emb, hires)
            best_iou = -1.0 if new else self._iou(name, prep, emb, hires, tgt)
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=s.weight_decay)
        n = emb.shape[0]
        full = s.loss_full_res or prep is None
        loss_tgt = tgt if full else downsample_target(tgt, prep.mask_size)
        # the authors' loop: one optimiser step per sample per epoch (a fine-tune with 5 replayed
        # samples takes 6 steps an epoch); per_sample_steps=False: one step on the whole batch
        groups = [torch.arange(n)] if not s.per_sample_steps else None
        since_gain, outcome, epoch, loss_v, iou_v = 0, "max_epochs", 0, float("nan"), 0.0
        try:
            for epoch in range(1, max_epochs + 1):
                if should_cancel is not None and should_cancel():
                    outcome = "cancelled"
                    break
                with self.lock:
                    losses = []
                    with torch.inference_mode(False), torch.enable_grad(), bank.active(name, train=True):
                        for idx in groups or torch.randperm(n).split(1):
                            if prep is None:  # the reference path (``reference``)
                                logits, _, scores = bank.forward(emb[idx], [h[idx] for h in hires])
                            else:
                                logits, _, scores = bank.run(prep.select(idx), [(name, len(idx))])
                                logits = bank.to_input_size(logits) if full else logits
                            loss = mask_loss(
                                logits,
                                loss_tgt[idx],
                                s.focal_weight,
                                s.dice_weight,
                                s.focal_alpha,
                                s.focal_gamma,
                            )
                            loss = loss + s.score_weight * score_loss(scores, tgt[idx])
                            opt.zero_grad(set_to_none=True)
                            loss.backward()
                            opt.step()
                            losses.append(float(loss.detach()))
                    loss_v = sum(losses) / len(losses)
                    iou_v = self._iou(name, prep, emb, hires, tgt)
                    if iou_v > best_iou:
                        best_iou, best_state, since_gain = iou_v, bank.snapshot(name), 0
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
        except GeneratorExit:  # the job was closed between two epochs (its object deleted): as a cancel
            self._settle(object_id, name, new, best_state, "cancelled")
            raise
        label = self._label(object_id, name)
        self._settle(object_id, name, new, best_state, outcome)
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

    def _iou(
        self,
        name: str,
        prep: Prepared | None,
        emb: torch.Tensor,
        hires: list[torch.Tensor],
        tgt: torch.Tensor,
    ) -> float:
        """Mean IoU of the adapter on the batch at S x S (what early stopping reads), dropout off."""
        bank = self.bank
        with torch.no_grad():
            if prep is None:  # the reference path
                with bank.active(name):
                    logits, _, scores = bank.forward(emb, hires)
            else:
                low, _, scores = bank.run(prep, [(name, emb.shape[0])])
                logits = bank.to_input_size(low)
            return float(iou_scores(gate(logits, scores), tgt).mean())

    def _label(self, object_id: int, name: str) -> str:
        return self._objects[object_id].label_of(name)
