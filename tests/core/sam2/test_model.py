"""Model loading paths: a save_pretrained folder (the real path), and clear errors for everything else."""

from __future__ import annotations

import pytest
import torch

from litlora_desktop.core.sam2.models import (
    DEFAULT_MODEL_ID,
    ModelLoadError,
    choose_device,
    default_config,
    load_model,
    random_model,
    tiny_config,
)


def test_load_from_a_save_pretrained_folder(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu")
    assert loaded.device.device.type == "cpu" and not loaded.model.training
    a, b = tiny_model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.name == "m"


def test_offline_hub_id_without_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        load_model(DEFAULT_MODEL_ID, device="cpu")
    msg = str(err.value)
    assert DEFAULT_MODEL_ID in msg and "not in the local model cache" in msg
    assert "local model folder" in msg and "Meta .pt" in msg


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "nope", "not found"),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "not a Meta SAM2 checkpoint"),
        (lambda p: (p / "d").mkdir() or p / "d", "no config.json"),
    ],
)
def test_bad_sources_get_clear_errors(tmp_path, make, match):
    with pytest.raises(ModelLoadError, match=match):
        load_model(make(tmp_path), device="cpu")


def test_device_policy_on_a_cpu_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = choose_device(None)
    assert cpu.device.type in {"cpu", "mps"} and cpu.autocast_dtype is None
    asked = choose_device("cuda")
    assert asked.fell_back and "CUDA was requested" in asked.message and asked.device.type in {"cpu", "mps"}
    assert choose_device("cpu").label == "cpu fp32"
    for name in ("tpu", "cuda:x", "cuda:", "gpu"):
        with pytest.raises(ValueError, match="unknown device"):
            choose_device(name)


def test_configs():
    tiny = random_model(tiny_config(64), seed=1)
    assert tiny.config.image_size == 64
    assert sum(p.numel() for p in tiny.parameters()) < 2_000_000
    same = random_model(tiny_config(64), seed=1)
    assert all(torch.equal(a, b) for a, b in zip(tiny.parameters(), same.parameters(), strict=True))
    cfg = default_config()  # SAM2.1-hiera-tiny
    assert cfg.image_size == 1024 and cfg.vision_config.backbone_config.blocks_per_stage == [1, 2, 7, 2]


def test_the_demo_model_loads_by_name_offline_and_says_what_it_is():
    from litlora_desktop.core.sam2.models import DEMO_MODEL, load_model

    loaded = load_model(DEMO_MODEL, device="cpu")
    assert loaded.source == "demo" and loaded.name == "Demo SAM2 (synthetic shapes)"
    assert loaded.model.config.image_size == 256


def test_a_missing_demo_model_is_a_clear_error(monkeypatch, tmp_path):
    import litlora_desktop.core.sam2.models as model_mod

    monkeypatch.setattr(model_mod, "demo_model_dir", lambda: tmp_path / "gone")
    with pytest.raises(model_mod.ModelLoadError, match="demo model is missing"):
        model_mod.load_model("demo", device="cpu")


def test_an_unreachable_hub_model_falls_back_to_the_demo_with_a_note(monkeypatch, tmp_path):
    from litlora_desktop.workers.engine import load_any_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = load_any_model("facebook/sam2.1-hiera-small", "cpu", None)
    assert loaded.source == "demo"
    assert (
        "facebook/sam2.1-hiera-small" in loaded.fallback_note and "synthetic shapes" in loaded.fallback_note
    )
