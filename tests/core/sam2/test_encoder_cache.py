"""Constant position encodings are computed once per model (core/sam2/encoder_cache.py), with equal results."""

from __future__ import annotations

import torch

from litlora_desktop.core.sam2.encoder_cache import CachedSinePositionEmbedding, cache_constant_encodings
from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.core.sam2.prompts import Click
from litlora_desktop.core.sam2.tracker import Tracker
from tests.model_fixtures import ClipSource, moving_squares


def _features(model, pixels):
    with torch.inference_mode():
        out = model.get_image_features(pixels, return_dict=True)
    return list(out.fpn_hidden_states), list(out.fpn_position_encoding)


def _frames(n: int = 2, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, 3, size, size, generator=g)


def test_cached_encoder_gives_identical_features_and_shares_the_encodings():
    plain, cached = random_model(tiny_config(64), seed=1), random_model(tiny_config(64), seed=1)
    assert cache_constant_encodings(cached)
    assert cache_constant_encodings(cached), "a second install is a no-op"
    pos_seen = []
    for px in _frames():
        (f_ref, p_ref), (f_got, p_got) = _features(plain, px), _features(cached, px)
        for a, b in zip(f_ref + p_ref, f_got + p_got, strict=True):
            assert torch.equal(a, b)
        pos_seen.append(p_got)
    # both frames got views of the very same memory, made outside inference mode (usable with autograd)
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(*pos_seen, strict=True))
    assert not any(t.is_inference() for t in pos_seen[0])


def test_new_weights_recompute_the_backbone_position_embedding():
    model = random_model(tiny_config(64), seed=1)
    cache_constant_encodings(model)
    px = _frames(1)[0]
    before, _ = _features(model, px)
    with torch.no_grad():
        model.vision_encoder.backbone.pos_embed.add_(0.5)  # bumps the parameter's version
    after, _ = _features(model, px)
    assert not torch.equal(before[-1], after[-1])
    reference = random_model(tiny_config(64), seed=1)
    with torch.no_grad():
        reference.vision_encoder.backbone.pos_embed.add_(0.5)
    expected, _ = _features(reference, px)
    assert torch.equal(after[-1], expected[-1])


def test_the_tracker_installs_the_caches_and_counts_the_shared_encodings_once():
    frames = moving_squares(num_frames=3, height=48, width=64)
    model = random_model(tiny_config(64), seed=2)
    tracker = Tracker(model, ClipSource(frames))
    try:
        assert isinstance(model.vision_encoder.neck.position_encoding, CachedSinePositionEmbedding)
        tracker.add_object(1)
        tracker.add_clicks(1, 0, [Click(20, 20, positive=True)])
        for k in (1, 2):
            tracker.track(k)
        feats, _ = _features(model, torch.zeros(1, 3, 64, 64))
        per_frame = sum(t.numel() * t.element_size() for t in feats)
        assert tracker.memory_bytes["features"] == 3 * per_frame  # frames 0-2, encodings not repeated
    finally:
        tracker.close()
