"""SAM2's video forward with gradients: a batch of clips through the model's own sub-modules.

transformers' ``Sam2VideoModel.forward`` runs under ``torch.inference_mode``, so it cannot train, and
its per-frame methods are written for one clip at a time (their best-of-three mask choice, memory
reshapes and occlusion handling broadcast wrongly over a batch). `ClipForward` is a thin loop over the
model's own sub-modules (image encoder, memory attention, prompt encoder, mask decoder, memory
encoder, object-pointer projection) that does what ``forward`` does frame by frame, for B clips at
once and with autograd on. Gradients flow through the memory: each frame's memory is encoded from its
predicted mask and attended by the frames after it.

What it must equal is checked, not assumed: ``tests/training/test_forward.py`` tracks the same clip
and prompts through the app's `Tracker` (which calls ``forward``) and through this loop, one clip and
several, and compares the masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Sam2VideoModel

from litlora_desktop.core.sam2.preprocess import LABEL_BOX_BOTTOM_RIGHT, LABEL_BOX_TOP_LEFT

# SAM2 scales object-pointer positions by the video's length, capped at max_object_pointers_in_encoder
# (16): any video of 16 frames or more looks the same. Clips report this length so that training sees
# the pointer encodings the app uses on real videos.
_REPORTED_LENGTH = 64
_NO_OBJ_SCORE = -1024.0  # the library's logit for "no object here"


@dataclass
class Prompt:
    """A prompt for every clip of a batch on one frame, in model pixels (S x S space).

    Exactly one of ``points`` / ``mask``. ``points`` is (B, N, 2) float, ``labels`` (B, N) int with
    SAM2's codes (1 positive, 0 negative, 2 / 3 box corners); ``mask`` is (B, S, S) float {0, 1}.
    """

    points: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    @staticmethod
    def box(boxes: torch.Tensor) -> Prompt:
        """Boxes (B, 4) as x0, y0, x1, y1: SAM2 video takes a box as two labelled corner points."""
        pts = boxes.view(-1, 2, 2).float()
        labels = torch.tensor([LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT]).expand(pts.shape[0], 2)
        return Prompt(points=pts, labels=labels.to(pts.device))

    def select(self, i: int) -> Prompt:
        """The prompt of clip i alone (batch of one)."""
        if self.mask is not None:
            return Prompt(mask=self.mask[i : i + 1])
        return Prompt(points=self.points[i : i + 1], labels=self.labels[i : i + 1])

    def point_inputs(self) -> dict[str, torch.Tensor] | None:
        if self.points is None:
            return None
        return {"point_coords": self.points[:, None].float(), "point_labels": self.labels[:, None].int()}


@dataclass
class DecoderOut:
    """What the mask decoder said on one pass: every mask it offered, with its scores."""

    multimask_logits: torch.Tensor  # (B, M, h, w) low-resolution logits, M = 1 or 3
    iou_scores: torch.Tensor  # (B, M)
    object_score_logits: torch.Tensor  # (B,)


@dataclass
class FrameOut:
    """One frame of a clip: the decoder passes in order (tracking, then each correction)."""

    frame_index: int
    passes: list[DecoderOut] = field(default_factory=list)
    pred_logits: torch.Tensor | None = None  # (B, 1, h, w) the mask SAM2 kept (what the app shows)
    object_score_logits: torch.Tensor | None = None  # (B,)
    single_mask: DecoderOut | None = None  # the unprompted pass again with mask token 0 alone


@dataclass
class _Memory:
    """What a frame leaves for later frames (as the library's per-frame output dict)."""

    features: torch.Tensor  # (HW, B, Cm) memory features
    pos: torch.Tensor  # (HW, B, Cm) their spatial encoding
    pointer: torch.Tensor  # (B, C) object pointer


class ClipForward:
    """Runs batches of clips through a `Sam2VideoModel`, with gradients when grad mode is on.

    ``ClipForward(model)(pixels, prompts, corrector=...)``: ``pixels`` is (B, T, 3, S, S), normalised
    as the app normalises frames; ``prompts`` maps a frame index to a `Prompt` (frame 0 must have
    one). ``corrector(t, frame_out) -> Prompt | None`` is asked after every tracked frame and may
    return correction clicks (all of them so far) for it; they are applied as the app applies a
    correction on a tracked frame: memory-conditioned, and the frame's memory then encodes the
    corrected mask. Frames are tracked forward in time.
    """

    def __init__(self, model: Sam2VideoModel, encoder_batch: int | None = None) -> None:
        """``encoder_batch``: frames per image-encoder call (None: all frames of all clips at once;
        1: one frame at a time, as the app encodes them, which makes the results bit-identical)."""
        self.model = model
        self.encoder_batch = encoder_batch
        self.config = model.config
        self.max_pointers = min(_REPORTED_LENGTH, int(self.config.max_object_pointers_in_encoder))

    def __call__(
        self,
        pixels: torch.Tensor,
        prompts: dict[int, Prompt],
        *,
        corrector: Any = None,
        corrections_as_conditioning: bool = False,
        extra_first_prompts: list[Prompt] | None = None,
        refine: Any = None,
        single_mask_on_tracked: bool = False,
    ) -> tuple[list[FrameOut], list[DecoderOut]]:
        """Forward a batch of clips; returns per-frame outputs and the decoder outputs of
        ``extra_first_prompts`` (other prompts tried on frame 0, decoder only: cheap extra signal).

        ``refine(extra_outputs) -> list[Prompt]``: more frame-0 prompts made from those outputs (e.g. a
        click at the largest error of the one-click mask), decoded after them and returned with them.

        ``single_mask_on_tracked``: also decode every tracked frame with mask token 0 alone
        (``FrameOut.single_mask``; it does not enter memory). Tracking reads tokens 1-3, so token 0
        is otherwise never trained on unprompted frames, and that is the output LIT-LoRA's adapters
        start from: on the first demo weights it gave IoU 0.01 there, and an adapter could not
        climb from it in 60 epochs.
        """
        model = self.model
        b, t_len = pixels.shape[:2]
        if 0 not in prompts:
            raise ValueError("frame 0 needs a prompt")
        vf, vp = self._encode(pixels.flatten(0, 1))
        self.image_embedding = vf[-1]  # (HW, B*T, C): training keeps its norm in check
        vf = [x.reshape(x.shape[0], b, t_len, x.shape[-1]) for x in vf]
        vp = [x.reshape(x.shape[0], b, t_len, x.shape[-1]) for x in vp]
        cond: dict[int, _Memory] = {}
        non_cond: dict[int, _Memory] = {}
        frames: list[FrameOut] = []
        extra: list[DecoderOut] = []
        for t in range(t_len):
            cur = [x[:, :, t] for x in vf]
            pos_last = vp[-1][:, :, t]
            hi_res = [
                x.permute(1, 2, 0).reshape(b, x.shape[2], *size)
                for x, size in zip(cur[:-1], model.backbone_feature_sizes[:-1], strict=True)
            ]
            fo = FrameOut(t)
            prompt = prompts.get(t)
            if t == 0:
                pix = self._no_memory(cur[-1])
                out = self._head(fo, pix, hi_res, cur[-1], prompt)
                for p in extra_first_prompts or []:
                    extra.append(self._decode(pix, hi_res, p, multimask=self._multimask(True, p))[0])
                for p in refine(list(extra)) if refine is not None else []:
                    extra.append(self._decode(pix, hi_res, p, multimask=self._multimask(True, p))[0])
                if t_len > 1:  # a single image leaves no memory anyone would read
                    cond[t] = self._memory(cur[-1], out, from_prompt=True)
            else:
                pix = self._attend(t, cur[-1], pos_last, cond, non_cond)
                out = self._head(fo, pix, hi_res, cur[-1], None, init=False)
                if single_mask_on_tracked:
                    fo.single_mask = self._token0(pix, hi_res)
                fix = prompt if prompt is not None else (corrector(t, fo) if corrector else None)
                from_prompt = False
                while fix is not None:
                    out = self._head(fo, pix, hi_res, cur[-1], fix, init=False)
                    from_prompt = True
                    fix = corrector(t, fo) if (corrector and prompt is None) else None
                target = cond if (from_prompt and corrections_as_conditioning) else non_cond
                target[t] = self._memory(cur[-1], out, from_prompt=from_prompt)
            frames.append(fo)
        return frames, extra

    # ------------------------------------------------------------------------------------ pieces
    def _encode(self, frames: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Image features (seq, frames, C) per level, and their position encodings."""
        n = frames.shape[0]
        step = self.encoder_batch or n
        parts = [self.model.get_image_features(frames[i : i + step]) for i in range(0, n, step)]
        levels = range(len(parts[0].fpn_hidden_states))
        feats = [torch.cat([p.fpn_hidden_states[lv] for p in parts], 1) for lv in levels]
        pos = [torch.cat([p.fpn_position_encoding[lv] for p in parts], 1) for lv in levels]
        return feats, pos

    def _no_memory(self, feat: torch.Tensor) -> torch.Tensor:
        """A first frame attends to no memory: the learned "no memory" embedding is added instead."""
        _hw, b, c = feat.shape
        h, w = self.model.backbone_feature_sizes[-1]
        return (feat + self.model.no_memory_embedding).permute(1, 2, 0).reshape(b, c, h, w)

    def _attend(
        self,
        t: int,
        feat: torch.Tensor,
        pos: torch.Tensor,
        cond: dict[int, _Memory],
        non_cond: dict[int, _Memory],
    ) -> torch.Tensor:
        """Memory attention over the conditioning frames, the previous num_maskmem - 1 frames and
        the object pointers, as ``_prepare_memory_conditioned_features`` gathers them."""
        model = self.model
        hw, b, c = feat.shape
        temporal = model.memory_temporal_positional_encoding
        mems, mem_pos = [], []
        for m in cond.values():  # max_cond_frame_num = -1: every conditioning frame, offset 0
            mems.append(m.features)
            mem_pos.append(m.pos + temporal[-1])
        for offset in range(model.num_maskmem - 1, 0, -1):
            m = non_cond.get(t - offset)
            if m is not None:
                mems.append(m.features)
                mem_pos.append(m.pos + temporal[offset - 1])
        offsets, pointers = [], []
        for ft, m in cond.items():
            if ft <= t:  # in eval mode only past conditioning frames lend their pointer
                offsets.append(t - ft)
                pointers.append(m.pointer)
        for d in range(1, self.max_pointers):
            if t - d < 0:
                break
            m = non_cond.get(t - d)
            if m is not None:
                offsets.append(d)
                pointers.append(m.pointer)
        n_ptr = 0
        if pointers:
            ptr, ptr_pos = model._process_object_pointers(
                offsets, pointers, self.max_pointers, b, c, feat.device
            )
            mems.append(ptr)
            mem_pos.append(ptr_pos)
            n_ptr = ptr.shape[0]
        out = model.memory_attention(
            current_vision_features=feat,
            current_vision_position_embeddings=pos,
            memory=torch.cat(mems).float(),
            memory_posision_embeddings=torch.cat(mem_pos),
            num_object_pointer_tokens=n_ptr,
        )  # (1, B, HW, C)
        h, w = model.backbone_feature_sizes[-1]
        return out.reshape(b, hw, c).permute(0, 2, 1).reshape(b, c, h, w)

    def _multimask(self, init: bool, prompt: Prompt | None) -> bool:
        """``_use_multimask``: several masks for at most one click (and for tracking, by config)."""
        cfg = self.config
        n = 0 if prompt is None or prompt.points is None else prompt.points.shape[1]
        return bool(
            cfg.multimask_output_in_sam
            and (init or cfg.multimask_output_for_tracking)
            and cfg.multimask_min_pt_num <= n <= cfg.multimask_max_pt_num
        )

    def _decode(
        self,
        pix: torch.Tensor,
        hi_res: list[torch.Tensor],
        prompt: Prompt | None,
        *,
        multimask: bool,
        mask_prompt: torch.Tensor | None = None,
    ) -> tuple[DecoderOut, dict[str, torch.Tensor]]:
        """Prompt encoder + mask decoder, then the per-clip choice of ``_single_frame_forward``:
        the most confident mask, "no object" logits where the object score says absent, the
        upsampled mask and the object pointer."""
        model = self.model
        b = pix.shape[0]
        if prompt is not None and prompt.points is not None:
            points, labels = prompt.points[:, None].float(), prompt.labels[:, None].int()
        else:  # no clicks: one padding point, as the library adds
            points = pix.new_zeros(b, 1, 1, 2)
            labels = -torch.ones(b, 1, 1, dtype=torch.int32, device=pix.device)
        sparse, dense = model.prompt_encoder(
            input_points=points, input_labels=labels, input_boxes=None, input_masks=mask_prompt
        )
        image_pe = model.get_image_wide_positional_embeddings().repeat(b, 1, 1, 1)
        low, iou, tokens, obj = model.mask_decoder(
            image_embeddings=pix,
            image_positional_embeddings=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            high_resolution_features=hi_res,
        )
        dec = DecoderOut(low[:, 0], iou[:, 0], obj.reshape(-1))
        appearing = obj.reshape(b, 1, 1) > 0
        masked = torch.where(appearing[:, :, :, None, None], low, _NO_OBJ_SCORE)[:, 0]  # (B, M, h, w)
        rows = torch.arange(b, device=pix.device)
        best = iou[:, 0].argmax(-1) if multimask else torch.zeros(b, dtype=torch.long, device=pix.device)
        chosen = masked[rows, best][:, None]  # (B, 1, h, w)
        token = tokens[:, 0][rows, best] if (multimask and tokens.shape[2] > 1) else tokens[:, 0, 0]
        lam = appearing.reshape(b, 1).to(token.dtype)
        pointer = lam * model.object_pointer_proj(token) + (1 - lam) * model.no_object_pointer
        size = (model.image_size, model.image_size)
        high = F.interpolate(chosen.float(), size=size, mode="bilinear", align_corners=False)
        return dec, {"low": chosen, "high": high, "pointer": pointer, "score": obj.reshape(b, 1, 1)}

    def _token0(self, pix: torch.Tensor, hi_res: list[torch.Tensor]) -> DecoderOut:
        """The unprompted pass with mask token 0 alone, as LIT-LoRA's adapters run it: SAM2's
        "dynamic multimask via stability" is off, else an unstable token 0 is swapped for the best of
        tokens 1-3 (in eval mode) and token 0 would never be the one trained."""
        dec = self.model.mask_decoder
        dyn = dec.dynamic_multimask_via_stability
        dec.dynamic_multimask_via_stability = False
        try:
            return self._decode(pix, hi_res, None, multimask=False)[0]
        finally:
            dec.dynamic_multimask_via_stability = dyn

    def _mask_as_output(self, feat: torch.Tensor, hi_res: list[torch.Tensor], mask: torch.Tensor) -> dict:
        """``_use_mask_as_output``: a mask prompt is taken as the frame's answer (logits -10 / +10);
        the decoder only lends it an object pointer."""
        model = self.model
        _hw, b, c = feat.shape
        h, w = model.backbone_feature_sizes[-1]
        m = mask[:, None].float()
        size = (model.image_size, model.image_size)
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False, antialias=True)
        high = m * 20.0 - 10.0
        low = F.interpolate(
            high,
            size=model.prompt_encoder.mask_input_size,
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        pix = feat.permute(1, 2, 0).reshape(b, c, h, w)
        _, dec = self._decode(pix, hi_res, None, multimask=True, mask_prompt=model.mask_downsample(m))
        appearing = (m.flatten(1) > 0).any(1).reshape(b, 1).to(high.dtype)
        pointer = appearing * dec["pointer"] + (1 - appearing) * model.no_object_pointer
        return {
            "low": low,
            "high": high,
            "pointer": pointer,
            "score": (20.0 * appearing - 10.0).reshape(b, 1, 1),
        }

    def _head(
        self,
        fo: FrameOut,
        pix: torch.Tensor,
        hi_res: list[torch.Tensor],
        feat: torch.Tensor,
        prompt: Prompt | None,
        init: bool = True,
    ) -> dict:
        if prompt is not None and prompt.mask is not None:
            out = self._mask_as_output(feat, hi_res, prompt.mask)
        else:
            dec, out = self._decode(pix, hi_res, prompt, multimask=self._multimask(init, prompt))
            fo.passes.append(dec)
        fo.pred_logits = out["low"]
        fo.object_score_logits = out["score"].reshape(-1)
        return out

    def _memory(self, feat: torch.Tensor, out: dict, *, from_prompt: bool) -> _Memory:
        """``_encode_new_memory`` on the frame's kept mask (binarised when it came from a prompt)."""
        features, pos = self.model._encode_new_memory(
            current_vision_feats=feat,
            pred_masks_high_res=out["high"],
            object_score_logits=out["score"],
            is_mask_from_pts=from_prompt,
        )
        return _Memory(features, pos, out["pointer"])
