"""Track several objects through one video with SAM2, one frame at a time, as the app drives it.

Design (why it is not one ``Sam2VideoInferenceSession`` for all objects):
transformers' session indexes objects by insertion order, cannot remove one, and its ``forward`` re-runs
*every* object on a frame. Correcting object A would then silently re-track object B. So each object
gets its own session (``memory.ObjectState``), and the image encoder (the expensive part) runs once per
frame: its features are computed here and placed into each object's session cache before the object's
step. Objects therefore never disturb each other, keep their ids, and can be at different places in
the video.

What the tracker keeps and drops of SAM2's memory is in ``memory``; the decoder inputs it records for
LIT-LoRA on every unprompted pass are in ``capture``; prompts and results are plain values
(``prompts``, ``results``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import Sam2VideoModel
from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

from litlora_desktop.core.sam2.capture import CaptureStore, DecoderCapture, DecoderConstants, DecoderRecorder
from litlora_desktop.core.sam2.encoder_cache import cache_constant_encodings
from litlora_desktop.core.sam2.families import family_of
from litlora_desktop.core.sam2.memory import ObjectState, nearest_cond_frames, new_session
from litlora_desktop.core.sam2.preprocess import FrameNormalizer, resize_frame, upsample_logits
from litlora_desktop.core.sam2.prompts import Box, Click, FramePrompts
from litlora_desktop.core.sam2.results import FrameResult, ObjectMask

if TYPE_CHECKING:
    from litlora_desktop.core.video.sources import FrameSource

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


MAX_COND_FRAMES = 4
"""Conditioning frames a step attends to: the nearest in time (SAM2's ``max_cond_frames_in_attn``).

Every prompted frame stays in memory, but a frame attends only to the nearest four, with the others
read like ordinary memory when they fall inside the recent-frame window, exactly as Meta's predictor
does with that setting. Without a limit each step attends to every prompted frame and its object
pointer, and the cost of a frame grows with the number of corrections (README, "The tracker")."""


def _fresh_timings() -> dict[str, float]:
    """Seconds per stage of one tracker call (``FrameResult.timings``), from zero."""
    return {"decode": 0.0, "preprocess": 0.0, "model": 0.0, "postprocess": 0.0}


class TrackerError(Exception):
    """A request the tracker cannot honour; the message is meant for the user."""


@dataclass
class _Features:
    vision_feats: list[torch.Tensor]
    vision_pos_embeds: list[torch.Tensor]
    nbytes: int


class Tracker:
    """SAM2 video tracking of several independent objects over one ``FrameSource``.

    All model work takes ``model_lock``; LIT-LoRA training takes the same lock per step so adapter
    switching can never race with a tracking step. Methods are thread-safe but blocking: call them
    from a worker thread, never from a GUI thread.
    """

    def __init__(
        self,
        model: Sam2VideoModel,
        source: FrameSource,
        *,
        autocast_dtype: torch.dtype | None = None,
        memory_window: int | None = None,
        feature_cache_frames: int = 4,
        capture_budget_bytes: int = 512 * 2**20,
        corrections_as_conditioning: bool = False,
        max_cond_frames: int = MAX_COND_FRAMES,
        model_lock: threading.RLock | None = None,
    ) -> None:
        self.model = model
        # position encodings are the same on every frame: computed once, shared by every cached frame
        self._encodings_shared = cache_constant_encodings(model)
        self.source = source
        self.config = model.config
        self.image_size = int(model.config.image_size)
        self.device = next(model.parameters()).device
        self.autocast_dtype = autocast_dtype
        # SAM2 reads memories from the previous num_maskmem - 1 frames and object pointers from up to
        # max_object_pointers_in_encoder - 1 frames; anything farther from the current frame is evictable.
        needed = max(int(self.config.num_maskmem), int(self.config.max_object_pointers_in_encoder))
        self.memory_window = max(needed, memory_window or needed)
        self.feature_cache_frames = max(1, feature_cache_frames)
        self.corrections_as_conditioning = corrections_as_conditioning
        self.max_cond_frames = max_cond_frames
        self.model_lock = model_lock or threading.RLock()
        self.captures = CaptureStore(capture_budget_bytes)
        self.current_frame = 0
        self.family = family_of(model)  # SAM2 / SAM 3 tracker / EdgeTAM: what differs is in there
        self._normalizer = FrameNormalizer(self.device, torch.float32, self.family.mean, self.family.std)
        self._objects: dict[int, ObjectState] = {}
        self._features: OrderedDict[int, _Features] = OrderedDict()
        self._shared_pos_enc: torch.Tensor | None = None
        self._timings: dict[str, float] = {}
        self._recorder = DecoderRecorder(model.mask_decoder, self.captures)

    # ----------------------------------------------------------------------------------- objects
    @property
    def object_ids(self) -> list[int]:
        return list(self._objects)

    def add_object(self, object_id: int | None = None) -> int:
        """Register an object (no prompt yet) and return its id; ids are never reused by the tracker."""
        with self.model_lock:
            if object_id is None:
                object_id = max(self._objects, default=0) + 1
            if object_id in self._objects:
                raise TrackerError(f"object {object_id} already exists")
            self._objects[object_id] = ObjectState(object_id, self._new_session(object_id))
            return object_id

    def remove_object(self, object_id: int) -> None:
        """Forget an object, its prompts, memories and captures; other objects are untouched."""
        with self.model_lock:
            self._state(object_id)
            del self._objects[object_id]
            self.captures.drop_object(object_id)

    def prompts(self, object_id: int) -> dict[int, FramePrompts]:
        """The prompts of an object by frame (a copy)."""
        return {f: p for f, p in self._state(object_id).prompts.items() if not p.empty}

    def tracked_frames(self, object_id: int) -> list[int]:
        """Frames that hold a current result for the object (prompted or tracked, not stale)."""
        st = self._state(object_id)
        frames = set(st.session.frames_tracked_per_obj.get(0, {})) | set(st.outputs["cond_frame_outputs"])
        return sorted(frames)

    def reset(self) -> None:
        """Drop every object and all tracking state (cached image features are kept)."""
        with self.model_lock:
            self._objects.clear()
            self.captures.clear()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release everything this tracker holds, including its hook on the shared model."""
        with self.model_lock:
            self.reset()
            self._features.clear()
            self._recorder.close()

    # ----------------------------------------------------------------------------------- prompts
    def add_clicks(
        self,
        object_id: int,
        frame_index: int,
        clicks: Sequence[Click],
        *,
        box: Box | None = None,
        replace: bool = False,
    ) -> ObjectMask:
        """Add clicks (and optionally a box) for an object on a frame and return its new mask.

        Clicks accumulate on a frame unless ``replace``; a box replaces the frame's earlier prompts
        (SAM2 needs the box before the points). Results of frames tracked through this one (up to the
        next prompted frame) are dropped: they are stale.
        """
        with self.model_lock:
            st = self._state(object_id)
            self._check_frame(frame_index)
            prev = st.prompts.get(frame_index)
            keep = prev is not None and prev.mask is None and not replace and box is None
            fp = FramePrompts(
                clicks=[*(prev.clicks if keep else []), *clicks], box=box or (prev.box if keep else None)
            )
            if fp.empty:
                raise TrackerError("a prompt needs at least one click or a box")
            return self._apply_prompt(st, frame_index, fp)

    def add_mask(self, object_id: int, frame_index: int, mask: np.ndarray) -> ObjectMask:
        """Use a mask (brush edit, accepted candidate, import) as the object's prompt on a frame.

        SAM2 takes a mask prompt as ground truth for that frame and tracks on from it.
        """
        with self.model_lock:
            st = self._state(object_id)
            self._check_frame(frame_index)
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (self.source.height, self.source.width):
                raise TrackerError(
                    f"mask is {mask.shape[1]}x{mask.shape[0]} but the video is {self.source.width}x{self.source.height}"
                )
            return self._apply_prompt(st, frame_index, FramePrompts(mask=mask.copy()))

    def clear_prompts(self, object_id: int, frame_index: int) -> list[int]:
        """Remove an object's prompts on one frame; returns the frames whose results became stale.

        If that was the object's only prompted frame, the object is back to "no prompt yet".
        """
        with self.model_lock:
            st = self._state(object_id)
            if frame_index not in st.prompts:
                return []
            del st.prompts[frame_index]
            sess = st.session
            sess.remove_point_inputs(0, frame_index)
            sess.remove_mask_inputs(0, frame_index)
            dropped = self._drop_stale(st, frame_index)
            st.outputs["cond_frame_outputs"].pop(frame_index, None)
            st.outputs["non_cond_frame_outputs"].pop(frame_index, None)
            sess.frames_tracked_per_obj.get(0, {}).pop(frame_index, None)
            dropped.append(frame_index)
            if not st.initialized:
                dropped = sorted(set(dropped) | set(self.tracked_frames(object_id)))
                st.session = self._new_session(object_id)
                st.prompts.clear()
                self.captures.drop_object(object_id)
            return sorted(set(dropped))

    # ----------------------------------------------------------------------------------- tracking
    def track(
        self, frame_index: int, reverse: bool = False, object_ids: Sequence[int] | None = None
    ) -> FrameResult:
        """Track every prompted object (or the given ones) on a frame and return their masks.

        ``reverse`` says the frame is reached going backwards in time (memories come from later frames).
        """
        with self.model_lock:
            self._check_frame(frame_index)
            self._timings = _fresh_timings()
            ids = list(object_ids) if object_ids is not None else list(self._objects)
            states = [self._state(i) for i in ids]
            states = [s for s in states if s.initialized]
            result = FrameResult(frame_index, {}, self._timings)
            if not states:
                self.current_frame = frame_index
                return result
            lows, scores, kinds = [], [], []
            for st in states:
                kept = st.prompted_output(frame_index)
                if kept is not None:  # what the user said on this frame: never re-tracked over
                    low = kept["pred_masks"].float()
                    score = float(kept["object_score_logits"].float().reshape(-1)[0])
                else:
                    low, score = self._run(
                        st, frame_index, reverse=reverse, capture=(st.object_id, frame_index)
                    )
                lows.append(low)
                scores.append(score)
                kinds.append("reused" if kept is not None else "tracked")
            masks = self._postprocess(torch.cat(lows, dim=0))
            for st, m, s, k in zip(states, masks, scores, kinds, strict=True):
                result.masks[st.object_id] = ObjectMask(st.object_id, frame_index, m, s, k)
                self._evict(st, frame_index)
            self.current_frame = frame_index
            return result

    def step(self, reverse: bool = False) -> FrameResult:
        """Track the frame after (or before) the current one."""
        nxt = self.current_frame + (-1 if reverse else 1)
        if not 0 <= nxt < self.source.num_frames:
            raise TrackerError("already at the " + ("first" if reverse else "last") + " frame")
        return self.track(nxt, reverse=reverse)

    def propagate(
        self,
        start: int,
        end: int | None = None,
        *,
        reverse: bool = False,
        object_ids: Sequence[int] | None = None,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Iterator[FrameResult]:
        """Track frame by frame from ``start`` (exclusive) to ``end`` (inclusive), yielding each frame.

        Forward or backward; stops early when ``should_cancel()`` returns True. A generator, so a worker
        can check for cancellation and report progress between frames.
        """
        self._check_frame(start)
        if end is None:
            end = 0 if reverse else self.source.num_frames - 1
        self._check_frame(end)
        stepdir = -1 if reverse else 1
        frames = range(start + stepdir, end + stepdir, stepdir)
        if (end - start) * stepdir < 0:
            frames = range(0)
        total = len(frames)
        for done, f in enumerate(frames, start=1):
            if should_cancel is not None and should_cancel():
                return
            res = self.track(f, reverse=reverse, object_ids=object_ids)
            if progress is not None:
                progress(done, total)
            yield res

    def observe(self, object_id: int, frame_index: int) -> bool:
        """Make sure the decoder capture of the object's unprompted pass on a frame is held; True if it is.

        LIT-LoRA learns a correction from the pass SAM2 made on the frame before it. A frame this
        tracker never tracked (a reopened or batch-tracked project) or whose capture the budget
        evicted has none, so the pass is run now from the memory the object holds
        (``ObjectState.observing``: the tracking state is left as it was, only the capture is kept;
        like any pass, it may take the place of older frames in the image-feature cache and of older
        captures in the capture budget). A prompted frame has no unprompted pass (False), nor has an
        object without prompts.
        """
        with self.model_lock:
            st = self._state(object_id)
            self._check_frame(frame_index)
            if self.captures.get(object_id, frame_index) is not None:
                return True
            if not st.initialized or frame_index in self.prompts(object_id):
                return False
            self._timings = _fresh_timings()
            with st.observing(frame_index) as reverse:
                self._run(st, frame_index, reverse=reverse, capture=(object_id, frame_index))
            return self.captures.get(object_id, frame_index) is not None

    def capture(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        """The decoder inputs recorded when the object was tracked on that frame, if still held."""
        return self.captures.get(object_id, frame_index)

    @property
    def decoder_constants(self) -> DecoderConstants | None:
        """The decoder inputs every unprompted pass shares; None until a frame has been tracked."""
        return self._recorder.constants

    @property
    def memory_bytes(self) -> dict[str, int]:
        """Bytes held per kind: image features, decoder captures, per-object SAM2 state."""
        state = sum(st.state_bytes(self._shared_pos_enc) for st in self._objects.values())
        return {
            "features": sum(f.nbytes for f in self._features.values()),
            "captures": self.captures.nbytes,
            "state": state,
        }

    # ----------------------------------------------------------------------------------- internals
    def _state(self, object_id: int) -> ObjectState:
        try:
            return self._objects[object_id]
        except KeyError:
            raise TrackerError(f"no object with id {object_id}") from None

    def _check_frame(self, frame_index: int) -> None:
        if not 0 <= frame_index < self.source.num_frames:
            raise TrackerError(f"frame {frame_index} is outside the video (0..{self.source.num_frames - 1})")

    def _new_session(self, object_id: int) -> Sam2VideoInferenceSession:
        return new_session(object_id, self.source, self.device, self._pixels)

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _pixels(self, frame_index: int) -> torch.Tensor:
        t0 = time.perf_counter()
        rgb = self.source.frame(frame_index)
        t1 = time.perf_counter()
        px = self._normalizer(resize_frame(rgb, self.image_size))
        t2 = time.perf_counter()
        self._timings["decode"] = self._timings.get("decode", 0.0) + t1 - t0
        self._timings["preprocess"] = self._timings.get("preprocess", 0.0) + t2 - t1
        return px

    def _frame_features(self, frame_index: int) -> _Features:
        feats = self._features.get(frame_index)
        if feats is not None:
            self._features.move_to_end(frame_index)
            return feats
        px = self._pixels(frame_index)
        t0 = time.perf_counter()
        with torch.inference_mode(), self._autocast():
            out = self.model.get_image_features(px.unsqueeze(0), return_dict=True)
        self._sync()
        self._timings["model"] = self._timings.get("model", 0.0) + time.perf_counter() - t0
        vf, vp = list(out.fpn_hidden_states), list(out.fpn_position_encoding)
        per_frame = vf if self._encodings_shared else (*vf, *vp)
        nbytes = sum(t.numel() * t.element_size() for t in per_frame)
        feats = _Features(vf, vp, nbytes)
        self._features[frame_index] = feats
        while len(self._features) > self.feature_cache_frames:
            self._features.popitem(last=False)
        return feats

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _run(
        self, st: ObjectState, frame_index: int, *, reverse: bool, capture: tuple[int, int] | None
    ) -> tuple[torch.Tensor, float]:
        """One SAM2 step of one object's session on a frame; returns (low-res logits, score)."""
        sess = st.session
        sess.cache.clear_all()
        # a prompted frame's stored result never comes here (``track`` hands it back itself)
        feats = self._frame_features(frame_index)
        sess.cache.cache_vision_features(
            frame_index, {"vision_feats": feats.vision_feats, "vision_pos_embeds": feats.vision_pos_embeds}
        )
        self._recorder.arm(capture)
        t0 = time.perf_counter()
        try:
            with (
                torch.inference_mode(),
                self._autocast(),
                nearest_cond_frames(self.model, st, frame_index, self.max_cond_frames),
            ):
                out = self.model(sess, frame_idx=frame_index, reverse=reverse)
            self._sync()
        finally:
            self._recorder.disarm()
            sess.obj_with_new_inputs = []
        self._timings["model"] = self._timings.get("model", 0.0) + time.perf_counter() - t0
        low = out.pred_masks.float()
        score = float(out.object_score_logits.float().reshape(-1)[0])
        self._recorder.keep(low, score)
        return low, score

    def _apply_prompt(self, st: ObjectState, frame_index: int, fp: FramePrompts) -> ObjectMask:
        self._timings = _fresh_timings()
        sess = st.session
        st.set_prompt(frame_index, fp, self.source.width, self.source.height, self.image_size)
        self._drop_stale(st, frame_index)
        tracked_info = sess.frames_tracked_per_obj.get(0, {}).get(frame_index)
        reverse = bool(tracked_info and tracked_info.get("reverse"))
        if tracked_info is not None:
            # A tracked frame is re-run with memory: its own earlier result must not be part of it.
            st.outputs["cond_frame_outputs"].pop(frame_index, None)
            st.outputs["non_cond_frame_outputs"].pop(frame_index, None)
        sess.obj_with_new_inputs = [st.object_id]
        low, score = self._run(st, frame_index, reverse=reverse, capture=None)
        if self.corrections_as_conditioning:
            # A corrected tracked frame lands in non-conditioning outputs, where SAM2 forgets it after
            # num_maskmem frames. Keeping every user-prompted frame as conditioning memory is what
            # SAM2.1's add_all_frames_to_correct_as_cond does: a correction keeps teaching later frames.
            outs = st.outputs
            moved = outs["non_cond_frame_outputs"].pop(frame_index, None)
            if moved is not None:
                outs["cond_frame_outputs"][frame_index] = moved
        self._strip(st, frame_index)
        mask = self._postprocess(low)[0]
        self.current_frame = frame_index
        return ObjectMask(st.object_id, frame_index, mask, score, "prompted")

    def _drop_stale(self, st: ObjectState, frame_index: int) -> list[int]:
        """Drop the results tracked through this frame (``ObjectState.drop_stale``) and their captures."""
        stale = st.drop_stale(frame_index)
        for f in stale:
            self.captures.pop(st.object_id, f)
        return stale

    def _strip(self, st: ObjectState, frame_index: int) -> None:
        self._shared_pos_enc = st.strip(frame_index, self._shared_pos_enc)

    def _evict(self, st: ObjectState, frame_index: int) -> None:
        self._strip(st, frame_index)
        st.evict_far(frame_index, self.memory_window)

    def _postprocess(self, low: torch.Tensor) -> np.ndarray:
        t0 = time.perf_counter()
        masks = (
            (upsample_logits(low, self.image_size, self.source.height, self.source.width) > 0).cpu().numpy()
        )
        self._timings["postprocess"] = self._timings.get("postprocess", 0.0) + time.perf_counter() - t0
        return masks
