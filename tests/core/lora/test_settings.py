"""Which LoRA settings a model gets: the paper's for SAM2.1, a preset for the small models."""

from __future__ import annotations

from dataclasses import asdict

from litlora_desktop.core.lora.settings import DEMO_MODEL_LORA, RANDOM_DECODER_LORA, LoraSettings, preset_for
from litlora_desktop.core.resources import demo_model_dir
from litlora_desktop.core.sam2.models import (
    DEMO_MODEL,
    TINY_RANDOM,
    LoadedModel,
    choose_device,
    random_model,
    tiny_config,
)
from litlora_desktop.eval.runner import lora_settings_for
from litlora_desktop.workers.engine import EngineState


def test_real_models_keep_the_papers_settings_and_small_ones_get_their_preset():
    assert preset_for("facebook/sam2.1-hiera-tiny") == {} and preset_for("/models/mine") == {}
    assert preset_for(TINY_RANDOM) == RANDOM_DECODER_LORA
    assert preset_for(DEMO_MODEL) == DEMO_MODEL_LORA
    assert preset_for(str(demo_model_dir())) == DEMO_MODEL_LORA  # the same weights named by their folder
    assert DEMO_MODEL_LORA["lr_new"] > LoraSettings().lr_new and DEMO_MODEL_LORA["rank"] > LoraSettings().rank


def test_the_app_and_litlora_eval_use_the_same_settings_for_a_model():
    model = random_model(tiny_config(64), seed=0)
    for source in (DEMO_MODEL, TINY_RANDOM, "facebook/sam2.1-hiera-tiny"):
        st = EngineState()
        st.lora_settings.auto_apply = True  # the user's choice survives a model change
        st.set_model(LoadedModel(model=model, source=source, device=choose_device("cpu")))
        want = asdict(lora_settings_for(source)) | {"auto_apply": True}
        assert asdict(st.lora_settings) == want, source
        st.close()


def test_the_apps_tracker_keeps_corrections_as_conditioning_memory_unlike_litlora_evals_default():
    """The app's documented choice (workers/engine.py, README "The tracker"); the evaluation keeps
    Meta's default unless ``--corrections-as-cond``."""
    from litlora_desktop.eval.protocol import Protocol
    from litlora_desktop.workers.engine import APP_CORRECTIONS_AS_COND
    from tests.model_fixtures import ClipSource, moving_squares

    st = EngineState()
    st.set_model(
        LoadedModel(
            model=random_model(tiny_config(64), seed=0), source=TINY_RANDOM, device=choose_device("cpu")
        )
    )
    st.set_source(ClipSource(moving_squares(4)))
    assert APP_CORRECTIONS_AS_COND is True
    assert st.tracker.corrections_as_conditioning is APP_CORRECTIONS_AS_COND
    assert Protocol().corrections_as_cond is False
    st.close()
