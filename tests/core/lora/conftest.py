"""Shared by the LIT-LoRA tests: a small synthetic scene, a tiny random SAM2 tracking it, and helpers.

A module that marks itself ``pytest.mark.usefixtures("each_family")`` runs every test once per model
family (SAM2.1, SAM2, SAM 3 tracker, EdgeTAM): ``setup_engine`` and ``same_model`` then build that
family's tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import RANDOM_DECODER_LORA, LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene
from tests.model_fixtures import FAMILY_KEYS, tiny_family_model

# The preset for random decoders (see core/lora/settings.py): the paper's defaults are for a pretrained SAM2.
RANDOM_DECODER = LoraSettings(**RANDOM_DECODER_LORA)


_family = ["sam2.1"]  # the family setup_engine builds; each_family changes it for one test


LORA_FAMILY_KEYS = tuple(k for k in FAMILY_KEYS if k != "sam2")
"""SAM2 and SAM2.1 share the decoder class and config LIT-LoRA works on (they differ in memory
switches, which the tracker suite covers on both); the LIT-LoRA suite runs on the other three."""


@pytest.fixture(params=LORA_FAMILY_KEYS)
def each_family(request):
    _family[0] = request.param
    yield request.param
    _family[0] = "sam2.1"


def same_model(seed=0):
    """The model ``setup_engine`` builds for ``seed``, fresh (a second copy of the same weights)."""
    return tiny_family_model(_family[0], init_std=0.2, seed=seed)


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene(num_frames=30, size=(96, 128), seed=1, scenario="basic")


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def setup_engine(scene, settings=None, seed=0, upto=5, present=False):
    """``present``: the decoder's object score says "here" on every frame (a random one often says
    "absent", which empties its masks and candidates), for tests that need its raw mask to count.

    Training draws its dropout masks from torch's global generator, which ``random_model`` leaves as
    it found it: the generator is seeded here, so a test's figures do not depend on which tests ran
    before it (one candidate test failed on EdgeTAM in the full suite and passed alone)."""
    torch.manual_seed(seed)
    model = same_model(seed)
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
