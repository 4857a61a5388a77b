"""Hostile adapter folders: LitLoRA.load checks the rank, every file's place, size, tensor names,
shapes and values before anything changes, and refuses with one sentence naming the file.

Found by a hostile test: a rank of 10**7 in litlora.json tried to allocate 5 GB; NaN-filled or
empty adapter files loaded as trained; an adapter's ``file`` of ``../..`` or an absolute path was
read from outside the project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene
from tests.hostile.conftest import run_isolated

ADAPTER = "object1_A1.safetensors"


def _engine(rank: int = 8) -> LitLoRA:
    scene = SyntheticScene(num_frames=4, size=(96, 128), seed=1, scenario="basic")
    tracker = Tracker(random_model(tiny_config(64, init_std=0.2), seed=0), SceneVideoSource(scene))
    return LitLoRA(tracker, LoraSettings(rank=rank))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A good adapter folder: object 1 with one rank-8 adapter of random (trained-like) weights."""
    eng = _engine()
    ad = eng.bank.new_adapter(eng._obj(1), 1, eng.settings)
    torch.manual_seed(0)
    for p in eng.bank.params(ad.name):
        torch.nn.init.normal_(p, std=0.02)
    return eng.save(tmp_path_factory.mktemp("adapters") / "adapters")


def _copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "project.litlora" / "adapters"))


def _meta(folder: Path, edit) -> None:
    m = json.loads((folder / "litlora.json").read_text())
    edit(m)
    (folder / "litlora.json").write_text(json.dumps(m))


def _tensors(folder: Path, edit) -> None:
    sd = load_file(str(folder / ADAPTER))
    save_file(edit(sd), str(folder / ADAPTER))


def _refused(folder: Path, *names: str) -> str:
    eng = _engine(rank=4)
    with pytest.raises(LitLoRAError) as info:
        eng.load(folder)
    msg = str(info.value)
    for n in names:
        assert n in msg, msg
    assert "\n" not in msg and "Error(" not in msg, msg
    assert eng.num_adapters(1) == 0 and eng.settings.rank == 4, "a refused load must change nothing"
    return msg


def test_a_good_folder_loads(saved):
    assert _engine(rank=4).load(saved) == {1: ["A1"]}


def test_rank_out_of_range_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _meta(folder, lambda m: m["settings"].update(rank=100))
    assert "rank" in _refused(folder, "litlora.json")


def test_huge_rank_is_refused_before_allocating(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _meta(folder, lambda m: m["settings"].update(rank=10**7))
    code = (
        "from tests.hostile.test_adapters import _engine\n"
        "from litlora_desktop.core.lora.errors import LitLoRAError\n"
        "try:\n"
        f"    _engine(rank=4).load({str(folder)!r})\n"
        "except LitLoRAError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    r = run_isolated(code, timeout=120, memory_bytes=4 * 2**30)
    assert r.returncode == 0 and r.stdout.startswith("REFUSED"), (r.returncode, r.stdout, r.stderr[-600:])


def test_nan_weights_are_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _tensors(folder, lambda sd: {k: torch.full_like(v, float("nan")) for k, v in sd.items()})
    assert "finite" in _refused(folder, ADAPTER)


def test_an_empty_adapter_file_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    save_file({}, str(folder / ADAPTER))
    assert "empty" in _refused(folder, ADAPTER)


def test_an_untrained_adapter_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _tensors(folder, lambda sd: {k: torch.zeros_like(v) if ".lora_B." in k else v for k, v in sd.items()})
    assert "never trained" in _refused(folder, ADAPTER)


def test_shapes_that_do_not_fit_the_model_are_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _tensors(
        folder, lambda sd: {k: (v[:4] if ".lora_A." in k else v[:, :4]).contiguous() for k, v in sd.items()}
    )
    assert "does not fit" in _refused(folder, ADAPTER)


def test_a_damaged_file_gets_a_sentence_not_library_text(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / ADAPTER).write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad")
    assert "damaged" in _refused(folder, ADAPTER)


@pytest.mark.parametrize("kind", ["parent", "absolute", "nested"])
def test_adapter_files_outside_the_folder_are_never_read(saved, tmp_path, kind):
    folder = _copy(saved, tmp_path)
    outside = tmp_path / "outside.safetensors"
    shutil.copy(folder / ADAPTER, outside)  # a perfectly good adapter, but not this project's
    (folder / "sub").mkdir()
    shutil.copy(folder / ADAPTER, folder / "sub" / ADAPTER)
    name = {"parent": "../../outside.safetensors", "absolute": str(outside), "nested": f"sub/{ADAPTER}"}[kind]
    _meta(folder, lambda m: m["objects"]["1"]["adapters"][0].update(file=name))
    assert "refused" in _refused(folder, "litlora.json")


def test_objects_that_are_not_a_mapping_are_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _meta(folder, lambda m: m.update(objects=[1, 2]))
    _refused(folder, "litlora.json")


def test_a_save_after_a_damaged_index_deletes_no_adapter_file(saved, tmp_path):
    """Only litlora.json damaged: the project opened without its adapters, and the next save wrote an
    empty index and deleted every intact adapter and sample file (found by the user test)."""
    folder = _copy(saved, tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    (folder / "litlora.json").write_text('{"bad": ')
    _refused(folder, "litlora.json")
    eng = _engine()  # the session that opened without them saves into the same folder
    eng.save(folder)
    assert ADAPTER in {p.name for p in folder.iterdir()}
    assert set(before) <= {p.name for p in folder.iterdir()}
    [kept] = folder.glob("litlora.damaged-*.json")
    assert kept.read_text() == '{"bad": '
    # a readable index: the files it named and the new one does not (a deleted object's) do go
    eng2 = _engine()
    eng2.load(saved)
    eng2.save(folder)
    eng2.drop_object(1)
    eng2.save(folder)
    assert ADAPTER not in {p.name for p in folder.iterdir()}


def test_adapters_that_did_not_load_are_set_aside_not_replaced(saved, tmp_path):
    """A readable folder that still fails to load (a rank out of range, another model): the session's own
    save wrote object1_A1.safetensors over the old one and deleted the rest (found in review).
    The app moves them aside first (``EngineState.save_adapters(aside=True)``)."""
    from litlora_desktop.workers.engine_state import EngineState

    folder = _copy(saved, tmp_path)
    _meta(folder, lambda m: m["settings"].update(rank=100))  # readable, yet refused
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    _refused(folder, "rank")
    state = EngineState()
    state.lora = _engine(rank=4)
    state.object_ids = [1]
    state.lora.bank.new_adapter(state.lora._obj(1), 1, state.lora.settings)  # this session's own A1
    assert state.save_adapters(folder, aside=True)
    [aside] = folder.glob("unloaded-*")
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == old  # every file, as it was
    meta = json.loads((folder / "litlora.json").read_text())  # and this session's save beside them
    assert meta["settings"]["rank"] == 4 and (folder / ADAPTER).is_file()
