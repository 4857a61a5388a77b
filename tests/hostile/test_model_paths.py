"""A model path that does not exist but looks like ``a/b`` (a mistyped folder) was taken for a
model-hub id and downloaded. Only the known SAM2 ids, or ids shaped like Meta's SAM2 ones
(``facebook/sam2...``), are fetched; anything else is one sentence naming what was given."""

from __future__ import annotations

import pytest

from litlora_desktop.core.sam2 import models as model_mod
from litlora_desktop.core.sam2.models import MODEL_CHOICES, ModelLoadError, load_model


class _Fetched(Exception):
    pass


@pytest.fixture
def fetches(monkeypatch):
    """Every hub download asked for; the download itself raises _Fetched (never the network)."""
    asked: list[str] = []

    def fake(repo_id, progress):
        asked.append(repo_id)
        raise _Fetched(repo_id)

    monkeypatch.setattr(model_mod, "_download", fake)
    return asked


@pytest.mark.parametrize("src", ["models/my-sam", "checkpoints/sam2_hiera_tiny.pt", "someone/sam2-copy"])
def test_a_missing_path_shaped_like_a_hub_id_is_not_downloaded(tmp_path, monkeypatch, fetches, src):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as info:
        load_model(src, device="cpu")
    msg = str(info.value)
    assert fetches == []
    assert src in msg and "no such file or folder" in msg and "not a known SAM2 model id" in msg, msg
    assert "facebook/sam2.1-hiera-tiny" in msg and "\n" not in msg, msg


@pytest.mark.parametrize(
    "src", [*(v for v in MODEL_CHOICES.values() if "/" in v), "facebook/sam2-hiera-large"]
)
def test_sam2_hub_ids_are_still_fetched(tmp_path, monkeypatch, fetches, src):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError):  # _Fetched, wrapped as any loading failure is
        load_model(src, device="cpu")
    assert fetches == [src]


def test_a_hub_download_fetches_only_what_the_model_needs(monkeypatch):
    """Model repos hold Meta's .pt checkpoint beside the converted weights: a whole-repo snapshot
    downloaded both (a large model's .pt is GBs). Both the cache lookup and the download ask for the
    files from_pretrained reads."""
    import fnmatch

    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, **kwargs):
        calls.append(kwargs.get("allow_patterns"))
        return "/nowhere"

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    assert model_mod._download("facebook/sam2.1-hiera-tiny", None) == "/nowhere"
    patterns = calls[0]
    wanted = [
        "config.json",
        "model.safetensors",
        "model-00001-of-00002.safetensors",
        "preprocessor_config.json",
    ]
    assert all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in wanted)
    assert not any(fnmatch.fnmatch(f, p) for p in patterns for f in ["sam2.1_hiera_tiny.pt", "edgetam.pt"])
