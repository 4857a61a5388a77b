"""The mask decoder with LoRA run alone on captured inputs, its frozen part done once (issue 15, item 4).

Why not just call the transformers decoder: a training run feeds the same captured inputs to the
decoder every epoch (twice: the step and the IoU check), and part of that work never changes. The
sum with the dense prompt, the sum with the positional encoding and the frozen (base) weights'
projections of the image tokens in the first block's two cross-attentions depend on the sample only.
At 1024 px those three projections alone are 3 of the ~13 image-sized matrix products of a decoder
pass. ``prepare`` computes them once per sample and ``run`` does the rest every epoch. The LoRA
updates are added to them exactly as PEFT adds them, including the dropout draws, in the same order.

``run`` also takes several adapters in one batch: each group of rows gets its own adapter. All of an
object's adapters then score one captured frame in one decoder call (candidates, the choice of the
adapter that learns a correction), and the frozen projections of that frame are computed once.

Single-mask output (mask token 0) only, as LIT-LoRA uses the decoder, with no stability fallback.
The output is the decoder's own low-resolution logits (S/4: 256² at 1024 px); nothing here
upsamples. ``tests/core/lora/test_decoder_run.py`` holds the logits, and training epoch by epoch,
bit-equal to the transformers decoder with PEFT on every family: the same operations on the same
shapes in the same order (even where a shortcut would do, e.g. all four mask tokens' products, then
token 0). Bit-equality matters: litlora-eval's count on the demo model drifted from 344 to 361
corrections when a product merely rounded differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.sam2.modeling_sam2 import eager_attention_forward

__all__ = ["DecoderRun", "Groups", "Prepared"]

Groups = Sequence[tuple[str, int]]
"""Adapters of a batch, in row order: (adapter name, how many consecutive rows use it)."""


@dataclass
class Prepared:
    """The decoder's inputs for a batch of samples, with the part no adapter changes already computed.

    Rows are samples; ``tokens`` and ``pos`` have one row, shared. ``base`` holds the frozen weights'
    projections of the first block's image-side attention inputs (k and v of token-to-image, q of
    image-to-token), which LoRA only adds to.
    """

    keys: torch.Tensor  # (B, 1, N, C) image tokens plus the dense prompt: the first block's keys
    keys_pos: torch.Tensor  # (B, 1, N, C) keys + positional encoding
    pos: torch.Tensor  # (1, 1, N, C)
    tokens: torch.Tensor  # (1, 1, T, C) output tokens and sparse prompt
    base: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # t2i k, t2i v, i2t q: (B, 1, N, C')
    hires: tuple[torch.Tensor, torch.Tensor]  # (B, C/8, 4h, 4w), (B, C/4, 2h, 2w)
    size: tuple[int, int]  # (h, w) of the image embedding

    @property
    def rows(self) -> int:
        return self.keys.shape[0]

    @property
    def mask_size(self) -> int:
        """Side of the decoder's low-resolution logits (S/4)."""
        return self.hires[0].shape[-1]

    def select(self, idx: torch.Tensor) -> Prepared:
        """The rows ``idx`` (a training step on some of the samples); a view when it is one row or all."""
        if idx.numel() == self.rows and bool((idx == torch.arange(self.rows, device=idx.device)).all()):
            return self
        if idx.numel() == 1:
            i = int(idx)
            idx = slice(i, i + 1)  # type: ignore[assignment]
        return Prepared(
            self.keys[idx],
            self.keys_pos[idx],
            self.pos,
            self.tokens,
            tuple(t[idx] for t in self.base),  # type: ignore[arg-type]
            tuple(t[idx] for t in self.hires),  # type: ignore[arg-type]
            self.size,
        )

    def repeat(self, n: int) -> Prepared:
        """One sample as ``n`` rows without copying (one row per adapter scoring it)."""
        assert self.rows == 1

        def ex(t: torch.Tensor) -> torch.Tensor:
            return t.expand(n, *t.shape[1:])

        return Prepared(
            ex(self.keys),
            ex(self.keys_pos),
            self.pos,
            self.tokens,
            tuple(ex(t) for t in self.base),  # type: ignore[arg-type]
            tuple(ex(t) for t in self.hires),  # type: ignore[arg-type]
            self.size,
        )


class DecoderRun:
    """Runs one SAM2-family mask decoder (with PEFT LoRA layers injected) on captured inputs."""

    def __init__(self, decoder: nn.Module) -> None:
        self.decoder = decoder

    @torch.no_grad()
    def prepare(
        self,
        embeddings: torch.Tensor,
        hires: Sequence[torch.Tensor],
        constants: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> Prepared:
        """The frozen part of a decoder pass for a batch of captured samples (B, C, h, w)."""
        dec = self.decoder
        pos, sparse, dense = constants
        h, w = embeddings.shape[-2:]
        out_tokens = torch.cat([dec.obj_score_token.weight, dec.iou_token.weight, dec.mask_tokens.weight])
        tokens = out_tokens[None, None]
        if sparse.shape[0] != 0:
            tokens = torch.cat((tokens, sparse[:1]), dim=2)
        tokens = tokens.to(dec.iou_token.weight.dtype)
        keys = (embeddings + dense).flatten(2).transpose(1, 2).unsqueeze(1)
        pos_t = pos[:1].flatten(2).transpose(1, 2).unsqueeze(1)
        keys_pos = keys + pos_t
        blk = dec.transformer.layers[0]
        base = (
            _base(blk.cross_attn_token_to_image.k_proj)(keys_pos),
            _base(blk.cross_attn_token_to_image.v_proj)(keys),
            _base(blk.cross_attn_image_to_token.q_proj)(keys_pos),
        )
        return Prepared(keys, keys_pos, pos_t, tokens, base, (hires[0], hires[1]), (h, w))

    def run(self, prep: Prepared, groups: Groups) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(low-res logits (B, 4h, 4w), predicted IoU (B,), object score logits (B,)), mask token 0.

        Dropout follows each adapter's dropout module (on while training, ``AdapterBank.active``).
        """
        assert sum(n for _, n in groups) == prep.rows, "groups must cover the batch's rows"
        dec = self.decoder
        tf = dec.transformer
        tokens, pos = prep.tokens, prep.pos
        b = prep.rows
        queries = tokens.expand(b, -1, -1, -1)
        keys = prep.keys

        def lin(layer: nn.Module, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
            return _lora(layer, x, base, groups)

        for i, blk in enumerate(tf.layers):
            sa, t2i, i2t = blk.self_attn, blk.cross_attn_token_to_image, blk.cross_attn_image_to_token
            if blk.skip_first_layer_pe:
                queries = _attend(
                    sa, lin(sa.q_proj, queries), lin(sa.k_proj, queries), lin(sa.v_proj, queries)
                )
            else:
                q = queries + tokens
                queries = queries + _attend(sa, lin(sa.q_proj, q), lin(sa.k_proj, q), lin(sa.v_proj, queries))
            queries = blk.layer_norm1(queries)
            q = queries + tokens
            first = i == 0  # the first block's image side is the prepared one
            kp = prep.keys_pos if first else keys + pos
            # q, k, v in PEFT's order, so dropout draws the same random numbers as the decoder would
            q_t2i = lin(t2i.q_proj, q)
            k_t2i = lin(t2i.k_proj, kp, prep.base[0] if first else None)
            v_t2i = lin(t2i.v_proj, keys, prep.base[1] if first else None)
            queries = blk.layer_norm2(queries + _attend(t2i, q_t2i, k_t2i, v_t2i))
            queries = blk.layer_norm3(queries + blk.mlp(queries))
            q = queries + tokens
            if not first:  # a sum of its own, as the decoder has: gradients then add up in its order
                kp = keys + pos
            q_i2t = lin(i2t.q_proj, kp, prep.base[2] if first else None)
            attn_out = _attend(i2t, q_i2t, lin(i2t.k_proj, q), lin(i2t.v_proj, queries))
            keys = blk.layer_norm4(keys + attn_out)
        fa = tf.final_attn_token_to_image
        q, kp = queries + tokens, keys + pos
        queries = tf.layer_norm_final_attn(
            queries + _attend(fa, lin(fa.q_proj, q), lin(fa.k_proj, kp), lin(fa.v_proj, keys))
        )
        h, w = prep.size
        c = keys.shape[-1]
        image = keys.transpose(2, 3).reshape(b, c, h, w)
        feat_s0, feat_s1 = prep.hires
        up = dec.activation(dec.upscale_layer_norm(dec.upscale_conv1(image) + feat_s1))
        up = dec.activation(dec.upscale_conv2(up) + feat_s0)
        # every mask token's product, as the decoder computes it, then token 0: a product of one
        # row rounds differently from one of four, and bit-equal logits keep training on the old path
        tok = queries[:, :, 2 : 2 + dec.num_mask_tokens]
        hyper = torch.stack([m(tok[:, :, i]) for i, m in enumerate(dec.output_hypernetworks_mlps)], dim=2)
        _, c8, h4, w4 = up.shape
        masks = (hyper @ up.view(b, 1, c8, h4 * w4))[:, :, 0].reshape(b, h4, w4)
        iou = dec.iou_prediction_head(queries[:, :, 1])[..., 0]
        score = dec.pred_obj_score_head(queries[:, :, 0])
        return masks, iou.reshape(b), score.reshape(b)


def _base(layer: nn.Module) -> nn.Module:
    """The frozen linear layer under a PEFT LoRA layer (the layer itself when it has no LoRA)."""
    return getattr(layer, "base_layer", layer)


def _lora(layer: nn.Module, x: torch.Tensor, base: torch.Tensor | None, groups: Groups) -> torch.Tensor:
    """A q/k/v projection as PEFT computes it, each group of rows with its adapter's update."""
    result = _base(layer)(x) if base is None else base
    if not hasattr(layer, "lora_A"):
        return result
    dtype = result.dtype
    parts = []
    start = 0
    for name, n in groups:
        a, bb = layer.lora_A[name], layer.lora_B[name]
        xs = x if len(groups) == 1 else x[start : start + n]
        xs = layer._cast_input_dtype(xs, a.weight.dtype)
        update = bb(a(layer.lora_dropout[name](xs)))
        scaling = layer.scaling[name]  # alpha / rank: 1 in every preset, and x * 1.0 == x exactly
        parts.append(update if scaling == 1 else update * scaling)
        start += n
    update = parts[0] if len(parts) == 1 else torch.cat(parts)
    return (result + update).to(dtype)


def _attend(attn: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """A SAM2 attention on already projected q, k, v (``Sam2Attention.forward`` after its projections)."""
    b, p = q.shape[:2]
    shape = (b * p, -1, attn.num_attention_heads, attn.head_dim)
    q, k, v = (t.reshape(*shape).transpose(1, 2) for t in (q, k, v))
    fn: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
        attn.config._attn_implementation, eager_attention_forward
    )
    out, _ = fn(
        attn, q, k, v, attention_mask=None, dropout=0.0, scaling=attn.scaling, is_causal=attn.is_causal
    )
    out = out.reshape(b, p, -1, attn.num_attention_heads * attn.head_dim).contiguous()
    return attn.o_proj(out)
