"""Model families in one place: names, preprocessing number by number, folders, loading, EdgeTAM's backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from litlora_desktop.core import model_ids
from litlora_desktop.core.sam2.families import (
    FAMILIES,
    default_config,
    family_of,
    family_of_type,
)
from litlora_desktop.core.sam2.models import ModelLoadError, load_model, random_model
from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.core.sam2.repvit import RepVitBackbone, RepVitConfig
from litlora_desktop.core.sam2.tracker import Tracker
from tests.model_fixtures import FAMILY_KEYS, ClipSource, moving_squares, tiny_family_model


def test_every_family_of_the_window_has_an_adapter_and_hub_ids():
    assert [f.key for f in model_ids.FAMILIES] == ["sam2.1", "sam2", "sam3", "edgetam"]
    for info in model_ids.FAMILIES:
        fam = family_of_type(info.model_type)
        assert info in fam.info
        for hub in info.hub_ids.values():
            assert model_ids.family_of_hub_id(hub) is info
            assert hub in model_ids.MODEL_CHOICES.values()
    assert model_ids.family_of_hub_id("facebook/sam2-hiera-large").key == "sam2"
    assert model_ids.family_of_hub_id("someone/sam2-copy") is None
    assert model_ids.family_info("sam3").gpu_recommended and "access" in model_ids.family_info("sam3").access
    assert model_ids.MODEL_CHOICES["SAM2.1 tiny"] == model_ids.DEFAULT_MODEL_ID


@pytest.mark.parametrize("info", model_ids.FAMILIES, ids=lambda f: f.key)
def test_stated_sizes_are_the_default_architectures(info):
    """The parameter counts Settings shows are counted from each family's default architecture."""
    fam = family_of_type(info.model_type)
    with torch.device("meta"):
        model = fam.build(default_config(info.key))
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(info.params_m, abs=0.05)
    assert int(model.config.image_size) == info.input_size


@pytest.mark.parametrize(
    "model_type, v0, v128, v255",
    [
        # ImageNet: (v / 255 - mean) / std, channel 0 (mean 0.485, std 0.229)
        ("sam2_video", -2.117904, 0.074065, 2.248908),
        ("edgetam_video", -2.117904, 0.074065, 2.248908),
        # SAM 3: mean = std = 0.5, so 0 -> -1, 128 -> 1/255, 255 -> 1
        ("sam3_tracker_video", -1.0, 0.003922, 1.0),
    ],
)
def test_each_familys_tracker_normalises_frames_by_its_own_numbers(model_type, v0, v128, v255):
    fam = FAMILIES[model_type]
    model = random_model(fam.tiny(64, 0.02))
    tr = Tracker(model, ClipSource(moving_squares(2)))
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0], rgb[1], rgb[2:] = 0, 128, 255
    out = tr._normalizer(rgb)
    assert out[0, 0].tolist() == pytest.approx([v0] * 4, abs=1e-5)
    assert out[0, 1].tolist() == pytest.approx([v128] * 4, abs=1e-5)
    assert out[0, 2].tolist() == pytest.approx([v255] * 4, abs=1e-5)
    tr.close()


def test_input_sizes_come_from_the_config():
    """SAM 3 takes 1008 x 1008 (72 patches of 14 px), the others 1024 (64 of 16 px)."""
    sizes = {k: int(f.default().image_size) for k, f in FAMILIES.items()}
    assert sizes == {"sam2_video": 1024, "sam3_tracker_video": 1008, "edgetam_video": 1024}
    sam3 = FAMILIES["sam3_tracker_video"].default()
    assert sam3.vision_config.backbone_feature_sizes == [[288, 288], [144, 144], [72, 72]]
    assert sam3.prompt_encoder_config.patch_size == 14


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_a_save_pretrained_folder_of_each_family_loads_and_tracks(tmp_path, key):
    model = tiny_family_model(key)
    model.save_pretrained(tmp_path / key)
    loaded = load_model(tmp_path / key, device="cpu")
    assert type(loaded.model) is type(model) and family_of(loaded.model) is family_of(model)
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    masks = []
    for m in (model, loaded.model):
        with Tracker(m, ClipSource(moving_squares(4))) as tr:
            tr.add_object(1)
            tr.add_clicks(1, 0, [Click(12, 14, True)])
            masks.append([r.masks[1].mask for r in tr.propagate(0, 3)])
    assert all(np.array_equal(x, y) for x, y in zip(*masks, strict=True))


def test_sam2_and_sam21_folders_differ_in_their_two_switches(tmp_path):
    """Saved and loaded back, a SAM2 folder is still SAM2: without SAM2.1's occlusion embedding and
    projected temporal encoding of object pointers (in its config and in its weights)."""
    for key, on in (("sam2", False), ("sam2.1", True)):
        tiny_family_model(key).save_pretrained(tmp_path / key)
        loaded = load_model(tmp_path / key, device="cpu").model
        cfg = loaded.config
        assert cfg.enable_occlusion_spatial_embedding is on
        assert cfg.enable_temporal_pos_encoding_for_object_pointers is on
        names = set(loaded.state_dict())
        assert any("occlusion_spatial_embedding" in n for n in names) is on, key
        assert any("temporal_positional_encoding_projection_layer" in n for n in names) is on, key


def test_a_folder_of_another_model_type_is_refused_with_one_sentence(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError) as info:
        load_model(tmp_path / "m", device="cpu")
    assert "'bert'" in str(info.value) and "sam3_tracker_video" in str(info.value)


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_the_memory_encoding_the_tracker_shares_is_the_same_on_every_frame(key):
    """The tracker keeps one memory positional encoding for all frames (memory.py's ``strip``); true
    for EdgeTAM's perceiver too (zeros for its 1-D latents, a fixed sine for its 2-D ones)."""
    model = tiny_family_model(key)
    encs = []
    with Tracker(model, ClipSource(moving_squares(6))) as tr, torch.inference_mode():
        for f in (1, 4):
            feats = tr._frame_features(f).vision_feats[-1]
            masks = torch.randn(
                1, 1, model.image_size, model.image_size, generator=torch.Generator().manual_seed(f)
            )
            pos = model._encode_new_memory(feats, masks, torch.ones(1, 1), False)[1]
            encs.append(pos[-1] if isinstance(pos, list) else pos)
    assert torch.equal(encs[0], encs[1]) and encs[0].abs().sum() > 0


def test_repvit_has_the_timm_wrappers_parameter_names_and_shapes():
    """EdgeTAM's RepViT-M1 as the hub's checkpoints name it (spot checks of the layout) and its outputs."""
    net = RepVitBackbone(RepVitConfig())
    sd = net.state_dict()
    expect = {
        "timm_model.stem.conv1.c.weight": (24, 3, 3, 3),
        "timm_model.stem.conv2.bn.running_var": (48,),
        "timm_model.stages_0.blocks.0.token_mixer.conv.c.weight": (48, 1, 3, 3),
        "timm_model.stages_0.blocks.0.token_mixer.conv1.c.weight": (48, 1, 1, 1),
        "timm_model.stages_0.blocks.0.se.fc1.weight": (16, 48, 1, 1),
        "timm_model.stages_0.blocks.0.channel_mixer.conv1.c.weight": (96, 48, 1, 1),
        "timm_model.stages_1.downsample.pre_block.token_mixer.conv.bn.weight": (48,),
        "timm_model.stages_1.downsample.spatial_downsample.c.weight": (48, 1, 3, 3),
        "timm_model.stages_1.downsample.channel_downsample.c.weight": (96, 48, 1, 1),
        "timm_model.stages_1.downsample.ffn.conv2.c.weight": (96, 192, 1, 1),
        "timm_model.stages_2.blocks.13.channel_mixer.conv2.bn.bias": (192,),
        "timm_model.stages_3.blocks.0.se.fc2.weight": (384, 96, 1, 1),
    }
    for k, shape in expect.items():
        assert tuple(sd[k].shape) == shape, k
    assert not any(".se." in k for k in sd if ".blocks.1." in k and "stages_0" in k)  # SE every other block
    n = sum(p.numel() for p in net.parameters())
    assert n == 4_713_712
    out = net.eval()(torch.zeros(1, 3, 64, 64)).last_hidden_state
    assert [tuple(t.shape) for t in out] == [(1, 48, 16, 16), (1, 96, 8, 8), (1, 192, 4, 4), (1, 384, 2, 2)]


def test_repvit_reproduces_timms_repvit_number_by_number():
    """A small RepViT (widths 8-64, blocks 1-2-1-1) built by timm 1.0.31 (features_only, batch-norm
    statistics randomised) was saved with an input and its four outputs: loaded strictly into
    ``RepVitBackbone``, the same weights give the same maps. (RepViT-M1 itself, 676 tensors, was
    compared once the same way on a 256-px input: max difference 0.0 on all four stages.)"""
    from pathlib import Path

    from safetensors.torch import load_file

    saved = load_file(Path(__file__).with_name("repvit_tiny_timm.safetensors"))
    x = saved.pop("input")
    outs = [saved.pop(f"output.{i}") for i in range(4)]
    net = RepVitBackbone(RepVitConfig((8, 16, 32, 64), (1, 2, 1, 1))).eval()
    net.load_state_dict(saved, strict=True)
    with torch.no_grad():
        got = net(x).last_hidden_state
    for a, b in zip(got, outs, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6), float((a - b).abs().max())
