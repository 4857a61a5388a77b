"""Samples saved with the adapters: replay survives a restart, bounded in size; a folder saved
before samples were saved still loads (with none)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from litlora_desktop.core.lora.adapter_files import sample_shapes, save_adapters
from litlora_desktop.core.lora.objects import ObjectLoRA
from tests.core.lora.conftest import LORA_FAMILY_KEYS, RANDOM_DECODER, setup_engine

pytestmark = pytest.mark.usefixtures("each_family")  # every test on every model family


def trained(scene, frames=(3, 4)):
    _, tr, eng, obj = setup_engine(
        scene, replace(RANDOM_DECODER, max_epochs_new=5, max_epochs_finetune=3), upto=6
    )
    for f in frames:
        eng.add_correction(obj, f, scene.mask(obj, f))
        eng.train(obj)
    return tr, eng, obj


@pytest.fixture(scope="module")
def _trained_once():
    return {}  # family -> trained(scene, frames=(3,)), filled by one_lesson


@pytest.fixture
def one_lesson(scene, each_family, _trained_once):
    """``trained(scene, frames=(3,))`` on the test's family, built once per family in this module.
    The tests given it only read the engine (saving it is reading) and change only what they saved."""
    if each_family not in _trained_once:
        _trained_once[each_family] = trained(scene, frames=(3,))
    return _trained_once[each_family]


def test_samples_come_back_exactly_with_their_adapter_and_the_switch(scene, tmp_path):
    tr, eng, obj = trained(scene)
    before = eng._objects[obj].samples
    assert len(before) == 2 and eng.num_adapters(obj) >= 1
    eng.save(tmp_path / "adapters", enabled=True)
    assert (tmp_path / "adapters" / f"object{obj}_samples.safetensors").is_file()
    _, _, eng2, _ = setup_engine(scene, upto=6)
    report = eng2.restore(tmp_path / "adapters")
    assert report.enabled and report.samples == {obj: 2}
    assert eng2.num_samples(obj) == 2 and not eng2.has_pending(obj)  # replayed, not learned again
    after = eng2._objects[obj].samples
    for a, b in zip(before, after, strict=True):
        assert (a.frame_index, a.created, a.origin) == (b.frame_index, b.created, "")
        assert torch.equal(a.image_embeddings, b.image_embeddings) and torch.equal(a.target, b.target)
        for x, y in zip(a.high_resolution_features, b.high_resolution_features, strict=True):
            assert torch.equal(x, y)
        label = eng._objects[obj].label_of(a.adapter)
        assert b.adapter is not None and eng2._objects[obj].label_of(b.adapter) == label
    assert eng2.corrections_saved(obj) == eng.corrections_saved(obj)
    # replay works on the restored samples: a new correction fine-tunes with them
    eng2.add_correction(obj, 5, scene.mask(obj, 5))
    assert eng2.train(obj) and eng2.num_samples(obj) == 3


def test_the_shapes_checked_on_loading_are_those_a_capture_has(one_lesson):
    tr, eng, obj = one_lesson
    x = eng._objects[obj].samples[0]
    got = [x.image_embeddings, *x.high_resolution_features, x.target]
    assert [tuple(t.shape) for t in got] == list(sample_shapes(tr).values())


def test_samples_from_another_project_keep_their_origin(scene, tmp_path, one_lesson):
    _, eng, obj = one_lesson
    eng.save(tmp_path / "adapters")
    _, _, eng2, _ = setup_engine(scene, upto=6)
    report = eng2.restore(tmp_path / "adapters", object_map={obj: 7}, same_video=False)
    assert report.samples == {7: 1} and not report.enabled
    [x] = eng2._objects[7].samples
    assert x.origin == str(tmp_path / "adapters") and eng2.corrections_saved(7) == 0
    # a correction of frame 3 here is another lesson, and undoing it leaves the imported one alone
    assert not eng2._objects[7].remove_frame(3)


def test_a_folder_saved_before_samples_were_saved_loads_without_samples(scene, tmp_path, one_lesson):
    _, eng, obj = one_lesson
    folder = eng.save(tmp_path / "adapters")
    m = json.loads((folder / "litlora.json").read_text())
    for info in m["objects"].values():  # what the earlier version wrote: metadata only, no tensors
        info.pop("samples_file")
        for e in info["samples"]:
            e.pop("index"), e.pop("origin")
    m.pop("enabled")
    (folder / "litlora.json").write_text(json.dumps(m))
    (folder / f"object{obj}_samples.safetensors").unlink()
    _, _, eng2, _ = setup_engine(scene, upto=6)
    report = eng2.restore(folder)
    assert report.adapters == {obj: eng.adapter_labels(obj)} and report.samples == {} and not report.enabled
    assert eng2.num_samples(obj) == 0


def test_saved_samples_are_bounded_per_object_and_in_bytes(tmp_path, one_lesson):
    _, eng, obj = one_lesson
    x = eng._objects[obj].samples[0]
    many = [replace(x, frame_index=f, created=1000.0 + f) for f in range(12)]
    objects = {
        obj: ObjectLoRA(samples=many),
        99: ObjectLoRA(samples=[replace(x, object_id=99, created=5000.0)]),
    }
    save_adapters(tmp_path / "a", eng.bank, objects, eng.settings, samples_per_object=8)
    m = json.loads((tmp_path / "a" / "litlora.json").read_text())
    assert [e["frame"] for e in m["objects"][str(obj)]["samples"]] == list(range(4, 12))  # the newest 8
    # a budget of three samples: the newest three over all objects
    save_adapters(tmp_path / "b", eng.bank, objects, eng.settings, sample_bytes=3 * x.nbytes)
    m = json.loads((tmp_path / "b" / "litlora.json").read_text())
    assert [e["frame"] for e in m["objects"][str(obj)]["samples"]] == [10, 11]
    assert len(m["objects"]["99"]["samples"]) == 1
    size = (tmp_path / "b" / f"object{obj}_samples.safetensors").stat().st_size
    assert size < 2 * x.nbytes + 4096


def test_files_a_save_no_longer_names_are_removed(tmp_path, one_lesson):
    """A deleted object's files, which the last save named, go; files no save of ours named stay."""
    import json

    _, eng, obj = one_lesson
    folder = eng.save(tmp_path / "adapters")
    stale = folder / "object42_A1.safetensors"
    stale.write_bytes((folder / f"object{obj}_A1.safetensors").read_bytes())
    meta = json.loads((folder / "litlora.json").read_text())
    meta["objects"]["42"] = {"adapters": [{"label": "A1", "file": stale.name}], "samples": []}
    (folder / "litlora.json").write_text(json.dumps(meta))  # as a save with object 42 wrote it
    orphan = folder / "object43_A1.safetensors"  # named by no index: not ours to judge
    orphan.write_bytes(stale.read_bytes())
    keep = folder / "notes.txt"
    keep.write_text("mine")
    eng.save(folder)
    assert not stale.exists() and orphan.exists() and keep.exists()


# The tensors' shapes and the byte budget differ by family; the file format's other checks do not.
_DAMAGES = [(f, d) for f in LORA_FAMILY_KEYS for d in ("shape", "too_big")] + [
    ("sam2.1", d) for d in ("nan", "target", "missing_key", "too_many")
]


@pytest.mark.parametrize(("each_family", "damage"), _DAMAGES, indirect=["each_family"])
def test_damaged_samples_are_refused_with_one_sentence(scene, tmp_path, damage, one_lesson):
    from safetensors.torch import load_file, save_file

    from litlora_desktop.core.lora.errors import LitLoRAError

    _, eng, obj = one_lesson
    folder = eng.save(tmp_path / "adapters")
    path = folder / f"object{obj}_samples.safetensors"
    sd = load_file(str(path))
    if damage == "nan":
        sd["0.image_embeddings"] = torch.full_like(sd["0.image_embeddings"], float("nan"))
    elif damage == "target":
        sd["0.target"] = torch.full_like(sd["0.target"], 7)
    elif damage == "shape":
        sd["0.high_res_0"] = sd["0.high_res_0"][:, :, :4].contiguous()
    elif damage == "missing_key":
        sd.pop("0.target")
    elif damage == "too_big":
        sd["junk"] = torch.zeros(1 << 20)
    if damage == "too_many":
        m = json.loads((folder / "litlora.json").read_text())
        m["objects"][str(obj)]["samples"] *= 100
        (folder / "litlora.json").write_text(json.dumps(m))
    else:
        save_file(sd, str(path))
    _, _, eng2, _ = setup_engine(scene, upto=6)
    with pytest.raises(LitLoRAError) as info:
        eng2.restore(folder)
    msg = str(info.value)
    assert "\n" not in msg and ("litlora.json" in msg or path.name in msg), msg
    assert eng2.num_adapters(obj) == 0 and eng2.num_samples(obj) == 0, "a refused load changes nothing"


def test_only_the_chosen_objects_are_read(scene, tmp_path, one_lesson):
    """File ▸ Use adapters… loads the objects the user chose; the others' files are not even read."""
    _, eng, obj = one_lesson
    folder = eng.save(tmp_path / "adapters")
    (folder / f"object{obj}_samples.safetensors").write_bytes(b"damaged")
    _, _, eng2, _ = setup_engine(scene, upto=6)
    report = eng2.restore(folder, {obj: 5}, same_video=False, only=set())
    assert report.adapters == {} and report.samples == {} and eng2.num_adapters(5) == 0
