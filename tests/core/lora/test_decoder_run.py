"""The decoder run on prepared inputs (core/lora/decoder_run.py) against the transformers decoder with
PEFT, which the training and candidates used before issue 15 and ``AdapterBank.forward`` still runs.

The same operations on the same shapes in the same order, so the results are bit-equal: the logits,
and training epoch by epoch (dropout draws the same numbers in the same order; both paths are seeded
alike). Only several adapters in one call, whose rows are slices of a batch, are held to 1e-4 of the
logits' scale. Bit-equality is what kept litlora-eval's figures on the demo model unchanged: with a
product that merely rounded differently they drifted by 17 corrections of 344 over a run.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from litlora_desktop.core.lora import trainer as trainer_mod
from litlora_desktop.core.lora.losses import VOID, downsample_target
from litlora_desktop.core.lora.samples import stack_samples
from tests.core.lora.conftest import RANDOM_DECODER, setup_engine

per_family = pytest.mark.usefixtures("each_family")  # the test runs on every model family


def _two_adapters(scene, **kw):
    """An engine with two random (non-zero) adapters and two correction samples."""
    torch.manual_seed(0)
    _, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, **kw), upto=5, present=True)
    samples = [eng.add_correction(obj, f, scene.mask(obj, f)) for f in (2, 4)]
    ob = eng._objects[obj]
    names = [eng.bank.new_adapter(ob, obj, eng.settings).name for _ in range(2)]
    with torch.no_grad():
        for name in names:
            for p in eng.bank.params(name):
                p.normal_(0, 0.2)
    return tr, eng, obj, samples, names


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = max(float(b.abs().max()), 1.0)
    assert float((a - b).abs().max()) <= 1e-4 * scale, float((a - b).abs().max())


@per_family
@pytest.mark.parametrize("train", [False, True])
def test_the_prepared_run_equals_the_transformers_decoder(scene, train):
    """Logits (at S x S), predicted IoU and object score of a batch of two samples, dropout on or off."""
    _, eng, _, samples, names = _two_adapters(scene)
    bank = eng.bank
    emb, hires, _ = stack_samples(samples)
    prep = bank.prepare(emb, hires)
    with torch.no_grad(), bank.active(names[0], train=train):
        torch.manual_seed(1)
        want = bank.forward(emb, hires)
        torch.manual_seed(1)
        low, iou, score = bank.run(prep, [(names[0], 2)])
    assert low.shape[-1] == prep.mask_size < bank.tracker.image_size  # the decoder's own, not upsampled
    assert torch.equal(bank.to_input_size(low), want[0])
    assert torch.equal(iou, want[1]) and torch.equal(score, want[2])


@per_family
def test_several_adapters_in_one_call_equal_each_alone(scene):
    """Candidates and the choice of adapter score a frame with every adapter in one decoder call."""
    _, eng, _, samples, names = _two_adapters(scene)
    bank = eng.bank
    emb, hires, _ = stack_samples(samples[:1])
    prep = bank.prepare(emb, hires)
    with torch.no_grad():
        both = bank.run(prep.repeat(2), [(names[0], 1), (names[1], 1)])
        for i, name in enumerate(names):
            with bank.active(name):
                want = bank.forward(emb, hires)
            _close(bank.to_input_size(both[0][i : i + 1]), want[0])
            _close(both[2][i : i + 1], want[2])
    ious = bank.ious_each(names, samples[0])
    assert torch.allclose(ious, torch.cat([bank.ious(n, samples[:1]) for n in names]))


@per_family
def test_a_new_adapter_drops_out_only_while_training(scene):
    """PEFT makes its dropout modules in training mode; the prepared run has no ``active`` to turn
    them off, so a fresh adapter's candidates would differ call to call."""
    tr, eng, obj, samples, names = _two_adapters(scene, dropout=0.5)
    cands = [eng.candidates(obj, 4) for _ in range(2)]
    assert [c.predicted_iou for c in cands[0]] == [c.predicted_iou for c in cands[1]]
    assert all((a.mask == b.mask).all() for a, b in zip(*cands, strict=True))


def _fit_reports(scene, reference: bool, **kw):
    torch.manual_seed(0)
    _, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=6, **kw), upto=5)
    eng.trainer.reference = reference
    for f in (2, 4):
        eng.add_correction(obj, f, scene.mask(obj, f))
    torch.manual_seed(2)
    return [(p.loss, p.iou) for p in eng.train_steps(obj) if not p.finished]


@pytest.mark.parametrize("per_sample_steps", [False, True])
def test_training_on_the_prepared_run_follows_the_reference_path(scene, per_sample_steps):
    """With the loss at S x S (the default), every epoch's loss and IoU are the reference path's."""
    new = _fit_reports(scene, False, per_sample_steps=per_sample_steps)
    ref = _fit_reports(scene, True, per_sample_steps=per_sample_steps)
    assert len(new) == len(ref) >= 6
    assert new == ref


@pytest.mark.parametrize("full", [False, True])
def test_the_loss_is_taken_at_the_decoders_resolution_unless_asked(scene, monkeypatch, full):
    seen = []
    real = trainer_mod.mask_loss

    def spy(logits, target, *a):
        seen.append((tuple(logits.shape), tuple(target.shape)))
        return real(logits, target, *a)

    monkeypatch.setattr(trainer_mod, "mask_loss", spy)
    _, tr, eng, obj = setup_engine(scene, replace(RANDOM_DECODER, max_epochs_new=2, loss_full_res=full))
    eng.add_correction(obj, 3, scene.mask(obj, 3))
    eng.train(obj)
    side = tr.image_size if full else tr.capture(obj, 3).high_resolution_features[0].shape[-1]
    assert seen and set(seen) == {((1, side, side), (1, side, side))}


def test_the_target_is_resized_by_the_samples_rule():
    """Void where half the covered area is void, else foreground where half of it is foreground."""
    t = torch.zeros(1, 8, 8, dtype=torch.uint8)
    t[0, :4, :4] = 1  # a full foreground cell
    t[0, :2, 4:] = 1  # half foreground: foreground
    t[0, 4:, :4] = VOID  # a full void cell
    t[0, 4:6, 4:] = VOID  # half void, half background: void
    t[0, 7, 4:] = 1  # a quarter foreground: background
    got = downsample_target(t, 2)
    assert got.tolist() == [[[1, 1], [VOID, VOID]]]
    t[0, 6:, 4:] = 1  # half void, half foreground: void wins, as in target_from_mask
    assert downsample_target(t, 2)[0, 1, 1] == VOID
    assert downsample_target(t, 8) is t
