"""Track several objects through one video with SAM2, one frame at a time, as the app drives it.

Design (why it is not one ``Sam2VideoInferenceSession`` for all objects):
transformers' session indexes objects by insertion order, cannot remove one, and its ``forward`` re-runs
*every* object on a frame. Correcting object A would then silently re-track object B. So each object
gets its own session, and the image encoder (the expensive part) runs once per frame: its features are
computed here and placed into each object's session cache before the object's step. Objects therefore
never disturb each other, keep their ids, and can be at different places in the video.

Streaming and memory: frames are decoded, preprocessed and encoded only when tracked; a session's
``processed_frames`` is a lazy stand-in that reports the video's length (SAM2 uses it to scale the
object-pointer positions) but holds nothing. Per-frame model outputs outside SAM2's memory window are
evicted (see ``Tracker.memory_window``), high-resolution logits are dropped right after each step, and
the memory positional encoding (identical for every frame) is shared. Prompted (conditioning) frames
are always kept: they are what the tracker remembers the user said.

Decoder capture (for LIT-LoRA): a forward pre-hook on ``model.mask_decoder`` records, on every tracked
frame, the decoder's per-frame keyword inputs for the unprompted tracking pass. They are kept in a
``CaptureStore`` bounded in bytes (oldest evicted first); the prompt-independent inputs (positional
embedding, empty-prompt sparse and dense embeddings) are the same on every frame and are kept once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from transformers import Sam2VideoModel
from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

from litlora_desktop.core.sam2.encoder_cache import cache_constant_encodings
from litlora_desktop.core.sam2.preprocess import (
    LABEL_BOX_BOTTOM_RIGHT,
    LABEL_BOX_TOP_LEFT,
    LABEL_NEGATIVE,
    LABEL_POSITIVE,
    FrameNormalizer,
    mask_to_model,
    points_to_model,
    resize_frame,
    upsample_logits,
)

if TYPE_CHECKING:
    from litlora_desktop.core.video.sources import FrameSource

MaskKind = Literal["tracked", "prompted", "reused"]
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class TrackerError(Exception):
    """A request the tracker cannot honour; the message is meant for the user."""


@dataclass(frozen=True)
class Click:
    """A click in video pixel coordinates; positive adds to the object, negative removes."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Box:
    """A box in video pixel coordinates (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"a box needs x1 > x0 and y1 > y0, got {self}")


@dataclass
class FramePrompts:
    """What the user gave for one object on one frame: clicks (and a box), or a mask."""

    clicks: list[Click] = field(default_factory=list)
    box: Box | None = None
    mask: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return not self.clicks and self.box is None and self.mask is None


@dataclass
class ObjectMask:
    """One object's mask on one frame at video resolution."""

    object_id: int
    frame_index: int
    mask: np.ndarray  # (H, W) bool
    score: float  # object score logit: > 0 means SAM2 thinks the object is visible
    kind: MaskKind

    @property
    def present(self) -> bool:
        return self.score > 0


@dataclass
class FrameResult:
    """Every tracked object's mask on one frame, and where the time went (seconds)."""

    frame_index: int
    masks: dict[int, ObjectMask]
    timings: dict[str, float] = field(default_factory=dict)


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
        """Bytes held (shared high-resolution maps counted in full: a conservative bound)."""
        ts = [self.image_embeddings, *self.high_resolution_features]
        if self.sam_low_res_logits is not None:
            ts.append(self.sam_low_res_logits)
        return sum(t.numel() * t.element_size() for t in ts)


@dataclass
class DecoderConstants:
    """Decoder inputs that are the same on every frame of an unprompted pass."""

    image_positional_embeddings: torch.Tensor
    sparse_prompt_embeddings: torch.Tensor
    dense_prompt_embeddings: torch.Tensor


class CaptureStore:
    """Decoder captures by (object, frame), bounded in bytes; the least recently stored go first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self._items: OrderedDict[tuple[int, int], DecoderCapture] = OrderedDict()
        self.nbytes = 0

    def put(self, cap: DecoderCapture) -> None:
        key = (cap.object_id, cap.frame_index)
        self.pop(*key)
        self._items[key] = cap
        self.nbytes += cap.nbytes
        while self.nbytes > self.budget_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes

    def get(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        return self._items.get((object_id, frame_index))

    def pop(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        cap = self._items.pop((object_id, frame_index), None)
        if cap is not None:
            self.nbytes -= cap.nbytes
        return cap

    def drop_object(self, object_id: int) -> None:
        for key in [k for k in self._items if k[0] == object_id]:
            self.pop(*key)

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def frames(self, object_id: int) -> list[int]:
        return sorted(f for o, f in self._items if o == object_id)


class _LazyFrames(dict):
    """Stands in for a session's ``processed_frames``: reports the video length, stores nothing.

    SAM2 reads ``len(processed_frames)`` as the number of frames; pixels are only needed when the
    vision-feature cache misses, which the tracker prevents by filling the cache before every step.
    """

    def __init__(self, num_frames: int, loader: Callable[[int], torch.Tensor]) -> None:
        super().__init__()
        self._n = num_frames
        self._loader = loader

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> torch.Tensor:
        return self._loader(index)

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < self._n


@dataclass
class _ObjectState:
    object_id: int
    session: Sam2VideoInferenceSession
    prompts: dict[int, FramePrompts] = field(default_factory=dict)
    pending: bool = False  # has new inputs not yet run

    @property
    def outputs(self) -> dict[str, dict[int, dict[str, Any]]]:
        return self.session.output_dict_per_obj.get(
            0, {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        )

    @property
    def initialized(self) -> bool:
        return any(not p.empty for p in self.prompts.values())


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
        corrections_as_conditioning: bool = True,
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
        self.model_lock = model_lock or threading.RLock()
        self.captures = CaptureStore(capture_budget_bytes)
        self.decoder_constants: DecoderConstants | None = None
        self.current_frame = 0
        self._normalizer = FrameNormalizer(self.device, torch.float32)
        self._objects: dict[int, _ObjectState] = {}
        self._features: OrderedDict[int, _Features] = OrderedDict()
        self._shared_pos_enc: torch.Tensor | None = None
        self._capture_ctx: tuple[int, int] | None = None
        self._last_capture: DecoderCapture | None = None
        self._timings: dict[str, float] = {}
        self._hook = model.mask_decoder.register_forward_pre_hook(self._on_decoder_call, with_kwargs=True)

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
            self._objects[object_id] = _ObjectState(object_id, self._new_session(object_id))
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
            self._hook.remove()

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
            self._timings = {"decode": 0.0, "preprocess": 0.0, "model": 0.0, "postprocess": 0.0}
            ids = list(object_ids) if object_ids is not None else list(self._objects)
            states = [self._state(i) for i in ids]
            states = [s for s in states if s.initialized]
            result = FrameResult(frame_index, {}, self._timings)
            if not states:
                self.current_frame = frame_index
                return result
            lows, scores, kinds = [], [], []
            for st in states:
                is_cond = frame_index in st.outputs["cond_frame_outputs"]
                ctx = None if is_cond else (st.object_id, frame_index)
                low, score = self._run(st, frame_index, reverse=reverse, capture=ctx)
                lows.append(low)
                scores.append(score)
                kinds.append("reused" if is_cond else "tracked")
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

    def capture(self, object_id: int, frame_index: int) -> DecoderCapture | None:
        """The decoder inputs recorded when the object was tracked on that frame, if still held."""
        return self.captures.get(object_id, frame_index)

    @property
    def memory_bytes(self) -> dict[str, int]:
        """Bytes held per kind: image features, decoder captures, per-object SAM2 state."""
        state = 0
        for st in self._objects.values():
            for bucket in st.outputs.values():
                for out in bucket.values():
                    for k, v in out.items():
                        if isinstance(v, torch.Tensor) and not (
                            k == "maskmem_pos_enc" and v is self._shared_pos_enc
                        ):
                            state += v.numel() * v.element_size()
        return {
            "features": sum(f.nbytes for f in self._features.values()),
            "captures": self.captures.nbytes,
            "state": state,
        }

    # ----------------------------------------------------------------------------------- internals
    def _state(self, object_id: int) -> _ObjectState:
        try:
            return self._objects[object_id]
        except KeyError:
            raise TrackerError(f"no object with id {object_id}") from None

    def _check_frame(self, frame_index: int) -> None:
        if not 0 <= frame_index < self.source.num_frames:
            raise TrackerError(f"frame {frame_index} is outside the video (0..{self.source.num_frames - 1})")

    def _new_session(self, object_id: int) -> Sam2VideoInferenceSession:
        sess = Sam2VideoInferenceSession(
            video_height=self.source.height,
            video_width=self.source.width,
            inference_device=self.device,
            inference_state_device=self.device,
            video_storage_device=self.device,
            dtype=torch.float32,
            max_vision_features_cache_size=1,
        )
        sess.processed_frames = _LazyFrames(self.source.num_frames, self._pixels)
        sess.obj_id_to_idx(object_id)
        return sess

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
        self, st: _ObjectState, frame_index: int, *, reverse: bool, capture: tuple[int, int] | None
    ) -> tuple[torch.Tensor, float]:
        """One SAM2 step of one object's session on a frame; returns (low-res logits, score)."""
        sess = st.session
        sess.cache.clear_all()
        reuse = not sess.obj_with_new_inputs and frame_index in st.outputs["cond_frame_outputs"]
        if not reuse:  # a prompted frame's stored result needs no image features
            feats = self._frame_features(frame_index)
            sess.cache.cache_vision_features(
                frame_index,
                {"vision_feats": feats.vision_feats, "vision_pos_embeds": feats.vision_pos_embeds},
            )
        self._capture_ctx = capture
        self._last_capture = None
        t0 = time.perf_counter()
        try:
            with torch.inference_mode(), self._autocast():
                out = self.model(sess, frame_idx=frame_index, reverse=reverse)
            self._sync()
        finally:
            self._capture_ctx = None
            sess.obj_with_new_inputs = []
        self._timings["model"] = self._timings.get("model", 0.0) + time.perf_counter() - t0
        low = out.pred_masks.float()
        score = float(out.object_score_logits.float().reshape(-1)[0])
        cap = self._last_capture
        if cap is not None:
            cap.sam_low_res_logits = low.detach()
            cap.sam_score = score
            self.captures.put(cap)
        return low, score

    def _on_decoder_call(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook on the mask decoder: record an unprompted tracking pass's inputs."""
        ctx = self._capture_ctx
        if ctx is None:
            return None
        self._capture_ctx = None  # one decoder call per tracking pass
        if self.decoder_constants is None:
            self.decoder_constants = DecoderConstants(
                image_positional_embeddings=kwargs["image_positional_embeddings"][:1].detach(),
                sparse_prompt_embeddings=kwargs["sparse_prompt_embeddings"][:1].detach(),
                dense_prompt_embeddings=kwargs["dense_prompt_embeddings"][:1].detach(),
            )
        self._last_capture = DecoderCapture(
            object_id=ctx[0],
            frame_index=ctx[1],
            image_embeddings=kwargs["image_embeddings"].detach(),
            high_resolution_features=tuple(t.detach() for t in kwargs["high_resolution_features"]),
            multimask_output=bool(kwargs.get("multimask_output", False)),
        )
        return None

    def _apply_prompt(self, st: _ObjectState, frame_index: int, fp: FramePrompts) -> ObjectMask:
        self._timings = {"decode": 0.0, "preprocess": 0.0, "model": 0.0, "postprocess": 0.0}
        sess = st.session
        if fp.mask is not None:
            sess.add_mask_inputs(0, frame_index, mask_to_model(fp.mask, self.image_size))
            sess.remove_point_inputs(0, frame_index)
        else:
            pts: list[tuple[float, float]] = []
            labels: list[int] = []
            if fp.box is not None:
                pts += [(fp.box.x0, fp.box.y0), (fp.box.x1, fp.box.y1)]
                labels += [LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT]
            for c in fp.clicks:
                pts.append((c.x, c.y))
                labels.append(LABEL_POSITIVE if c.positive else LABEL_NEGATIVE)
            coords = points_to_model(pts, self.source.width, self.source.height, self.image_size)
            sess.add_point_inputs(
                0,
                frame_index,
                {
                    "point_coords": torch.from_numpy(coords).reshape(1, 1, -1, 2),
                    "point_labels": torch.tensor(labels, dtype=torch.int32).reshape(1, 1, -1),
                },
            )
            sess.remove_mask_inputs(0, frame_index)
        st.prompts[frame_index] = fp
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

    def _drop_stale(self, st: _ObjectState, frame_index: int) -> list[int]:
        """Drop results of frames tracked *through* this frame, up to the next prompted frame.

        Forward-tracked frames after it and backward-tracked frames before it are stale; beyond the
        next frame the user prompted, tracking restarted from what the user said, so that work stays.
        """
        tracked = st.session.frames_tracked_per_obj.get(0, {})
        prompted = [f for f, p in st.prompts.items() if not p.empty and f != frame_index]
        nxt = min((f for f in prompted if f > frame_index), default=None)
        prv = max((f for f in prompted if f < frame_index), default=None)
        stale = [
            f
            for f, info in tracked.items()
            if (f > frame_index and not info.get("reverse") and (nxt is None or f < nxt))
            or (f < frame_index and info.get("reverse") and (prv is None or f > prv))
        ]
        non_cond = st.outputs["non_cond_frame_outputs"]
        for f in stale:
            tracked.pop(f, None)
            non_cond.pop(f, None)
            self.captures.pop(st.object_id, f)
        return stale

    def _strip(self, st: _ObjectState, frame_index: int) -> None:
        """Drop what SAM2 keeps per frame but never reads again; share the constant memory encoding."""
        for bucket in st.outputs.values():
            out = bucket.get(frame_index)
            if out is None:
                continue
            out.pop("high_res_masks", None)
            pe = out.get("maskmem_pos_enc")
            if isinstance(pe, torch.Tensor):
                if self._shared_pos_enc is None or self._shared_pos_enc.shape != pe.shape:
                    self._shared_pos_enc = pe
                out["maskmem_pos_enc"] = self._shared_pos_enc

    def _evict(self, st: _ObjectState, frame_index: int) -> None:
        self._strip(st, frame_index)
        non_cond = st.outputs["non_cond_frame_outputs"]
        far = [f for f in non_cond if abs(f - frame_index) > self.memory_window]
        for f in far:
            del non_cond[f]

    def _postprocess(self, low: torch.Tensor) -> np.ndarray:
        t0 = time.perf_counter()
        masks = (
            (upsample_logits(low, self.image_size, self.source.height, self.source.width) > 0).cpu().numpy()
        )
        self._timings["postprocess"] = self._timings.get("postprocess", 0.0) + time.perf_counter() - t0
        return masks
