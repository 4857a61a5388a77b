"""EdgeTAM's image encoder (RepViT) in plain torch, so EdgeTAM runs without the timm package.

transformers builds EdgeTAM's backbone through its timm wrapper, and timm imports torchvision at
import time, which this project never installs (README, "The two commands"). This module is the
same network written here: a convolutional stem to 1/4 resolution, then four stages of RepViT
blocks (a depthwise 3x3 + 1x1 token mixer with a residual, squeeze-excite on every other block, a
1x1-conv MLP as channel mixer), each stage after the first opening with a stride-2 depthwise
downsample. It returns the four stage outputs, highest resolution first, as EdgeTAM's neck expects.

Parameter names follow the layout of the timm wrapper's state dict (``timm_model.stem.conv1.c``,
``timm_model.stages_0.blocks.0.token_mixer.conv.bn`` ...), so a ``save_pretrained`` folder of
EdgeTAM loads into it unchanged. ``RepVitConfig`` reads the wrapper's config (``architecture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "RepVitBackbone", "RepVitConfig"]

ARCHITECTURES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # name: (channels per stage, blocks per stage); EdgeTAM uses m1
    "repvit_m1": ((48, 96, 192, 384), (2, 2, 14, 2)),
    "repvit_m2": ((64, 128, 256, 512), (2, 2, 12, 2)),
    "repvit_m3": ((64, 128, 256, 512), (4, 4, 18, 2)),
}


@dataclass(frozen=True)
class RepVitConfig:
    """Channels and blocks per stage; ``from_backbone_config`` reads a timm-wrapper config."""

    channels: tuple[int, ...] = ARCHITECTURES["repvit_m1"][0]
    depths: tuple[int, ...] = ARCHITECTURES["repvit_m1"][1]
    mlp_ratio: int = 2

    @classmethod
    def from_backbone_config(cls, config: Any) -> RepVitConfig:
        """The architecture a timm-wrapper config names; custom sizes via ``model_args``
        (``embed_dim``, ``depth``), as tiny test models use."""
        name = str(getattr(config, "architecture", "repvit_m1")).split(".")[0]
        args = dict(getattr(config, "model_args", None) or {})
        if "embed_dim" in args and "depth" in args:
            return cls(tuple(args["embed_dim"]), tuple(args["depth"]))
        if name not in ARCHITECTURES:
            raise ValueError(
                f"EdgeTAM backbone {name!r} is not supported (known: {', '.join(ARCHITECTURES)})"
            )
        return cls(*ARCHITECTURES[name])


def _se_channels(channels: int) -> int:
    """Squeeze-excite width: a quarter of the channels, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(channels / 4 + 4) // 8 * 8)


class _ConvBN(nn.Sequential):
    """Convolution without bias, then batch norm: the unit every layer here is built from."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))


class _TokenMixer(nn.Module):
    """Depthwise 3x3 plus depthwise 1x1 plus identity (a re-parameterisable sum)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = _ConvBN(dim, dim, 3, groups=dim)
        self.conv1 = _ConvBN(dim, dim, 1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.conv1(x) + x


class _SqueezeExcite(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        rd = _se_channels(dim)
        self.fc1 = nn.Conv2d(dim, rd, 1)
        self.fc2 = nn.Conv2d(rd, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.fc2(s))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = _ConvBN(dim, hidden)
        self.conv2 = _ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(nn.functional.gelu(self.conv1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, mlp_ratio: int, use_se: bool) -> None:
        super().__init__()
        self.token_mixer = _TokenMixer(dim)
        self.se = _SqueezeExcite(dim) if use_se else nn.Identity()
        self.channel_mixer = _Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.channel_mixer(x)


class _Downsample(nn.Module):
    def __init__(self, cin: int, cout: int, mlp_ratio: int) -> None:
        super().__init__()
        self.pre_block = _Block(cin, mlp_ratio, use_se=False)
        self.spatial_downsample = _ConvBN(cin, cin, 3, stride=2, groups=cin)
        self.channel_downsample = _ConvBN(cin, cout)
        self.ffn = _Mlp(cout, cout * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel_downsample(self.spatial_downsample(self.pre_block(x)))
        return x + self.ffn(x)


class _Stage(nn.Module):
    def __init__(self, cin: int, cout: int, depth: int, mlp_ratio: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = _Downsample(cin, cout, mlp_ratio) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*(_Block(cout, mlp_ratio, use_se=i % 2 == 0) for i in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class _Stem(nn.Module):
    def __init__(self, cout: int) -> None:
        super().__init__()
        self.conv1 = _ConvBN(3, cout // 2, 3, stride=2)
        self.conv2 = _ConvBN(cout // 2, cout, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(nn.functional.gelu(self.conv1(x)))


class _Features(nn.Module):
    """Stem and stages under the names the timm wrapper's feature extractor gives them."""

    def __init__(self, cfg: RepVitConfig) -> None:
        super().__init__()
        self.stem = _Stem(cfg.channels[0])
        cin = cfg.channels[0]
        for i, (cout, depth) in enumerate(zip(cfg.channels, cfg.depths, strict=True)):
            self.add_module(f"stages_{i}", _Stage(cin, cout, depth, cfg.mlp_ratio, downsample=i > 0))
            cin = cout
        self.num_stages = len(cfg.channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for i in range(self.num_stages):
            x = getattr(self, f"stages_{i}")(x)
            out.append(x)
        return out


@dataclass
class BackboneOutput:
    """What EdgeTAM's vision model reads from its backbone: the stage maps (NCHW, fine to coarse)."""

    last_hidden_state: list[torch.Tensor]
    hidden_states: tuple[torch.Tensor, ...] | None = None


class RepVitBackbone(nn.Module):
    """Stands in for transformers' timm wrapper inside ``EdgeTamVisionModel``: same weights, no timm."""

    def __init__(self, cfg: RepVitConfig) -> None:
        super().__init__()
        self.config = cfg
        self.timm_model = _Features(cfg)

    def forward(self, pixel_values: torch.Tensor, **_: Any) -> BackboneOutput:
        dtype = self.timm_model.stem.conv1.c.weight.dtype
        return BackboneOutput(self.timm_model(pixel_values.to(dtype)))
