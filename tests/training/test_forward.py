"""The training forward must track exactly as the app does: same model, same prompts, same masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.core.sam2.preprocess import FrameNormalizer, resize_frame
from litlora_desktop.core.sam2.prompts import Box, Click
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.shapes import ShapeScene
from litlora_desktop.training.forward import ClipForward, Prompt

S, T = 64, 6


@pytest.fixture(scope="module")
def present_model():
    """A tiny random SAM2 whose object score always says "present", so masks are not all "no object"
    and a difference in the mask logits cannot hide behind SAM2's -1024 fill."""
    m = random_model(tiny_config(S, init_std=0.2), seed=1)
    with torch.no_grad():
        m.mask_decoder.pred_obj_score_head.proj_out.bias += 20.0
        # parameters a fresh model starts at zero (memory time encodings, "no memory", "no object"
        # pointer...) get values, so that using the wrong one cannot go unnoticed
        gen = torch.Generator().manual_seed(3)
        for p in m.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return m


@pytest.fixture(scope="module")
def scenes():
    # 20 frames: SAM2 scales object-pointer positions by the video length up to 16, as for clips
    return [ShapeScene(i, split="tests", preset="sample", num_frames=20, size=(S, S)) for i in range(3)]


def _prompt(scene: ShapeScene, kind: str) -> Prompt:
    gt = scene.mask(1, 0)
    ys, xs = np.nonzero(gt)
    if kind == "clicks":
        pts = [[float(xs.mean()), float(ys.mean())], [float(xs.min()), float(ys.min())]]
        return Prompt(points=torch.tensor([pts]), labels=torch.tensor([[1, 0]]))
    if kind == "click":
        return Prompt(
            points=torch.tensor([[[float(xs.mean()), float(ys.mean())]]]), labels=torch.tensor([[1]])
        )
    if kind == "box":
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        return Prompt.box(torch.tensor([box]))
    return Prompt(mask=torch.from_numpy(gt).float()[None])


def _track_in_app(model, scene: ShapeScene, kind: str) -> list[torch.Tensor]:
    """Low-resolution logits of frames 1..T-1 as the app's Tracker produces them."""
    tr = Tracker(model, scene)
    tr.add_object(1)
    gt = scene.mask(1, 0)
    ys, xs = np.nonzero(gt)
    if kind == "clicks":
        tr.add_clicks(
            1, 0, [Click(float(xs.mean()), float(ys.mean())), Click(float(xs.min()), float(ys.min()), False)]
        )
    elif kind == "click":
        tr.add_clicks(1, 0, [Click(float(xs.mean()), float(ys.mean()))])
    elif kind == "box":
        tr.add_clicks(
            1, 0, [], box=Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        )
    else:
        tr.add_mask(1, 0, gt)
    out = []
    for t in range(1, T):
        tr.track(t)
        out.append(tr.capture(1, t).sam_low_res_logits[0])
    tr.close()
    return out


def _pixels(scenes: list[ShapeScene]) -> torch.Tensor:
    norm = FrameNormalizer("cpu")
    return torch.stack([torch.stack([norm(resize_frame(sc.frame(k), S)) for k in range(T)]) for sc in scenes])


def _batched(prompts: list[Prompt]) -> Prompt:
    if prompts[0].mask is not None:
        return Prompt(mask=torch.cat([p.mask for p in prompts]))
    return Prompt(
        points=torch.cat([p.points for p in prompts]), labels=torch.cat([p.labels for p in prompts])
    )


@pytest.mark.parametrize("kind", ["click", "clicks", "box", "mask"])
def test_training_forward_tracks_like_the_app_one_clip_and_a_batch(present_model, scenes, kind):
    px = _pixels(scenes)
    prompts = [_prompt(sc, kind) for sc in scenes]
    with torch.no_grad():
        batched, _ = ClipForward(present_model, encoder_batch=1)(px, {0: _batched(prompts)})
    for i, sc in enumerate(scenes):
        ref = _track_in_app(present_model, sc, kind)
        with torch.no_grad():
            exact, _ = ClipForward(present_model, encoder_batch=1)(px[i : i + 1], {0: prompts[i]})
        for t in range(1, T):
            want = ref[t - 1]
            assert want.abs().max() < 1000, "the object is present: real logits, not the no-object fill"
            # frames encoded one at a time, as the app encodes them: the very same numbers
            assert torch.equal(exact[t].pred_logits[0], want)
            # several clips at once: other GEMM shapes, float noise of 1e-5 on the first frames, which a
            # random model amplifies through bfloat16 memories later on; a batching mistake (another
            # clip's memory, prompt or pointer) would show at once as a different mask
            got = batched[t].pred_logits[i]
            if t <= 2:
                assert (got - want).abs().max() < 2e-3 * want.abs().max()
            assert ((got > 0) == (want > 0)).float().mean() > 0.95


def test_a_correction_is_applied_as_the_app_applies_it(present_model, scenes):
    """A click on a tracked frame: memory-conditioned, then the frame's memory holds the fix."""
    sc = scenes[0]
    px = _pixels([sc])
    gt = sc.mask(1, 3)
    ys, xs = np.nonzero(gt)
    fix = (float(xs.mean()), float(ys.mean()))
    tr = Tracker(present_model, sc, corrections_as_conditioning=False)
    tr.add_object(1)
    tr.add_mask(1, 0, sc.mask(1, 0))
    for t in range(1, 4):
        tr.track(t)
    tr.add_clicks(1, 3, [Click(*fix)])
    ref = [tr.track(t) for t in (4, 5)]
    want = [tr.capture(1, t).sam_low_res_logits[0] for t in (4, 5)]

    def corrector(t, fo):
        if t == 3 and len(fo.passes) == 1:
            return Prompt(points=torch.tensor([[fix]]), labels=torch.tensor([[1]]))
        return None

    with torch.no_grad():
        frames, _ = ClipForward(present_model, encoder_batch=1)(
            px, {0: Prompt(mask=torch.from_numpy(sc.mask(1, 0)).float()[None])}, corrector=corrector
        )
    assert len(frames[3].passes) == 2, "tracked, then corrected"
    for got, w in zip((frames[4].pred_logits[0], frames[5].pred_logits[0]), want, strict=True):
        assert torch.equal(got, w)
    assert ref[0].masks[1].mask.any()


def test_gradients_flow_through_the_memory(present_model, scenes):
    """A loss on a later frame alone reaches the memory encoder and the first frame's prompt path."""
    model = random_model(tiny_config(S, init_std=0.2), seed=2)
    px = _pixels(scenes[:2])
    prompt = _batched([_prompt(sc, "click") for sc in scenes[:2]])
    frames, _ = ClipForward(model)(px, {0: prompt})
    frames[-1].pred_logits.sum().backward()
    for name in ("memory_encoder", "memory_attention", "prompt_encoder", "vision_encoder"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name) and p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), name
