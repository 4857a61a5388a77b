"""litlora-train: it learns, it checkpoints, it resumes, and its loss schedule ends on SAM 2's recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.training import train
from litlora_desktop.training.data import correction_click, make_batch
from litlora_desktop.training.losses import W_DICE, W_FOCAL, mask_weights


def test_the_mask_loss_starts_dice_heavy_and_ends_on_sam2s_weights():
    assert mask_weights(0.0, 0.4) == (1.0, 5.0)
    assert mask_weights(0.39, 0.4) == (1.0, 5.0)
    mid = mask_weights(0.5, 0.4)
    assert 1.0 < mid[0] < W_FOCAL and W_DICE < mid[1] < 5.0
    assert mask_weights(0.6, 0.4) == pytest.approx((W_FOCAL, W_DICE)) == (20.0, 1.0)
    assert mask_weights(0.61, 0.4) == (20.0, 1.0)
    assert mask_weights(0.0, 0.0) == (20.0, 1.0)


def test_a_correction_click_goes_to_the_centre_of_the_larger_error():
    gt = np.zeros((40, 40), bool)
    gt[5:35, 5:35] = True
    pred = gt.copy()
    pred[10:30, 10:30] = False  # a big hole: a missed part
    (x, y), label = correction_click(pred, gt)
    assert label == 1 and 15 <= x <= 25 and 15 <= y <= 25
    pred = gt.copy()
    pred[0:4, :] = True  # a thin false-positive strip only
    assert correction_click(pred, gt)[1] == 0


@pytest.mark.slow
def test_training_steps_teach_a_random_model_to_segment_a_click():
    """Fifty image steps on one fixed batch: a random tiny SAM2 goes from nothing to a usable mask."""
    torch.manual_seed(0)
    model = random_model(tiny_config(64), seed=0)
    batch, _ = make_batch(10**8, 8, 64, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = last = None
    for i in range(50):
        loss, figs = train.image_step(model, batch, np.random.default_rng(0), mask_weights(0.0, 0.4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = figs["click_iou"] if i == 0 else first
        last = figs["click_iou"]
    assert first < 0.1 and last > 0.2, (first, last)


def test_a_run_checkpoints_keeps_its_best_weights_and_resumes(tmp_path):
    args = [
        "--out", str(tmp_path / "run"), "--config", "tiny", "--batch", "2", "--frames", "3",
        "--image-batch", "2", "--steps", "4", "--val-every", "2", "--val-batches", "1",
        "--log-every", "2", "--device", "cpu",
    ]  # fmt: skip
    assert train.main(args) == 0
    run = tmp_path / "run"
    state = torch.load(run / train.CHECKPOINT, weights_only=True)
    assert state["step"] == 4 and state["cursor"] > 0
    assert (run / train.BEST / "config.json").is_file()
    val = json.loads((run / train.BEST / "validation.json").read_text())
    assert set(val) >= {"step", "click_iou", "box_iou", "track_j"}
    log = (run / "train.log").read_text()
    assert "step 4 loss" in log and "val step 4" in log
    assert train.main([*args[:-6], "--steps", "6", "--val-every", "2", "--device", "cpu"]) == 0
    assert torch.load(run / train.CHECKPOINT, weights_only=True)["step"] == 6
    log = (run / "train.log").read_text()
    assert log.count("step 2 loss") == 1 and "stopped at step 6" in log, "the second run went on from step 4"
    out = tmp_path / "exported"
    assert train.main(["--export", str(run), str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "validation.json").is_file()


def test_paired_batches_show_one_clip_twice_with_two_different_targets():
    """Only the prompt can tell the two apart: what makes a model use where it was clicked."""
    batch, nxt = make_batch(10**8, 6, 64, 2, targets=2)
    assert len(batch.seeds) == 6 and nxt > 10**8
    pairs = [i for i in range(5) if batch.seeds[i] == batch.seeds[i + 1]]
    assert pairs, "scenes with two objects come as pairs"
    for i in pairs:
        assert torch.equal(batch.pixels[i], batch.pixels[i + 1])
        assert not torch.equal(batch.masks[i], batch.masks[i + 1])


def _three_masks(logits: torch.Tensor):
    from litlora_desktop.training.forward import DecoderOut

    return DecoderOut(logits, torch.zeros(1, 3), torch.zeros(1))


def test_every_offered_mask_is_trained_until_the_minimum_takes_over():
    """best_only=False must push all three masks towards the target, not just the closest one (with
    the minimum a decoder can ignore the click and cover three objects with three masks)."""
    from litlora_desktop.training.losses import frame_loss

    target = torch.zeros(1, 16, 16)
    target[0, 4:12, 4:12] = 1
    good = torch.where(target[0] > 0, 8.0, -8.0)
    logits = torch.stack([good, -good, torch.full_like(good, -8.0)])[None].requires_grad_(True)
    for best_only, trained in ((True, [True, False, False]), (False, [True, True, True])):
        logits.grad = None
        loss, iou = frame_loss(
            _three_masks(logits), target, torch.ones(1, dtype=torch.bool), best_only=best_only
        )
        loss.backward()
        got = [bool(logits.grad[0, k].abs().sum() > 1e-6) for k in range(3)]
        assert got == trained, (best_only, got)
        assert float(iou[0]) == pytest.approx(1.0)  # the IoU reported is the best mask's either way


def test_the_image_embedding_is_held_near_the_positional_encodings_norm():
    from litlora_desktop.training.forward import ClipForward
    from litlora_desktop.training.losses import embedding_norm_penalty

    c = 128
    small = torch.randn(16, 4, c)
    small = small / small.norm(dim=-1, keepdim=True) * 0.99 * (c / 2) ** 0.5  # just under the limit
    assert float(embedding_norm_penalty(small)) == 0.0
    assert float(embedding_norm_penalty(small * 3)) > 0.0
    model = random_model(tiny_config(64), seed=0)
    batch, _ = make_batch(10**8, 2, 64, 1)
    forward = ClipForward(model)
    forward(batch.pixels, {0: train.centre_clicks(batch.masks[:, 0].numpy() > 0.5)})
    emb = forward.image_embedding
    assert emb.shape[1] == 2 and emb.shape[-1] == model.config.mask_decoder_config.hidden_size


def test_clips_play_backwards_when_asked_and_the_target_is_then_visible_on_the_last_frame():
    """Time reversal: the same scene's frames in the opposite order, the target picked where the
    reversed clip starts; forward clips are unchanged by the option's existence."""
    from litlora_desktop.training.data import clip

    fwd = clip(3, 64, 6)
    assert np.array_equal(fwd[0][0], clip(3, 64, 6, reverse_share=0.0)[0][0])
    back = clip(3, 64, 6, reverse_share=1.0)
    assert back and back[0][1][0].any()  # visible where the reversed clip starts
    assert np.array_equal(back[0][0], fwd[0][0][::-1])
    assert not np.array_equal(back[0][0], fwd[0][0])


def test_tracked_frames_also_train_mask_token_0_which_lit_loras_adapters_start_from(monkeypatch):
    """Tracking reads tokens 1-3; the single-mask pass is extra, per tracked frame, outside memory,
    and a training step's loss includes it."""
    from litlora_desktop.training.forward import ClipForward, Prompt

    model = random_model(tiny_config(64, init_std=0.2), seed=0)
    batch, _ = make_batch(0, 2, 64, 3)
    plain, _ = ClipForward(model)(batch.pixels, {0: Prompt(mask=batch.masks[:, 0])})
    frames, _ = ClipForward(model)(
        batch.pixels, {0: Prompt(mask=batch.masks[:, 0])}, single_mask_on_tracked=True
    )
    assert frames[0].single_mask is None and all(f.single_mask is not None for f in frames[1:])
    assert all(f.single_mask.multimask_logits.shape[1] == 1 for f in frames[1:])
    for a, b in zip(plain, frames, strict=True):  # memory and the kept masks are untouched
        assert torch.equal(a.pred_logits, b.pred_logits)
    with torch.no_grad():
        with_token0, _ = train.train_step(model, batch, np.random.default_rng(0))
        call = ClipForward.__call__
        monkeypatch.setattr(
            ClipForward, "__call__", lambda s, *a, **k: call(s, *a, **(k | {"single_mask_on_tracked": False}))
        )
        without, _ = train.train_step(model, batch, np.random.default_rng(0))
    assert float(with_token0) != pytest.approx(float(without), rel=1e-4)


def test_the_single_mask_pass_is_token_0_even_where_sam2_would_swap_an_unstable_one():
    """In eval mode SAM2 replaces an unstable token 0 by the best of tokens 1-3; the adapters run
    with that off, so the training pass must too, or token 0 is never what gets trained."""
    from litlora_desktop.training.forward import ClipForward, Prompt

    model = random_model(tiny_config(64, init_std=0.2), seed=0).eval()
    model.mask_decoder.dynamic_multimask_stability_thresh = 1.1  # every mask counts as unstable
    with torch.no_grad():  # the object is present everywhere, so tracking keeps its mask as it is
        model.mask_decoder.pred_obj_score_head.proj_out.bias.add_(30.0)
    batch, _ = make_batch(0, 2, 64, 3)
    frames, _ = ClipForward(model)(
        batch.pixels, {0: Prompt(mask=batch.masks[:, 0])}, single_mask_on_tracked=True
    )
    assert model.mask_decoder.dynamic_multimask_via_stability  # left as it was
    for fo in frames[1:]:
        assert not torch.allclose(fo.single_mask.multimask_logits[:, 0], fo.pred_logits[:, 0])
