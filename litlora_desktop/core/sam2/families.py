"""The model families the tracker runs: SAM2 / SAM2.1, the SAM 3 tracker and EdgeTAM, one adapter each.

All three are SAM2's video pipeline in transformers (the same session, memory and mask-decoder
API, the same 21 q/k/v projections in the decoder's two-way transformer), so the tracker, the decoder
capture and LIT-LoRA treat them alike. What differs is confined to a ``Family`` here:

- the model and config classes (``Sam2VideoModel``, ``Sam3TrackerVideoModel``, ``EdgeTamVideoModel``);
- the frame normalisation (SAM 3 uses mean = std = 0.5, the others ImageNet's) and input size (SAM 3
  1008 with 14-px patches, the others 1024 with 16-px patches), read from the model's config;
- how a model is built: EdgeTAM's backbone is built by transformers through timm, which needs
  torchvision; here it is ``repvit.RepVitBackbone`` (same weights, plain torch) instead.

The names, hub ids, sizes and licence notes the window shows live torch-free in ``core.model_ids``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    EdgeTamVideoConfig,
    EdgeTamVideoModel,
    PreTrainedConfig,
    PreTrainedModel,
    Sam2VideoConfig,
    Sam2VideoModel,
    Sam3TrackerVideoConfig,
    Sam3TrackerVideoModel,
)

from litlora_desktop.core import model_ids
from litlora_desktop.core.sam2.preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "FAMILIES",
    "Family",
    "default_config",
    "family_for_config",
    "family_of",
    "family_of_type",
    "sam2_tiny_config",
    "tiny_config",
]

HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Family:
    """What the code needs to know about one family of SAM2-style video trackers."""

    model_type: str
    """``model_type`` in a ``save_pretrained`` folder's config.json."""
    model_class: type[PreTrainedModel]
    config_class: type[PreTrainedConfig]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    tiny: Callable[[int, float], PreTrainedConfig]
    """A tiny config (input size, init std) that tracks in milliseconds, for tests."""
    default: Callable[[], PreTrainedConfig]
    """The family's default-size architecture (for timing with random weights)."""
    info: tuple[model_ids.FamilyInfo, ...]
    """The families of ``model_ids`` this adapter serves (SAM2 and SAM2.1 share one)."""

    def build(self, config: PreTrainedConfig) -> PreTrainedModel:
        """A randomly initialised model of this family (EdgeTAM with its torch-only backbone)."""
        with building(self):
            return self.model_class(config)

    def from_pretrained(self, folder: str) -> PreTrainedModel:
        """Load a ``save_pretrained`` folder (or a hub snapshot) of this family."""
        with building(self):
            return self.model_class.from_pretrained(folder)


def sam2_tiny_config(image_size: int = 64, init_std: float = 0.02) -> Sam2VideoConfig:
    """A very small SAM2 video config that runs in milliseconds per frame on a CPU, for tests.

    Shapes the library hard-codes constrain it: memory attention reads 64-channel memories, and the
    object-pointer path assumes the hidden size is a multiple (> 1) of the memory size, so hidden is 128.
    ``init_std``: with the library's 0.02 a random decoder emits logits of ~1e-4; 0.2 gives logits of
    a realistic scale (a few units), which learning tests need.
    """
    s = image_size
    return Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=8,
                image_size=[s, s],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[8, 16, 32, 64],
                num_attention_heads_per_stage=[1, 1, 2, 2],
                window_size_per_stage=[4, 4, 4, 2],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2],
            ),
            backbone_channel_list=[64, 32, 16, 8],
            backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
            fpn_hidden_size=128,
        ),
        memory_attention_feed_forward_hidden_size=128,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        **_tiny_common(s, init_std, 16),
    )


def _tiny_common(s: int, init_std: float, patch: int) -> dict[str, Any]:
    """The decoder, prompt encoder and memory of every tiny model: SAM2's tiny test widths."""
    return dict(
        prompt_encoder_config=dict(hidden_size=128, image_size=s, patch_size=patch, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=128, num_attention_heads=2, iou_head_hidden_dim=64),
        image_size=s,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=128,
        initializer_range=init_std,
    )


def _sam3_tiny(s: int, init_std: float) -> Sam3TrackerVideoConfig:
    """SAM 3's ViT with 2 layers of width 32 and 14-px patches; ``s`` is rounded to a multiple of 56
    (the low-resolution maps are 4x and 2x the patch grid, and windows need an even grid)."""
    s = max(56, round(s / 56) * 56)
    vit = dict(
        model_type="sam3_vit_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=s,
        patch_size=14,
        window_size=2,
        global_attn_indexes=[1],
        pretrain_image_size=28,
        initializer_range=init_std,
    )
    return Sam3TrackerVideoConfig(
        vision_config=dict(model_type="sam3_vision_model", backbone_config=vit, fpn_hidden_size=128),
        memory_attention_feed_forward_hidden_size=128,
        **_tiny_common(s, init_std, 14),
    )


def _repvit_config(architecture: str = "repvit_m1", **sizes: Any) -> dict[str, Any]:
    """A timm-wrapper backbone config as EdgeTAM's hub config has it. ``label_names`` is set so that
    transformers does not ask timm for ImageNet's labels when it reads the config."""
    args = dict(in_chans=3, features_only=True, out_indices=[0, 1, 2, 3], **sizes)
    return dict(
        model_type="timm_wrapper", architecture=architecture, model_args=args, label_names=[], num_classes=0
    )


def _edgetam_default() -> EdgeTamVideoConfig:
    """EdgeTAM as released: RepViT-M1 at 1024 px, 2 memory-attention layers, a 256+256-latent
    spatial perceiver. transformers' bare ``EdgeTamVideoConfig()`` names SAM2's Hiera instead."""
    return EdgeTamVideoConfig(
        vision_config=dict(model_type="edgetam_vision_model", backbone_config=_repvit_config())
    )


def _edgetam_tiny(s: int, init_std: float) -> EdgeTamVideoConfig:
    widths = [8, 16, 32, 64]
    vision = dict(
        model_type="edgetam_vision_model",
        backbone_config=_repvit_config(embed_dim=widths, depth=[1, 1, 1, 1]),
        backbone_channel_list=widths[::-1],
        backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
        fpn_hidden_size=128,
        initializer_range=init_std,
    )
    grid = s // 16
    return EdgeTamVideoConfig(
        vision_config=vision,
        memory_attention_mlp_hidden_size=128,
        memory_attention_rope_feat_sizes=[grid, grid],
        memory_attention_rope_k_sizes=[2, 2],
        perceiver_resampler_num_latents=4,
        perceiver_resampler_num_latents_2d=4,
        perceiver_resampler_mlp_intermediate_size=64,
        perceiver_resampler_num_layers=1,
        **_tiny_common(s, init_std, 16),
    )


_by_key = {f.key: f for f in model_ids.FAMILIES}
FAMILIES: dict[str, Family] = {
    "sam2_video": Family(
        "sam2_video",
        Sam2VideoModel,
        Sam2VideoConfig,
        IMAGENET_MEAN,
        IMAGENET_STD,
        sam2_tiny_config,
        Sam2VideoConfig,
        (_by_key["sam2.1"], _by_key["sam2"]),
    ),
    "sam3_tracker_video": Family(
        "sam3_tracker_video",
        Sam3TrackerVideoModel,
        Sam3TrackerVideoConfig,
        HALF,
        HALF,
        _sam3_tiny,
        Sam3TrackerVideoConfig,
        (_by_key["sam3"],),
    ),
    "edgetam_video": Family(
        "edgetam_video",
        EdgeTamVideoModel,
        EdgeTamVideoConfig,
        IMAGENET_MEAN,
        IMAGENET_STD,
        _edgetam_tiny,
        _edgetam_default,
        (_by_key["edgetam"],),
    ),
}
"""The adapters by config ``model_type``; every ``model_ids.FAMILIES`` entry is served by one."""


def family_of_type(model_type: str) -> Family:
    """The adapter for a config.json ``model_type``; a ValueError names the known ones."""
    try:
        return FAMILIES[model_type]
    except KeyError:
        known = ", ".join(FAMILIES)
        raise ValueError(f"model type {model_type!r} is not a supported video tracker ({known})") from None


def family_for_config(config: PreTrainedConfig) -> Family:
    return family_of_type(str(config.model_type))


def family_of(model: torch.nn.Module) -> Family:
    """The adapter of a loaded model, by its config."""
    return family_for_config(model.config)


_build_lock = threading.Lock()


@contextmanager
def building(family: Family) -> Iterator[None]:
    """While an EdgeTAM model is constructed, its timm backbone is built as ``RepVitBackbone``.

    transformers' EdgeTAM vision model asks ``AutoModel.from_config`` for its backbone; the name is
    rebound in that one module for the construction only (under a lock), so nothing else changes.
    """
    if family.model_type != "edgetam_video":
        yield
        return
    from transformers.models.edgetam import modeling_edgetam

    from litlora_desktop.core.sam2.repvit import RepVitBackbone, RepVitConfig

    original = modeling_edgetam.AutoModel

    class _AutoModel:
        @staticmethod
        def from_config(config: Any, **kwargs: Any) -> torch.nn.Module:
            if getattr(config, "model_type", None) == "timm_wrapper":
                return RepVitBackbone(RepVitConfig.from_backbone_config(config))
            return original.from_config(config, **kwargs)

    with _build_lock:
        modeling_edgetam.AutoModel = _AutoModel
        try:
            yield
        finally:
            modeling_edgetam.AutoModel = original


def default_config(key: str) -> PreTrainedConfig:
    """The default-size architecture of the family ``key`` (SAM2: SAM2.1's, two switches off)."""
    config = family_of_type(model_ids.family_info(key).model_type).default()
    return _sam2_switches(key, config)


def _sam2_switches(key: str, config: PreTrainedConfig) -> PreTrainedConfig:
    if key == "sam2":
        config.enable_occlusion_spatial_embedding = False
        config.enable_temporal_pos_encoding_for_object_pointers = False
    return config


def tiny_config(key: str, image_size: int = 64, init_std: float = 0.02) -> PreTrainedConfig:
    """A tiny random-weight config of the family ``key`` of ``model_ids.FAMILIES`` (tests, the
    benchmarks). SAM2 differs from SAM2.1 by two switches of the same architecture: SAM2.1 added the
    occlusion spatial embedding and the projected temporal encoding of object pointers."""
    info = model_ids.family_info(key)
    return _sam2_switches(key, family_of_type(info.model_type).tiny(image_size, init_std))
