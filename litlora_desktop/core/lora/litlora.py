"""LIT-LoRA: learn from each correction and propose candidate masks (README, "LIT-LoRA"; LIT, CVPR 2026).

Per object, every correction of a tracked frame becomes a ``CorrectionSample``: the mask decoder's
inputs captured when SAM2 tracked that frame unprompted, and the corrected mask as target. LoRA
adapters on the decoder's two-way transformer (q/k/v of every attention) learn to produce the
corrected mask *without clicks*; on later frames each adapter runs on the frame's captured inputs and
proposes a ``CandidateMask``. Accepting one writes it into SAM2's memory as a mask prompt (the
public-API way to make the candidate that frame's memory), so tracking continues from it.

``LitLoRA`` is the one object the app, the evaluation and the self-test use. The parts it joins:
``samples`` (corrections as lessons), ``objects`` (what is kept per object), ``adapters`` (the bank
in the shared decoder), ``trainer`` (which adapter learns, and when to stop), ``candidates`` and
``adapter_files`` (saving and checked loading).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from litlora_desktop.core.lora.adapter_files import read_adapters, save_adapters
from litlora_desktop.core.lora.adapters import AdapterBank
from litlora_desktop.core.lora.candidates import CandidateMask, propose
from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.objects import ObjectLoRA
from litlora_desktop.core.lora.samples import CorrectionSample, target_from_mask
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.lora.trainer import CancelFn, Trainer, TrainProgress
from litlora_desktop.core.sam2.capture import DecoderCapture
from litlora_desktop.core.sam2.results import ObjectMask
from litlora_desktop.core.sam2.tracker import Tracker

__all__ = ["PARKED_OBJECTS", "LitLoRA", "LoadReport"]

PARKED_OBJECTS = 4
"""Deleted objects whose adapters and samples are kept for an undo (``LitLoRA.park``); a sample is
up to ~17 MiB at 1024 px, so the oldest go."""


@dataclass
class LoadReport:
    """What ``LitLoRA.restore`` put in: adapter labels and sample counts per object, and whether
    LIT_LoRA was on when the folder was saved."""

    adapters: dict[int, list[str]] = field(default_factory=dict)
    samples: dict[int, int] = field(default_factory=dict)
    enabled: bool = False


class LitLoRA:
    """The LIT-LoRA engine over one ``Tracker``: samples, adapter bank, trainer, candidates, accept.

    Blocking and thread-safe through the tracker's lock: call it from the model worker thread.
    """

    def __init__(self, tracker: Tracker, settings: LoraSettings | None = None) -> None:
        self.tracker = tracker
        self.settings = settings or LoraSettings()
        self.decoder = tracker.model.mask_decoder
        self.lock = tracker.model_lock
        self.bank = AdapterBank(tracker)
        self._objects: dict[int, ObjectLoRA] = {}
        self._parked: dict[int, ObjectLoRA] = {}  # deleted objects', oldest first (``park``)
        self.trainer = Trainer(self.bank, self._objects, lambda: self.settings)

    # ------------------------------------------------------------------------------ bookkeeping
    def _obj(self, object_id: int) -> ObjectLoRA:
        return self._objects.setdefault(object_id, ObjectLoRA())

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
            self.bank.keep_constants()
            target = target_from_mask(mask, self.tracker.image_size, self.tracker.device)
            sample = CorrectionSample.from_capture(cap, target)
        self._obj(object_id).add_sample(sample, self.settings.max_samples_per_object)
        return sample

    def remove_correction(self, object_id: int, frame_index: int) -> bool:
        """Withdraw a correction (the user undid it): its sample leaves the queue and the replay pool.

        An adapter already trained on it keeps that lesson until it is retrained (``train(batch=True)``
        rebuilds from the remaining samples); untraining one sample exactly is not possible.
        """
        ob = self._objects.get(object_id)
        if ob is None:
            return False
        return ob.remove_frame(frame_index)

    # ------------------------------------------------------------------------------ training
    def train_steps(self, object_id: int, should_cancel: CancelFn | None = None) -> Iterator[TrainProgress]:
        """Train on the object's pending corrections, yielding after each epoch (``Trainer.steps``)."""
        return self.trainer.steps(object_id, should_cancel)

    def train_batch_steps(
        self, object_id: int, should_cancel: CancelFn | None = None
    ) -> Iterator[TrainProgress]:
        """Retrain from every collected sample (``Trainer.batch_steps``)."""
        return self.trainer.batch_steps(object_id, should_cancel)

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

    # ------------------------------------------------------------------------------ candidates
    def candidates(
        self, object_id: int, frame_index: int, capture: DecoderCapture | None = None
    ) -> list[CandidateMask]:
        """One candidate per adapter for a tracked frame, best first; [] before any adapter exists
        or once the frame's decoder capture is gone. ``capture``: the frame's capture, handed over
        when the tracker's store is evicting it."""
        ob = self._objects.get(object_id)
        cap = capture if capture is not None else self.tracker.capture(object_id, frame_index)
        if ob is None or not ob.adapters or cap is None:
            return []
        self.ensure_ready()
        if self.bank.constants is None:
            return []
        return propose(self.bank, ob, cap)

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

    def auto_apply(
        self, object_id: int, frame_index: int, candidates: list[CandidateMask] | None = None
    ) -> CandidateMask | None:
        """Accept the top candidate without asking when auto-apply is on and it is confident enough.

        ``candidates``: the frame's, when the caller computed them already (to show them if declined).
        """
        if not self.settings.auto_apply:
            return None
        cands = candidates if candidates is not None else self.candidates(object_id, frame_index)
        if cands and cands[0].confidence >= self.settings.auto_apply_threshold:
            self.accept(cands[0])
            return cands[0]
        return None

    # ------------------------------------------------------------------------------ lifecycle
    def drop_object(self, object_id: int) -> None:
        """Free an object's samples and adapters (its captures belong to the tracker)."""
        ob = self._objects.pop(object_id, None)
        if ob is not None:
            self._free(ob)

    def park(self, object_id: int) -> None:
        """The object left the annotation (deleted, or its adding undone): its adapters and samples
        are kept aside, so that an undo brings them back with it (``unpark``). Only the newest
        ``PARKED_OBJECTS`` are kept; older ones are freed."""
        ob = self._objects.pop(object_id, None)
        if ob is None:
            return
        ob.pending.clear()
        ob.samples[:] = [x.to("cpu") for x in ob.samples]  # a GPU's memory is for the objects at work
        self._parked[object_id] = ob
        while len(self._parked) > PARKED_OBJECTS:
            self._free(self._parked.pop(next(iter(self._parked))))

    def unpark(self, object_id: int) -> bool:
        """The object is back (an undo): its parked adapters and samples with it; True if there were."""
        ob = self._parked.pop(object_id, None)
        if ob is None or object_id in self._objects:
            if ob is not None:
                self._free(ob)
            return False
        ob.samples[:] = [x.to(self.tracker.device) for x in ob.samples]
        self._objects[object_id] = ob
        return True

    def _free(self, ob: ObjectLoRA) -> None:
        with self.lock:
            for name in ob.adapters:
                self.bank.delete(name)
        ob.samples.clear()
        ob.pending.clear()

    def close(self) -> None:
        """Free everything: samples, adapters (parked ones too), cached constants."""
        for oid in list(self._objects):
            self.drop_object(oid)
        while self._parked:
            self._free(self._parked.pop(next(iter(self._parked))))
        self.bank.constants = None

    # ------------------------------------------------------------------------------ persistence
    def save(self, folder: str | Path, enabled: bool = False) -> Path:
        """Write every adapter (safetensors), each object's newest samples (bounded, see
        ``adapter_files``), the config and whether LIT_LoRA is on (``enabled``) into ``folder``."""
        return save_adapters(folder, self.bank, self._objects, self.settings, enabled)

    def load(self, folder: str | Path, object_map: dict[int, int] | None = None) -> dict[int, list[str]]:
        """Load saved adapters and samples (e.g. from another video); the loaded labels per object.

        ``restore`` with its report; ``object_map`` maps saved object ids to this tracker's ids.
        """
        return self.restore(folder, object_map).adapters

    def restore(
        self,
        folder: str | Path,
        object_map: dict[int, int] | None = None,
        same_video: bool = True,
        only: Collection[int] | None = None,
    ) -> LoadReport:
        """Load saved adapters with their samples, so replay continues where it stopped.

        ``object_map`` maps saved object ids to this tracker's ids (default: same ids). Everything is
        checked before anything changes (``adapter_files.read_adapters``); every refusal is one
        LitLoRAError sentence. ``same_video``: the folder is this video's own project, so its
        accepted candidates and correction counts come back too; otherwise (another video) its
        samples keep the folder as their origin, so no correction here replaces one of them.
        ``only``: the saved objects to load (None: every one).
        """
        folder = Path(folder)
        plan = read_adapters(folder, self.bank, object_map or {}, only)
        shape = (plan.rank, plan.alpha, plan.dropout)
        mine = (self.settings.rank, self.settings.alpha, self.settings.dropout)
        if plan.adapters and shape != mine and any(o.adapters for o in self._objects.values()):
            raise LitLoRAError(
                f"The adapters in {folder} have LoRA rank {plan.rank} (alpha {plan.alpha:g}) but this "
                f"project's have rank {mine[0]} (alpha {mine[1]:g}): they cannot be used together."
            )
        if plan.adapters:
            # adapters are rebuilt with the shape they were trained with. In place: the app keeps this
            # settings object and changes auto-apply on it later
            checked = LoraSettings.from_dict(
                asdict(self.settings) | {"rank": plan.rank, "alpha": plan.alpha, "dropout": plan.dropout}
            )
            self.settings.rank, self.settings.alpha, self.settings.dropout = (
                checked.rank,
                checked.alpha,
                checked.dropout,
            )
        report = LoadReport(enabled=plan.enabled)
        names: dict[tuple[int, str], str] = {}  # (object, saved label) -> the adapter's name here
        labels: dict[tuple[int, str], str] = {}  # ... and its label here
        with self.lock:
            for pa in plan.adapters:
                ob = self._obj(pa.object_id)
                ad = self.bank.new_adapter(ob, pa.object_id, self.settings)
                ad.trained_on = pa.trained_on
                if not self.bank.load_weights(ad.name, pa.weights):
                    raise LitLoRAError(f"The adapter {folder / pa.file} does not fit this model's decoder.")
                names[(pa.object_id, pa.label)] = ad.name
                labels[(pa.object_id, pa.label)] = ad.label
                report.adapters.setdefault(pa.object_id, []).append(ad.label)
            self.bank.keep_constants_if_possible()
        origin = "" if same_video else str(folder)
        for ps in plan.samples:
            t = ps.tensors
            sample = CorrectionSample(
                object_id=ps.object_id,
                frame_index=ps.frame_index,
                image_embeddings=t["image_embeddings"],
                high_resolution_features=(t["high_res_0"], t["high_res_1"]),
                target=t["target"],
                created=ps.created,
                adapter=names.get((ps.object_id, ps.adapter_label or "")),
                origin=ps.origin or origin,
            )
            ob = self._obj(ps.object_id)
            ob.samples = [
                x for x in ob.samples if (x.frame_index, x.origin) != (sample.frame_index, sample.origin)
            ]
            ob.samples.append(sample)  # learned already: replayed, not queued
            del ob.samples[: -self.settings.max_samples_per_object]
            report.samples[ps.object_id] = report.samples.get(ps.object_id, 0) + 1
        if same_video:
            for oid, acc in plan.accepted.items():
                ob = self._obj(oid)
                ob.accepted.update({f: labels.get((oid, a), a) for f, a in acc.items()})
            for oid, n in plan.corrections.items():
                self._obj(oid).corrections += n
        return report

    def ensure_ready(self) -> None:
        """Pick up the decoder constants once the tracker has tracked a frame (for loaded adapters)."""
        with self.lock:
            self.bank.keep_constants_if_possible()
