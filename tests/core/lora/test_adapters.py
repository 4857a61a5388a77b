"""The adapter bank: tracking with every adapter disabled is SAM2 itself, bit for bit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource
from tests.core.lora.conftest import same_model, setup_engine

pytestmark = pytest.mark.usefixtures("each_family")  # every test on every model family


def test_adapters_disabled_tracking_is_bit_identical_to_no_adapters(scene):
    settings = replace(LoraSettings(), max_epochs_new=3, lr_new=1e-2)
    model, tr, eng, obj = setup_engine(scene, settings)
    eng.add_correction(obj, 4, scene.mask(obj, 4))
    eng.train(obj)
    assert eng.num_adapters(obj) == 1
    lora_b = [p for n, p in model.mask_decoder.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # the adapter really changes something
    clean = same_model()
    runs = []
    for m in (model, clean):
        t = Tracker(m, SceneVideoSource(scene))
        t.add_object(obj)
        t.add_mask(obj, 0, scene.mask(obj, 0))
        runs.append([r.masks[obj] for r in t.propagate(0, 8)])
        t.close()
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a.mask, b.mask) and a.score == b.score
