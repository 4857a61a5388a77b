"""Shared by the LIT-LoRA tests: a small synthetic scene, a tiny random SAM2 tracking it, and helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import RANDOM_DECODER_LORA, LoraSettings
from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene

# The preset for random decoders (see core/lora/settings.py): the paper's defaults are for a pretrained SAM2.
RANDOM_DECODER = LoraSettings(**RANDOM_DECODER_LORA)


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene(num_frames=30, size=(96, 128), seed=1, scenario="basic")


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def setup_engine(scene, settings=None, seed=0, upto=5, present=False):
    """``present``: the decoder's object score says "here" on every frame (a random one often says
    "absent", which empties its masks and candidates), for tests that need its raw mask to count."""
    model = random_model(tiny_config(64, init_std=0.2), seed=seed)
    if present:
        with torch.no_grad():
            model.mask_decoder.pred_obj_score_head.proj_out.bias.add_(30.0)
    tr = Tracker(model, SceneVideoSource(scene))
    eng = LitLoRA(tr, settings or LoraSettings())
    obj = scene.object_ids[0]
    tr.add_object(obj)
    tr.add_mask(obj, 0, scene.mask(obj, 0))
    for f in range(1, upto):
        tr.track(f)
    return model, tr, eng, obj


def base_output(eng: LitLoRA, tr: Tracker, obj: int, frame: int) -> np.ndarray:
    """The decoder's own single-mask output for a frame (no adapter), as a bool S x S mask."""
    cap = tr.capture(obj, frame)
    eng.bank.keep_constants()
    with tr.model_lock, torch.no_grad():
        dyn = eng.decoder.dynamic_multimask_via_stability
        eng.decoder.dynamic_multimask_via_stability = False
        try:
            logits, _, _ = eng.bank.forward(cap.image_embeddings, list(cap.high_resolution_features))
        finally:
            eng.decoder.dynamic_multimask_via_stability = dyn
    return (logits[0] > 0).cpu().numpy()


def full_res(mask_s: np.ndarray, scene) -> np.ndarray:
    import cv2

    return (
        cv2.resize(mask_s.astype(np.uint8), (scene.width, scene.height), interpolation=cv2.INTER_NEAREST) > 0
    )
