"""Adapter folders: saved and loaded into this or another session; a bad folder is one clear error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene
from tests.core.lora.conftest import RANDOM_DECODER, same_model, setup_engine

pytestmark = pytest.mark.usefixtures("each_family")  # every test on every model family


def test_save_and_load_into_another_session(scene, tmp_path):
    # 8 epochs: an adapter to save and reload, not a good one; below the zero-IoU give-up (epoch 10)
    _, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=8), upto=6)
    eng.add_correction(obj, 3, scene.mask(obj, 3))
    eng.train(obj)
    want = eng.candidates(obj, 5)[0]
    eng.save(tmp_path / "adapters")
    # same video, fresh model object and tracker: identical candidates
    _, tr2, eng2, _ = setup_engine(scene, upto=6)
    assert eng2.load(tmp_path / "adapters") == {obj: ["A1"]}
    got = eng2.candidates(obj, 5)[0]
    assert np.array_equal(got.mask, want.mask) and got.predicted_iou == pytest.approx(want.predicted_iou)
    # another video, another object id: candidates are available there too
    other = SyntheticScene(num_frames=6, size=(96, 128), seed=5, scenario="basic")
    model3 = same_model()
    tr3 = Tracker(model3, SceneVideoSource(other))
    eng3 = LitLoRA(tr3)
    tr3.add_object(9)
    tr3.add_mask(9, 0, other.mask(other.object_ids[0], 0))
    tr3.track(1)
    assert eng3.load(tmp_path / "adapters", object_map={obj: 9}) == {9: ["A1"]}
    assert len(eng3.candidates(9, 1)) == 1
    meta = (tmp_path / "adapters" / "litlora.json").read_text()
    assert '"frame": 3' in meta and '"rank": 16' in meta


def test_bad_adapter_folder_gets_a_clear_error(scene, tmp_path):
    _, tr, eng, obj = setup_engine(scene, upto=2)
    with pytest.raises(LitLoRAError, match="no readable LIT-LoRA adapters"):
        eng.load(tmp_path)


def test_loading_adapters_keeps_the_settings_object_the_app_changes(scene, tmp_path):
    """The app changes auto-apply on the settings object it gave the engine; loading a project's
    adapters used to swap in a new object, so those changes silently stopped reaching the engine."""
    _, _, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=10), upto=6)
    eng.add_correction(obj, 3, scene.mask(obj, 3))
    eng.train(obj)
    eng.save(tmp_path / "adapters")
    mine = LoraSettings()
    _, _, eng2, _ = setup_engine(scene, mine, upto=6)
    eng2.load(tmp_path / "adapters")
    assert eng2.settings is mine
    assert (mine.rank, mine.alpha) == (RANDOM_DECODER.rank, RANDOM_DECODER.alpha)  # the saved shape
    mine.auto_apply = True
    assert eng2.settings.auto_apply
