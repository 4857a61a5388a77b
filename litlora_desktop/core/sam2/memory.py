"""One SAM2 session per object: the prompts it is given, and what the tracker keeps of its memory.

Streaming: frames are decoded, preprocessed and encoded only when tracked; a session's
``processed_frames`` is a lazy stand-in (``LazyFrames``) that reports the video's length (SAM2 uses
it to scale the object-pointer positions) but holds nothing.

Memory: per-frame model outputs outside SAM2's memory window are evicted (see
``Tracker.memory_window``), high-resolution logits are dropped right after each step, and the memory
positional encoding (identical for every frame) is shared. Prompted (conditioning) frames are always
kept: they are what the tracker remembers the user said. A prompt makes the results tracked
*through* its frame stale; ``ObjectState.drop_stale`` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

from litlora_desktop.core.sam2.preprocess import (
    LABEL_BOX_BOTTOM_RIGHT,
    LABEL_BOX_TOP_LEFT,
    LABEL_NEGATIVE,
    LABEL_POSITIVE,
    mask_to_model,
    points_to_model,
)
from litlora_desktop.core.sam2.prompts import FramePrompts

if TYPE_CHECKING:
    from litlora_desktop.core.video.sources import FrameSource

__all__ = ["LazyFrames", "ObjectState", "nearest_cond_frames", "new_session"]


class LazyFrames(dict):
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


def new_session(
    object_id: int, source: FrameSource, device: torch.device, loader: Callable[[int], torch.Tensor]
) -> Sam2VideoInferenceSession:
    """A fresh one-object session over ``source`` whose frames ``loader`` preprocesses on demand."""
    sess = Sam2VideoInferenceSession(
        video_height=source.height,
        video_width=source.width,
        inference_device=device,
        inference_state_device=device,
        video_storage_device=device,
        dtype=torch.float32,
        max_vision_features_cache_size=1,
    )
    sess.processed_frames = LazyFrames(source.num_frames, loader)
    sess.obj_id_to_idx(object_id)
    return sess


@dataclass
class ObjectState:
    """One object's session, the prompts the user gave it by frame, and its memory bookkeeping."""

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

    def set_prompt(
        self, frame_index: int, fp: FramePrompts, width: int, height: int, image_size: int
    ) -> None:
        """Make ``fp`` the frame's input to the session, in model coordinates: a mask replaces the
        frame's points and points (a box first, as SAM2 needs it) replace its mask."""
        sess = self.session
        if fp.mask is not None:
            sess.add_mask_inputs(0, frame_index, mask_to_model(fp.mask, image_size))
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
            coords = points_to_model(pts, width, height, image_size)
            sess.add_point_inputs(
                0,
                frame_index,
                {
                    "point_coords": torch.from_numpy(coords).reshape(1, 1, -1, 2),
                    "point_labels": torch.tensor(labels, dtype=torch.int32).reshape(1, 1, -1),
                },
            )
            sess.remove_mask_inputs(0, frame_index)
        self.prompts[frame_index] = fp

    def drop_stale(self, frame_index: int) -> list[int]:
        """Drop results of frames tracked *through* this frame, up to the next prompted frame.

        Forward-tracked frames after it and backward-tracked frames before it are stale; beyond the
        next frame the user prompted, tracking restarted from what the user said, so that work stays.
        Returns the stale frames (their decoder captures are the tracker's to drop).
        """
        tracked = self.session.frames_tracked_per_obj.get(0, {})
        prompted = [f for f, p in self.prompts.items() if not p.empty and f != frame_index]
        nxt = min((f for f in prompted if f > frame_index), default=None)
        prv = max((f for f in prompted if f < frame_index), default=None)
        stale = [
            f
            for f, info in tracked.items()
            if (f > frame_index and not info.get("reverse") and (nxt is None or f < nxt))
            or (f < frame_index and info.get("reverse") and (prv is None or f > prv))
        ]
        non_cond = self.outputs["non_cond_frame_outputs"]
        for f in stale:
            tracked.pop(f, None)
            non_cond.pop(f, None)
        return stale

    def strip(self, frame_index: int, shared_pos_enc: torch.Tensor | None) -> torch.Tensor | None:
        """Drop what SAM2 keeps per frame but never reads again; share the constant memory encoding.

        Returns the encoding to share from now on: ``shared_pos_enc``, or this frame's when there was
        none yet or its shape differs.
        """
        for bucket in self.outputs.values():
            out = bucket.get(frame_index)
            if out is None:
                continue
            out.pop("high_res_masks", None)
            pe = out.get("maskmem_pos_enc")
            if isinstance(pe, torch.Tensor):
                if shared_pos_enc is None or shared_pos_enc.shape != pe.shape:
                    shared_pos_enc = pe
                out["maskmem_pos_enc"] = shared_pos_enc
        return shared_pos_enc

    def prompted_output(self, frame_index: int) -> dict[str, Any] | None:
        """The stored result of a frame the user prompted, or None.

        A correction of a tracked frame is kept as ordinary memory unless it is made a conditioning
        frame (``Tracker.corrections_as_conditioning``); transformers then re-tracks that frame on the
        next visit as if it had no prompt, and the correction is lost. Its result is what the user
        said there, so the tracker hands it back instead, as Meta's predictor does.
        """
        fp = self.prompts.get(frame_index)
        if fp is None or fp.empty:
            return None
        outs = self.outputs
        return outs["cond_frame_outputs"].get(frame_index, outs["non_cond_frame_outputs"].get(frame_index))

    @contextmanager
    def observing(self, frame_index: int) -> Iterator[bool]:
        """Around a pass on an unprompted frame whose result is not wanted (``Tracker.observe``): gives
        the direction to run it in, and afterwards puts back what the object held for that frame.

        The direction is the one the frame was tracked in, or for a frame never tracked, the side of
        the nearest prompt (ties: forward), where tracking would have come from. The frame's own
        stored result is kept out of the pass: it is no memory of itself.
        """
        per_obj = self.session.frames_tracked_per_obj
        had = 0 in per_obj
        tracked = per_obj.setdefault(0, {})
        info = tracked.get(frame_index)
        if info is not None:
            reverse = bool(info.get("reverse"))
        else:
            prompted = [f for f, p in self.prompts.items() if not p.empty]
            nearest = min(prompted, key=lambda f: (abs(f - frame_index), f > frame_index))
            reverse = nearest > frame_index
        non_cond = self.outputs["non_cond_frame_outputs"]
        kept = non_cond.pop(frame_index, None)
        try:
            yield reverse
        finally:
            non_cond.pop(frame_index, None)
            if kept is not None:
                non_cond[frame_index] = kept
            if info is None:
                tracked.pop(frame_index, None)
            else:
                tracked[frame_index] = info
            if not had and not tracked:
                per_obj.pop(0, None)

    def evict_far(self, frame_index: int, window: int) -> None:
        """Forget unprompted outputs more than ``window`` frames away: SAM2 never reads them again.
        Prompted frames stay, whatever their bucket: they are what the user said."""
        non_cond = self.outputs["non_cond_frame_outputs"]
        far = [f for f in non_cond if abs(f - frame_index) > window and f not in self.prompts]
        for f in far:
            del non_cond[f]

    def state_bytes(self, shared_pos_enc: torch.Tensor | None) -> int:
        """Bytes of tensors held in this object's SAM2 outputs (the shared encoding not counted)."""
        state = 0
        for bucket in self.outputs.values():
            for out in bucket.values():
                for k, v in out.items():
                    if isinstance(v, torch.Tensor) and not (k == "maskmem_pos_enc" and v is shared_pos_enc):
                        state += v.numel() * v.element_size()
        return state


@contextmanager
def nearest_cond_frames(
    model: Any, st: ObjectState, frame_index: int, max_cond_frames: int
) -> Iterator[None]:
    """Show the step only the ``max_cond_frames`` conditioning frames nearest ``frame_index``.

    transformers applies its ``max_cond_frame_num`` to memories but reads an object pointer from
    every earlier conditioning frame; Meta's predictor limits both. So the step gets a
    conditioning dict of the selected frames (chosen by the model's own rule), and the unselected
    ones are lent to the non-conditioning dict, where the step reads them as recent memory when
    they fall in its window (as Meta does). Everything is put back afterwards, with whatever the
    step stored.
    """
    outs = st.outputs
    cond = outs["cond_frame_outputs"]
    if max_cond_frames < 1 or len(cond) <= max_cond_frames:
        yield
        return
    selected, unselected = model._select_closest_cond_frames(frame_index, cond, max_cond_frames)
    non_cond = outs["non_cond_frame_outputs"]
    lent = {f: o for f, o in unselected.items() if f not in non_cond}
    shown = dict(selected)
    outs["cond_frame_outputs"] = shown
    non_cond.update(lent)
    try:
        yield
    finally:
        for f, o in lent.items():
            if non_cond.get(f) is o:
                del non_cond[f]
        cond.update({f: o for f, o in shown.items() if cond.get(f) is not o})
        outs["cond_frame_outputs"] = cond
