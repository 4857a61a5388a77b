"""Load Meta's official SAM2 / SAM2.1 ``.pt`` checkpoints into transformers' ``Sam2VideoModel``.

Many users already have ``sam2.1_hiera_tiny.pt`` (or ``sam2_hiera_large.pt`` …) on disk from Meta's
repository, and no machine here reaches the model hub, so the app reads those files directly. Meta's
files hold ``{"model": state_dict}`` for ``sam2.modeling.sam2_base.SAM2Base``; this module renames
every tensor to the transformers layout (both implementations keep the same tensors: no fused
q/k/v has to be split, Hiera keeps its fused ``qkv`` in both), infers the architecture from the
tensor shapes, and refuses anything it cannot account for, naming the offending keys.

The mapping was checked tensor by tensor against Meta's own implementation with random weights
(``tests/core/sam2/test_meta_checkpoint.py``: same mask logits on every frame of a track).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from transformers import Sam2VideoConfig, Sam2VideoModel

__all__ = [
    "MetaCheckpointError",
    "convert_meta_state_dict",
    "infer_config_from_meta_state_dict",
    "load_meta_checkpoint",
    "read_meta_state_dict",
]


class MetaCheckpointError(ValueError):
    """A file is not a usable Meta SAM2 checkpoint; the message is meant for the user."""


# Keys every SAM2 / SAM2.1 checkpoint has; their absence means "some other .pt file".
_SIGNATURE_KEYS = (
    "image_encoder.trunk.patch_embed.proj.weight",
    "sam_mask_decoder.iou_token.weight",
    "memory_attention.layers.0.self_attn.q_proj.weight",
    "maskmem_tpos_enc",
)

# Hiera layouts of the four released sizes, keyed by blocks per stage. The shapes give the embed
# dims, blocks per stage and the first window size, but not the global-attention blocks, the head
# counts or the later window sizes: those are fixed per size in Meta's configs (sam2.1_hiera_*.yaml).
_HIERA_PRESETS: dict[tuple[int, ...], dict[str, object]] = {
    (1, 2, 7, 2): {"name": "tiny", "embed_dim": 96, "heads": 1, "global": [5, 7, 9], "window": [8, 4, 14, 7]},
    (1, 2, 11, 2): {
        "name": "small",
        "embed_dim": 96,
        "heads": 1,
        "global": [7, 10, 13],
        "window": [8, 4, 14, 7],
    },
    (2, 3, 16, 3): {
        "name": "base-plus",
        "embed_dim": 112,
        "heads": 2,
        "global": [12, 16, 20],
        "window": [8, 4, 14, 7],
    },
    (2, 6, 36, 4): {
        "name": "large",
        "embed_dim": 144,
        "heads": 2,
        "global": [23, 33, 43],
        "window": [8, 4, 16, 8],
    },
}

_P = r"(weight|bias)"
_N = r"(\d+)"

# Meta key (full match) -> transformers key template, for the one-to-one renames. Keys that need
# more than a rename (MLP layer indices, nn.Sequential indices, stacked or shared tensors) are
# handled in ``_map_key`` before this table is consulted.
_RENAMES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in [
        # image encoder: Hiera trunk + FPN neck
        (
            rf"image_encoder\.trunk\.patch_embed\.proj\.{_P}",
            r"vision_encoder.backbone.patch_embed.projection.\1",
        ),
        (r"image_encoder\.trunk\.(pos_embed|pos_embed_window)", r"vision_encoder.backbone.\1"),
        (
            rf"image_encoder\.trunk\.blocks\.{_N}\.norm([12])\.{_P}",
            r"vision_encoder.backbone.blocks.\1.layer_norm\2.\3",
        ),
        (
            rf"image_encoder\.trunk\.blocks\.{_N}\.attn\.(qkv|proj)\.{_P}",
            r"vision_encoder.backbone.blocks.\1.attn.\2.\3",
        ),
        (rf"image_encoder\.trunk\.blocks\.{_N}\.proj\.{_P}", r"vision_encoder.backbone.blocks.\1.proj.\2"),
        (rf"image_encoder\.neck\.convs\.{_N}\.conv\.{_P}", r"vision_encoder.neck.convs.\1.\2"),
        # memory attention
        (
            rf"memory_attention\.layers\.{_N}\.(self_attn|cross_attn_image)\.([qkv])_proj\.{_P}",
            r"memory_attention.layers.\1.\2.\3_proj.\4",
        ),
        (
            rf"memory_attention\.layers\.{_N}\.(self_attn|cross_attn_image)\.out_proj\.{_P}",
            r"memory_attention.layers.\1.\2.o_proj.\3",
        ),
        (
            rf"memory_attention\.layers\.{_N}\.norm([123])\.{_P}",
            r"memory_attention.layers.\1.layer_norm\2.\3",
        ),
        (rf"memory_attention\.layers\.{_N}\.linear([12])\.{_P}", r"memory_attention.layers.\1.linear\2.\3"),
        (rf"memory_attention\.norm\.{_P}", r"memory_attention.layer_norm.\1"),
        # memory encoder
        (rf"memory_encoder\.pix_feat_proj\.{_P}", r"memory_encoder.feature_projection.\1"),
        (rf"memory_encoder\.out_proj\.{_P}", r"memory_encoder.projection.\1"),
        (
            rf"memory_encoder\.fuser\.layers\.{_N}\.dwconv\.{_P}",
            r"memory_encoder.memory_fuser.layers.\1.depthwise_conv.\2",
        ),
        (
            rf"memory_encoder\.fuser\.layers\.{_N}\.norm\.{_P}",
            r"memory_encoder.memory_fuser.layers.\1.layer_norm.\2",
        ),
        (
            rf"memory_encoder\.fuser\.layers\.{_N}\.pwconv([12])\.{_P}",
            r"memory_encoder.memory_fuser.layers.\1.pointwise_conv\2.\3",
        ),
        (r"memory_encoder\.fuser\.layers\.(\d+)\.gamma", r"memory_encoder.memory_fuser.layers.\1.scale"),
        # prompt encoder
        (r"sam_prompt_encoder\.(not_a_point_embed|no_mask_embed)\.weight", r"prompt_encoder.\1.weight"),
        (rf"sam_prompt_encoder\.mask_downscaling\.0\.{_P}", r"prompt_encoder.mask_embed.conv1.\1"),
        (rf"sam_prompt_encoder\.mask_downscaling\.1\.{_P}", r"prompt_encoder.mask_embed.layer_norm1.\1"),
        (rf"sam_prompt_encoder\.mask_downscaling\.3\.{_P}", r"prompt_encoder.mask_embed.conv2.\1"),
        (rf"sam_prompt_encoder\.mask_downscaling\.4\.{_P}", r"prompt_encoder.mask_embed.layer_norm2.\1"),
        (rf"sam_prompt_encoder\.mask_downscaling\.6\.{_P}", r"prompt_encoder.mask_embed.conv3.\1"),
        # mask decoder
        (
            rf"sam_mask_decoder\.transformer\.layers\.{_N}\."
            rf"(self_attn|cross_attn_token_to_image|cross_attn_image_to_token)\.([qkv])_proj\.{_P}",
            r"mask_decoder.transformer.layers.\1.\2.\3_proj.\4",
        ),
        (
            rf"sam_mask_decoder\.transformer\.layers\.{_N}\."
            rf"(self_attn|cross_attn_token_to_image|cross_attn_image_to_token)\.out_proj\.{_P}",
            r"mask_decoder.transformer.layers.\1.\2.o_proj.\3",
        ),
        (
            rf"sam_mask_decoder\.transformer\.layers\.{_N}\.norm([1234])\.{_P}",
            r"mask_decoder.transformer.layers.\1.layer_norm\2.\3",
        ),
        (
            rf"sam_mask_decoder\.transformer\.final_attn_token_to_image\.([qkv])_proj\.{_P}",
            r"mask_decoder.transformer.final_attn_token_to_image.\1_proj.\2",
        ),
        (
            rf"sam_mask_decoder\.transformer\.final_attn_token_to_image\.out_proj\.{_P}",
            r"mask_decoder.transformer.final_attn_token_to_image.o_proj.\1",
        ),
        (
            rf"sam_mask_decoder\.transformer\.norm_final_attn\.{_P}",
            r"mask_decoder.transformer.layer_norm_final_attn.\1",
        ),
        (r"sam_mask_decoder\.(iou_token|mask_tokens|obj_score_token)\.weight", r"mask_decoder.\1.weight"),
        (rf"sam_mask_decoder\.(conv_s0|conv_s1)\.{_P}", r"mask_decoder.\1.\2"),
        (rf"sam_mask_decoder\.output_upscaling\.0\.{_P}", r"mask_decoder.upscale_conv1.\1"),
        (rf"sam_mask_decoder\.output_upscaling\.1\.{_P}", r"mask_decoder.upscale_layer_norm.\1"),
        (rf"sam_mask_decoder\.output_upscaling\.3\.{_P}", r"mask_decoder.upscale_conv2.\1"),
        # SAM2Base's own tensors
        (r"maskmem_tpos_enc", r"memory_temporal_positional_encoding"),
        (r"no_mem_embed", r"no_memory_embedding"),
        (r"no_mem_pos_enc", r"no_memory_positional_encoding"),
        (r"no_obj_ptr", r"no_object_pointer"),
        (r"no_obj_embed_spatial", r"occlusion_spatial_embedding_parameter"),
        (rf"mask_downsample\.{_P}", r"mask_downsample.\1"),
        (rf"obj_ptr_tpos_proj\.{_P}", r"temporal_positional_encoding_projection_layer.\1"),
    ]
]

# Meta's ``MLP`` keeps its linears in ``layers.0..n-1``; transformers' feed-forward names the first
# ``proj_in``, the last ``proj_out`` and the ones between ``layers.0..n-3``.
_MLP_PREFIXES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"image_encoder\.trunk\.blocks\.(\d+)\.mlp"),
        lambda m: f"vision_encoder.backbone.blocks.{m[1]}.mlp",
    ),
    (
        re.compile(r"sam_mask_decoder\.transformer\.layers\.(\d+)\.mlp"),
        lambda m: f"mask_decoder.transformer.layers.{m[1]}.mlp",
    ),
    (
        re.compile(r"sam_mask_decoder\.output_hypernetworks_mlps\.(\d+)"),
        lambda m: f"mask_decoder.output_hypernetworks_mlps.{m[1]}",
    ),
    (re.compile(r"sam_mask_decoder\.iou_prediction_head"), lambda m: "mask_decoder.iou_prediction_head"),
    (re.compile(r"sam_mask_decoder\.pred_obj_score_head"), lambda m: "mask_decoder.pred_obj_score_head"),
    (re.compile(r"obj_ptr_proj"), lambda m: "object_pointer_proj"),
]
_MLP_KEY = re.compile(rf"(.+)\.layers\.{_N}\.{_P}")
_MASK_DOWNSAMPLER_KEY = re.compile(rf"memory_encoder\.mask_downsampler\.encoder\.{_N}\.{_P}")
_POINT_EMBED_KEY = re.compile(r"sam_prompt_encoder\.point_embeddings\.(\d+)\.weight")
_GAUSSIAN_KEY = "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"


def _few(keys: list[str], limit: int = 6) -> str:
    """Name a few keys of a long list, so an error message stays readable."""
    shown = ", ".join(keys[:limit])
    return shown + (f" … and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_is_sam2(meta_sd: Mapping[str, object]) -> None:
    absent = [k for k in _SIGNATURE_KEYS if k not in meta_sd]
    if absent:
        raise MetaCheckpointError(
            "This is not a SAM2 checkpoint: it lacks tensors every SAM2/SAM2.1 checkpoint has "
            f"({_few(absent)}). Expected one of Meta's sam2.1_hiera_*.pt / sam2_hiera_*.pt files."
        )


def _mlp_depths(meta_sd: Mapping[str, object]) -> dict[str, int]:
    """Number of linear layers of every Meta ``MLP`` in the state dict, by module prefix."""
    depths: dict[str, int] = {}
    for key in meta_sd:
        m = _MLP_KEY.fullmatch(key)
        if m and any(p.fullmatch(m[1]) for p, _ in _MLP_PREFIXES):
            depths[m[1]] = max(depths.get(m[1], 0), int(m[2]) + 1)
    return depths


def _map_key(key: str, mlp_depths: Mapping[str, int], n_downsampler_convs: int) -> str | None:
    """The transformers name of one Meta tensor, or None when no rule accounts for it."""
    m = _MLP_KEY.fullmatch(key)
    if m and m[1] in mlp_depths:
        for pattern, target in _MLP_PREFIXES:
            pm = pattern.fullmatch(m[1])
            if pm:
                idx, depth = int(m[2]), mlp_depths[m[1]]
                name = "proj_in" if idx == 0 else "proj_out" if idx == depth - 1 else f"layers.{idx - 1}"
                return f"{target(pm)}.{name}.{m[3]}"
    m = _MASK_DOWNSAMPLER_KEY.fullmatch(key)
    if m:
        # nn.Sequential of n x (conv, LayerNorm2d, GELU) then a 1x1 conv: conv at 3k, norm at 3k+1.
        idx = int(m[1])
        if idx == 3 * n_downsampler_convs:
            return f"memory_encoder.mask_downsampler.final_conv.{m[2]}"
        if idx < 3 * n_downsampler_convs and idx % 3 in (0, 1):
            part = "conv" if idx % 3 == 0 else "layer_norm"
            return f"memory_encoder.mask_downsampler.layers.{idx // 3}.{part}.{m[2]}"
        return None
    for pattern, template in _RENAMES:
        m = pattern.fullmatch(key)
        if m:
            return m.expand(template)
    return None


def _expected_tensors(config: Sam2VideoConfig) -> dict[str, torch.Size]:
    """Names and shapes of the tensors ``Sam2VideoModel(config)`` loads, without allocating them."""
    with torch.device("meta"):
        model = Sam2VideoModel(config)
    return {k: v.shape for k, v in model.state_dict().items()}


def convert_meta_state_dict(
    meta_sd: Mapping[str, torch.Tensor], config: Sam2VideoConfig
) -> dict[str, torch.Tensor]:
    """Rename a Meta SAM2 state dict to ``Sam2VideoModel``'s layout, checked against ``config``.

    Every Meta tensor must be accounted for and every model tensor provided, with matching shapes:
    a silent partial load would give a model that tracks plausibly but wrongly, which is worse than
    a refusal. Raises ``MetaCheckpointError`` naming the offending keys.
    """
    _check_is_sam2(meta_sd)
    mlp_depths = _mlp_depths(meta_sd)
    downsampler_idx = [int(m[1]) for k in meta_sd if (m := _MASK_DOWNSAMPLER_KEY.fullmatch(k))]
    # the final 1x1 conv sits at 3n; when it is missing, still count n from the last conv/norm seen
    n_downsampler_convs = -(-max(downsampler_idx) // 3) if downsampler_idx else 0

    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    point_embeds: dict[int, torch.Tensor] = {}
    for key, value in meta_sd.items():
        if not isinstance(value, torch.Tensor):
            unknown.append(key)
            continue
        if key == _GAUSSIAN_KEY:
            # Meta uses one random-Fourier matrix for point and image positional encodings;
            # transformers keeps a copy in the prompt encoder and one on the model.
            out["prompt_encoder.shared_embedding.positional_embedding"] = value
            out["shared_image_embedding.positional_embedding"] = value.clone()
            continue
        m = _POINT_EMBED_KEY.fullmatch(key)
        if m:
            point_embeds[int(m[1])] = value
            continue
        new_key = _map_key(key, mlp_depths, n_downsampler_convs)
        if new_key is None:
            unknown.append(key)
        else:
            out[new_key] = value
    if point_embeds:
        if sorted(point_embeds) != list(range(len(point_embeds))):
            unknown.extend(f"sam_prompt_encoder.point_embeddings.{i}.weight" for i in sorted(point_embeds))
        else:  # four nn.Embedding(1, C) -> one nn.Embedding(4, C)
            out["prompt_encoder.point_embed.weight"] = torch.cat(
                [point_embeds[i] for i in sorted(point_embeds)]
            )

    expected = _expected_tensors(config)
    unexpected = sorted(k for k in out if k not in expected)
    missing = sorted(k for k in expected if k not in out)
    wrong_shape = sorted(
        f"{k} {tuple(out[k].shape)} (model wants {tuple(expected[k])})"
        for k in out
        if k in expected and out[k].shape != expected[k]
    )
    problems = []
    if unknown:
        problems.append(
            f"{len(unknown)} unknown tensor(s) that no SAM2 module accounts for: {_few(sorted(unknown))}"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} tensor(s) this SAM2 architecture does not have: {_few(unexpected)}"
        )
    if missing:
        problems.append(f"{len(missing)} missing tensor(s): {_few(missing)}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} tensor(s) of the wrong shape: {_few(wrong_shape, 3)}")
    if problems:
        raise MetaCheckpointError(
            "The SAM2 checkpoint does not match the model: " + "; ".join(problems) + "."
        )
    return out


def _shape(meta_sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    """Shape of a tensor the architecture is read from; its absence is the user's problem, not a KeyError."""
    value = meta_sd.get(key)
    if not isinstance(value, torch.Tensor):
        raise MetaCheckpointError(f"The SAM2 checkpoint lacks {key}, needed to tell its architecture.")
    return tuple(int(d) for d in value.shape)


def _hiera_layout(meta_sd: Mapping[str, torch.Tensor]) -> tuple[list[int], list[int]]:
    """Blocks per stage and embed dim per stage, read from the Hiera blocks' output norms."""
    dims: dict[int, int] = {}
    for key, value in meta_sd.items():
        m = re.fullmatch(r"image_encoder\.trunk\.blocks\.(\d+)\.norm2\.weight", key)
        if m:
            dims[int(m[1])] = int(value.shape[0])
    if not dims or sorted(dims) != list(range(len(dims))):
        raise MetaCheckpointError("The SAM2 checkpoint's image encoder blocks are incomplete or misnumbered.")
    stages: list[int] = []
    stage_dims: list[int] = []
    for i in range(len(dims)):
        if stage_dims and dims[i] == stage_dims[-1]:
            stages[-1] += 1
        else:
            stages.append(1)
            stage_dims.append(dims[i])
    return stages, stage_dims


def infer_config_from_meta_state_dict(
    meta_sd: Mapping[str, torch.Tensor], image_size: int = 1024
) -> Sam2VideoConfig:
    """The ``Sam2VideoConfig`` of a Meta checkpoint: size (tiny/small/base-plus/large) and version.

    Sizes are told apart by the Hiera layout (embed dims, blocks per stage); SAM2.1 is told from
    SAM2 by the tensors only SAM2.1 has: the occlusion spatial embedding (``no_obj_embed_spatial``)
    and the projection of object pointers' temporal encoding (``obj_ptr_tpos_proj``). Meta's
    checkpoints do not record the input size; ``image_size`` other than 1024 is for tests.
    """
    _check_is_sam2(meta_sd)
    stages, stage_dims = _hiera_layout(meta_sd)
    preset = _HIERA_PRESETS.get(tuple(stages))
    embed_dim = int(meta_sd["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
    if preset is None or preset["embed_dim"] != embed_dim or len(stages) != 4:
        known = ", ".join(f"{p['name']} {list(k)}" for k, p in _HIERA_PRESETS.items())
        raise MetaCheckpointError(
            f"Unrecognised SAM2 image encoder: {embed_dim}-dim Hiera with blocks per stage {stages} "
            f"(known: {known})."
        )
    if stage_dims != [embed_dim * 2**i for i in range(4)]:
        raise MetaCheckpointError(f"Unrecognised SAM2 image encoder widths {stage_dims}.")
    window = list(preset["window"])  # type: ignore[arg-type]
    if _shape(meta_sd, "image_encoder.trunk.pos_embed_window")[-1] != window[0]:
        raise MetaCheckpointError(
            "The SAM2 checkpoint's windowed positional embedding has an unexpected size."
        )
    bkg = list(_shape(meta_sd, "image_encoder.trunk.pos_embed")[-2:])
    heads = int(preset["heads"])  # type: ignore[call-overload]

    hidden = _shape(meta_sd, "no_mem_embed")[-1]
    num_maskmem, *_, mem_dim = _shape(meta_sd, "maskmem_tpos_enc")
    n_mem_layers = len({k.split(".")[2] for k in meta_sd if k.startswith("memory_attention.layers.")})
    n_fuser_layers = len({k.split(".")[3] for k in meta_sd if k.startswith("memory_encoder.fuser.layers.")})
    n_dec_layers = len(
        {k.split(".")[3] for k in meta_sd if k.startswith("sam_mask_decoder.transformer.layers.")}
    )
    ffn = _shape(meta_sd, "memory_attention.layers.0.linear1.weight")[0]
    fuser_mid = _shape(meta_sd, "memory_encoder.fuser.layers.0.pwconv1.weight")[0]
    dec_mlp = _shape(meta_sd, "sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight")[0]
    n_mask_tokens = _shape(meta_sd, "sam_mask_decoder.mask_tokens.weight")[0]

    s = image_size
    feat = [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]]
    return Sam2VideoConfig(
        vision_config={
            "model_type": "sam2_vision_model",
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "hidden_size": embed_dim,
                "num_attention_heads": heads,
                "image_size": [s, s],
                "blocks_per_stage": stages,
                "embed_dim_per_stage": stage_dims,
                "num_attention_heads_per_stage": [heads * 2**i for i in range(4)],
                "window_size_per_stage": window,
                "global_attention_blocks": list(preset["global"]),  # type: ignore[call-overload]
                "window_positional_embedding_background_size": bkg,
            },
            "backbone_channel_list": stage_dims[::-1],
            "backbone_feature_sizes": feat,
            "fpn_hidden_size": hidden,
        },
        prompt_encoder_config={"hidden_size": hidden, "image_size": s},
        mask_decoder_config={
            "hidden_size": hidden,
            "mlp_dim": dec_mlp,
            "num_hidden_layers": n_dec_layers,
            "num_multimask_outputs": n_mask_tokens - 1,
        },
        image_size=s,
        num_maskmem=num_maskmem,
        enable_occlusion_spatial_embedding="no_obj_embed_spatial" in meta_sd,
        enable_temporal_pos_encoding_for_object_pointers="obj_ptr_tpos_proj.weight" in meta_sd,
        memory_attention_hidden_size=hidden,
        memory_attention_num_layers=n_mem_layers,
        memory_attention_feed_forward_hidden_size=ffn,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=hidden,
        memory_encoder_output_channels=mem_dim,
        mask_downsampler_embed_dim=hidden,
        memory_fuser_num_layers=n_fuser_layers,
        memory_fuser_embed_dim=hidden,
        memory_fuser_intermediate_dim=fuser_mid,
    )


def read_meta_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the state dict out of a Meta ``.pt`` file safely (``weights_only``: no code runs)."""
    path = Path(path)
    if not path.exists():
        raise MetaCheckpointError(f"No such checkpoint file: {path}")
    if not path.is_file():  # a named pipe would block torch.load for ever
        raise MetaCheckpointError(f"{path.name} is not a SAM2 checkpoint: it is not a regular file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own text is not for the user: it suggests weights_only=False, which would run
        # whatever code the file holds, or speaks of zip readers and pickle opcodes.
        if "Unsupported global" in str(exc):
            why = (
                "it holds Python objects besides the weights, which are not loaded because loading "
                "them could run code from the file"
            )
        else:
            why = "it is not a PyTorch weights file, or it is damaged or truncated"
        raise MetaCheckpointError(f"{path.name} is not a SAM2 checkpoint this app can read: {why}.") from None
    sd = obj.get("model", obj) if isinstance(obj, Mapping) else None
    if not isinstance(sd, Mapping) or not sd:
        raise MetaCheckpointError(
            f"{path.name} is not a SAM2 checkpoint: expected a dict with a 'model' state dict, "
            f"found {type(obj).__name__}."
        )
    _check_is_sam2(sd)
    return dict(sd)


def load_meta_checkpoint(path: str | os.PathLike[str], image_size: int = 1024) -> Sam2VideoModel:
    """Build a ``Sam2VideoModel`` (eval mode, CPU, float32) from one of Meta's SAM2 ``.pt`` files.

    ``image_size`` is the model input size; Meta's models use 1024, smaller sizes are for tests.
    """
    meta_sd = read_meta_state_dict(path)
    config = infer_config_from_meta_state_dict(meta_sd, image_size=image_size)
    hf_sd = convert_meta_state_dict(meta_sd, config)
    model = Sam2VideoModel(config)
    result = model.load_state_dict(hf_sd, strict=False)
    if result.missing_keys or result.unexpected_keys:  # convert_meta_state_dict checked: a bug if hit
        raise MetaCheckpointError(
            f"Internal key mismatch loading {Path(path).name}: missing {_few(result.missing_keys)}; "
            f"unexpected {_few(result.unexpected_keys)}."
        )
    return model.eval()
