"""The paper's simulated-annotator protocol on one sequence, with LIT-LoRA off or on.

For each sequence and object: the object is initialised from its first non-empty ground-truth mask and
tracked frame by frame. On every later frame with ground truth, a mask whose IoU is below τ is a
*failing frame*:

1. With LIT-LoRA on, the adapters' candidates are offered first. ``oracle`` (the paper's protocol)
   takes the candidate with the best ground-truth IoU, ``confidence`` the most confident one without
   looking at the ground truth (what an auto-apply user gets). If the chosen candidate reaches τ it is
   accepted (it becomes SAM2's memory on that frame) and no correction is needed. A chosen candidate
   below τ is what the user would reject: the frame is then corrected as without LIT-LoRA.
2. Otherwise the annotator corrects (``annotator.correct_frame``): up to 3 clicks into the tracker,
   then the full ground-truth mask if still below τ. One correction per frame, however many clicks.
   With LIT-LoRA on, the frame's full ground truth (``train_target="gt"``, as the authors' runs) or
   the mask the annotator ended with (``"final"``: the click result, or the ground truth) becomes a
   training sample of the *pre-correction* tracked pass and the object's adapters are trained on it
   right away (blocking, timed), before the next frame is tracked. The correction enters SAM2's
   memory as Meta's predictor keeps it by default: recent memory, not a conditioning frame
   (``corrections_as_cond`` turns on ``add_all_frames_to_correct_as_cond``).

J and F are scored on the masks the annotator ends with on every scored frame (tracked, accepted or
corrected), excluding the initialising frame; frames without ground truth (SA-V annotates every 4th
frame) are tracked but neither scored nor corrected.

The counts go into ``results.ObjectResult``; running a whole dataset (resumably, over several
processes) is ``runner``'s job.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.eval.annotator import correct_frame, training_target
from litlora_desktop.eval.dataset import EvalSequence
from litlora_desktop.eval.metrics import f_measure, jaccard
from litlora_desktop.eval.results import ObjectResult, SequenceResult
from litlora_desktop.eval.runs import BASELINE, SELECT_MODES, TRAIN_TARGETS, EvalError, Protocol

__all__ = ["BASELINE", "SELECT_MODES", "TRAIN_TARGETS", "EvalError", "Protocol", "evaluate_sequence"]


def _choose_candidate(
    cands: list[Any], gt: np.ndarray, protocol: Protocol, void: np.ndarray | None = None
) -> tuple[Any, float] | None:
    if not cands:
        return None
    if protocol.select == "oracle":
        scored = [(c, jaccard(c.mask, gt, void)) for c in cands]
        return max(scored, key=lambda t: t[1])
    top = cands[0]  # sorted by confidence
    if top.confidence < protocol.min_confidence:
        return None
    return top, jaccard(top.mask, gt, void)


def evaluate_sequence(
    model: torch.nn.Module,
    seq: EvalSequence,
    protocol: Protocol,
    *,
    lora_settings: LoraSettings | None = None,
    autocast_dtype: torch.dtype | None = None,
    settings_record: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SequenceResult:
    """Run the simulated annotator over one sequence (see the module docstring) and count.

    ``progress(n)`` is called after every frame with the number of frames just done (1).
    """
    t_start = time.perf_counter()
    torch.manual_seed(zlib.crc32(seq.name.encode()))  # LoRA init and dropout: same result on any worker
    source = VideoSource.open(seq.image_dir, cache_bytes=64 * 2**20)
    if source.num_frames != seq.num_frames:
        source.close()
        raise EvalError(
            f"'{seq.image_dir}' has {source.num_frames} readable frames, expected {seq.num_frames}."
        )
    shape = (source.height, source.width)
    tracker = Tracker(
        model,
        source,
        autocast_dtype=autocast_dtype,
        capture_budget_bytes=256 * 2**20,
        corrections_as_conditioning=protocol.corrections_as_cond,
    )
    engine = LitLoRA(tracker, lora_settings or LoraSettings()) if protocol.lora else None
    results: dict[int, ObjectResult] = {}
    try:
        for f in range(source.num_frames):
            gts, void = seq.frame_truth(f, shape)  # void (255) is ignored by scores and the annotator
            for oid, res in results.items():
                om = tracker.track(f, object_ids=[oid]).masks[oid]
                gt = gts.get(oid)
                if gt is None:
                    continue  # tracked, but nothing to compare with
                res.jt_sum += jaccard(om.mask, gt, void)
                res.ft_sum += f_measure(om.mask, gt, protocol.bound_th, void)
                final = _handle_frame(tracker, engine, protocol, res, f, om.mask, gt, void)
                res.frames += 1
                res.j_sum += jaccard(final, gt, void)
                res.f_sum += f_measure(final, gt, protocol.bound_th, void)
            for oid, gt in gts.items():
                if oid not in results and gt.any():
                    tracker.add_object(oid)
                    tracker.add_mask(oid, f, gt)
                    results[oid] = ObjectResult(object_id=oid, first_frame=f)
            if progress is not None:
                progress(1)
    finally:
        if engine is not None:
            with warnings.catch_warnings():  # PEFT says which adapter becomes active as each is deleted
                warnings.simplefilter("ignore", UserWarning)
                engine.close()
        tracker.close()
        source.close()
    return SequenceResult(
        run=protocol.name,
        sequence=seq.name,
        num_frames=seq.num_frames,
        objects=[results[k] for k in sorted(results)],
        seconds=time.perf_counter() - t_start,
        settings=settings_record or {},
    )


def _handle_frame(
    tracker: Tracker,
    engine: LitLoRA | None,
    protocol: Protocol,
    res: ObjectResult,
    frame: int,
    pred: np.ndarray,
    gt: np.ndarray,
    void: np.ndarray | None = None,
) -> np.ndarray:
    """One object on one tracked frame: pass, accept a candidate, or correct. Returns the final mask."""
    if jaccard(pred, gt, void) >= protocol.tau:
        return pred
    oid = res.object_id
    if engine is not None:
        cands = engine.candidates(oid, frame)
        if cands:
            res.offered += 1
        chosen = _choose_candidate(cands, gt, protocol, void)
        if chosen is not None and chosen[1] >= protocol.tau:
            engine.accept(chosen[0])
            res.acceptances += 1
            res.accepted_frames.append(frame)
            return chosen[0].mask
    corr = correct_frame(
        pred,
        gt,
        lambda click: tracker.add_clicks(oid, frame, [click]).mask,
        tau=protocol.tau,
        max_clicks=protocol.max_clicks,
        void=void,
    )
    res.corrections += 1
    res.clicks += corr.num_clicks
    res.corrected_frames.append(frame)
    if engine is not None:
        # the sample pairs the frame's unprompted tracking pass with the frame's full ground truth
        # (the authors' runs) or with the mask the user ended with; void pixels go in as 255: ignored
        learnt = gt if protocol.train_target == "gt" else corr.mask
        engine.add_correction(oid, frame, training_target(learnt, void))
    if corr.used_ground_truth:
        res.full_masks += 1
        tracker.add_mask(oid, frame, corr.mask)
    if engine is not None and engine.has_pending(oid):
        t0 = time.perf_counter()
        engine.train(oid)
        if tracker.device.type == "cuda":
            torch.cuda.synchronize(tracker.device)
        res.train_seconds += time.perf_counter() - t0
        res.trainings += 1
    return corr.mask
