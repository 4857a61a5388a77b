"""``litlora-train``: train the demo SAM2 on shape-world video with SAM 2's recipe.

One step: a batch of clips; the first frame prompted by a mask, a box or 1-3 clicks; the other frames
propagated through SAM2's memory with gradients; simulated correction clicks on one or two frames;
the loss of `training.losses` on every decoder pass. Frame 0 also tries a centre click and a box on
the decoder alone (cheap, and it is what the app's first click does). Resumable: a checkpoint is
written every few minutes and at the end, and a rerun with the same ``--out`` continues from it.

    litlora-train --out runs/demo --steps 3000 --minutes 110      # then:
    litlora-train --export runs/demo resources/models/sam2-demo   # the weights the app ships
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from transformers import Sam2VideoModel

from litlora_desktop.core.sam2.models import (
    choose_device,
    demo_config,
    random_model,
    tie_positional_encodings,
    tiny_config,
)
from litlora_desktop.training.data import Batch, centre_clicks, correction_click, first_prompt, make_batch
from litlora_desktop.training.forward import ClipForward, FrameOut, Prompt
from litlora_desktop.training.losses import W_DICE, W_FOCAL, embedding_norm_penalty, frame_loss, mask_weights

CHECKPOINT = "checkpoint.pt"
BEST = "best"  # save_pretrained folder of the best validation so far


_IMAGE_SEEDS = 10**8  # image steps draw their scenes from here on (still the train split)


def _schedule(step: int, progress: float, warmup: int = 100) -> float:
    """Learning-rate factor: linear warm-up, then a cosine down to 0.1 as ``progress`` goes to 1.

    ``progress`` is the larger of steps done / ``--steps`` and time spent / ``--minutes``, so a run
    cut short by its time budget still ends with a low learning rate.
    """
    if step < warmup:
        return (step + 1) / warmup
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class _Corrector:
    """Adds correction clicks on chosen frames: each click at the centre of the largest error."""

    def __init__(self, masks: torch.Tensor, frames: set[int], max_clicks: int) -> None:
        self.masks = masks.numpy() > 0.5  # (B, T, S, S)
        self.frames, self.max_clicks = frames, max_clicks
        self.clicks: dict[int, list[list[tuple[float, float, int]]]] = {}

    def __call__(self, t: int, fo: FrameOut) -> Prompt | None:
        if t not in self.frames:
            return None
        done = self.clicks.setdefault(t, [[] for _ in range(self.masks.shape[0])])
        if len(done[0]) >= self.max_clicks:
            return None
        size = self.masks.shape[-1]
        logits = torch.nn.functional.interpolate(
            fo.pred_logits.detach().float(), size=(size, size), mode="bilinear"
        )
        pred = (logits[:, 0] > 0).numpy()
        for b in range(pred.shape[0]):
            (x, y), label = correction_click(pred[b], self.masks[b, t])
            done[b].append((x, y, label))
        pts = torch.tensor([[(x, y) for x, y, _ in row] for row in done], dtype=torch.float32)
        labels = torch.tensor([[lab for *_, lab in row] for row in done], dtype=torch.int32)
        return Prompt(points=pts, labels=labels)


def train_step(
    model: torch.nn.Module,
    batch: Batch,
    rng: np.random.Generator,
    weights: tuple[float, float] = (W_FOCAL, W_DICE),
    best_only: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch (not yet backpropagated) and figures for the log."""
    masks0 = batch.masks[:, 0].numpy() > 0.5
    kind = str(rng.choice(["mask", "box", "clicks"], p=[0.25, 0.3, 0.45]))
    n_clicks = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
    prompt = first_prompt(masks0, kind, rng, n_clicks)
    extra = [centre_clicks(masks0), first_prompt(masks0, "box", rng)]
    t_len = batch.masks.shape[1]
    n_fix = int(rng.integers(1, 3))
    fix_frames = {int(f) for f in rng.choice(np.arange(1, t_len), size=min(n_fix, t_len - 1), replace=False)}
    corrector = _Corrector(batch.masks, fix_frames, max_clicks=int(rng.integers(1, 3)))
    forward = ClipForward(model)
    frames, extra_out = forward(
        batch.pixels,
        {0: prompt},
        corrector=corrector,
        corrections_as_conditioning=bool(rng.random() < 0.5),
        extra_first_prompts=extra,
        single_mask_on_tracked=True,
    )
    present = batch.present
    losses, tracked_iou = [], []
    for fo in frames:
        for i, p in enumerate(fo.passes):
            loss, iou = frame_loss(
                p, batch.masks[:, fo.frame_index], present[:, fo.frame_index], *weights, best_only
            )
            losses.append(loss)
            if fo.frame_index > 0 and i == 0:
                tracked_iou.append(iou[present[:, fo.frame_index]])
        if fo.single_mask is not None:
            loss, _ = frame_loss(
                fo.single_mask, batch.masks[:, fo.frame_index], present[:, fo.frame_index], *weights
            )
            losses.append(loss)
    for p in extra_out:
        loss, _ = frame_loss(p, batch.masks[:, 0], present[:, 0], *weights, best_only)
        losses.append(loss)
    total = torch.stack(losses).mean() + embedding_norm_penalty(forward.image_embedding)
    ious = torch.cat(tracked_iou) if tracked_iou else torch.zeros(0)
    return total, {
        "loss": float(total.detach()),
        "track_iou": float(ious.mean()) if len(ious) else float("nan"),
    }


def image_step(
    model: torch.nn.Module,
    batch: Batch,
    rng: np.random.Generator,
    weights: tuple[float, float] = (W_FOCAL, W_DICE),
    best_only: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """SAM 2 trains on images as well as videos: single frames, each prompted three ways (its main
    prompt, a centre click, a box), then refined with a click at the largest error of the one-click
    mask. Cheap (no memory), so clicking and boxing get many more updates than video steps give them."""
    masks0 = batch.masks[:, 0].numpy() > 0.5
    kind = str(rng.choice(["box", "clicks"], p=[0.4, 0.6]))
    prompt = first_prompt(masks0, kind, rng, int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])))
    one_click = centre_clicks(masks0)
    centre = [tuple(p) for p in one_click.points[:, 0].tolist()]

    def refine(outs: list) -> list[Prompt]:
        first = outs[0]
        logits = first.multimask_logits[torch.arange(len(centre)), first.iou_scores.argmax(1)][:, None]
        size = masks0.shape[-1]
        up = torch.nn.functional.interpolate(logits.detach().float(), size=(size, size), mode="bilinear")
        fixes = [correction_click(p, m) for p, m in zip((up[:, 0] > 0).numpy(), masks0, strict=True)]
        pts = torch.tensor([[c, xy] for c, (xy, _) in zip(centre, fixes, strict=True)], dtype=torch.float32)
        return [Prompt(points=pts, labels=torch.tensor([[1, lab] for _, lab in fixes], dtype=torch.int32))]

    forward = ClipForward(model)
    frames, extra = forward(
        batch.pixels,
        {0: prompt},
        extra_first_prompts=[one_click, first_prompt(masks0, "box", rng)],
        refine=refine,
    )
    losses, click_iou = [], float("nan")
    for i, p in enumerate([*frames[0].passes, *extra]):
        loss, iou = frame_loss(p, batch.masks[:, 0], batch.present[:, 0], *weights, best_only)
        losses.append(loss)
        if i == 1:
            click_iou = float(iou.mean())
    total = torch.stack(losses).mean() + embedding_norm_penalty(forward.image_embedding)
    return total, {"loss": float(total.detach()), "track_iou": float("nan"), "click_iou": click_iou}


@torch.no_grad()
def validate(model: torch.nn.Module, batches: list[Batch]) -> dict[str, float]:
    """Held-out figures: IoU of one centre click and of a box on frame 0, and J of tracking
    frames 1.. from a first-frame mask (model in eval mode, as the app runs it)."""
    model.eval()
    click, box, track, single = [], [], [], []
    for batch in batches:
        masks0 = batch.masks[:, 0].numpy() > 0.5
        prompts = [centre_clicks(masks0), first_prompt(masks0, "box", np.random.default_rng(1))]
        frames, extra = ClipForward(model)(
            batch.pixels,
            {0: Prompt(mask=batch.masks[:, 0])},
            extra_first_prompts=prompts,
            single_mask_on_tracked=True,
        )
        for store, out in zip((click, box), extra, strict=True):
            store += _iou(
                out.multimask_logits[torch.arange(len(masks0)), out.iou_scores.argmax(1)][:, None],
                batch.masks[:, 0],
            ).tolist()
        for fo in frames[1:]:
            track += _iou(fo.pred_logits, batch.masks[:, fo.frame_index]).tolist()
            single += _iou(fo.single_mask.multimask_logits[:, :1], batch.masks[:, fo.frame_index]).tolist()
    return {
        "click_iou": float(np.median(click)),
        "box_iou": float(np.median(box)),
        "track_j": float(np.mean(track)),
        "token0_j": float(np.mean(single)),  # what LIT-LoRA's adapters start from
    }


def _iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU per clip of (B, 1, h, w) logits against (B, S, S) masks; 1 when both are empty."""
    up = torch.nn.functional.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear")[:, 0] > 0
    t = target > 0.5
    inter = (up & t).flatten(1).sum(1).float()
    union = (up | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def _mean(values: list[float]) -> float:
    """Mean of the finite values (nan when there are none: e.g. no video step in this window)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


class _Prefetch:
    """Makes the next batch in a thread while the model trains on this one (OpenCV and most of
    NumPy release the GIL, so rendering overlaps the model's work)."""

    def __init__(
        self, cursor: int, batch: int, size: int, frames: int, targets: int = 1, reverse_share: float = 0.0
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._args = (batch, size, frames)
        self._kw = {"targets": targets, "reverse_share": reverse_share}
        self._next = self._pool.submit(make_batch, cursor, *self._args, **self._kw)

    def next(self) -> tuple[Batch, int]:
        batch, cursor = self._next.result()
        self._next = self._pool.submit(make_batch, cursor, *self._args, **self._kw)
        return batch, cursor


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = choose_device(args.device).device
    torch.manual_seed(args.seed)
    config = demo_config() if args.config == "demo" else tiny_config(64, init_std=0.2)
    model = random_model(config, seed=args.seed).to(device)
    size = int(model.config.image_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    step, cursor, image_cursor, best, spent = 0, 0, 0, -1.0, 0.0
    if args.init:
        model.load_state_dict(Sam2VideoModel.from_pretrained(args.init).state_dict())
        tie_positional_encodings(model)  # runs made before the tie learnt with two unrelated encodings
        print(f"weights from {args.init}", flush=True)
    ckpt = out / CHECKPOINT
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, cursor, best = int(state["step"]), int(state["cursor"]), float(state["best"])
        spent = float(state.get("seconds", 0.0))
        image_cursor = int(state.get("image_cursor", 0))
        print(f"resumed at step {step}", flush=True)
    log = open(out / "train.log", "a", encoding="utf-8")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    val = [
        make_batch(i * 1000, args.batch, size, args.frames, split="validation", preset="sample")[0]
        for i in range(args.val_batches)
    ]
    val_back = [
        make_batch(
            i * 1000 + 500,
            args.batch,
            size,
            args.frames,
            split="validation",
            preset="sample",
            reverse_share=1.0,
        )[0]
        for i in range(args.val_batches)
    ]
    t_start = time.monotonic() - spent
    last_ckpt = time.monotonic()
    window: list[dict[str, float]] = []

    def checkpoint() -> None:
        _atomic_save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "cursor": cursor,
                "image_cursor": image_cursor,
                "best": best,
                "seconds": time.monotonic() - t_start,
            },
            ckpt,
        )

    batches = _Prefetch(cursor, args.batch, size, args.frames, targets=2, reverse_share=args.reverse_share)
    images = _Prefetch(_IMAGE_SEEDS + image_cursor, args.image_batch, size, 1, targets=2)
    while step < args.steps and (time.monotonic() - t_start) < args.minutes * 60:
        progress = max(step / args.steps, (time.monotonic() - t_start) / (args.minutes * 60))
        for g in opt.param_groups:
            g["lr"] = args.lr * _schedule(step, progress, args.warmup)
        weights = mask_weights(progress, args.dice_first)
        best_only = progress >= args.dice_first  # see losses.frame_loss: all masks trained first
        model.eval()  # no dropout: train the model exactly as the app runs it
        rng = np.random.default_rng([args.seed, step])
        t0 = time.perf_counter()
        if rng.random() < args.image_share:
            batch, nxt = images.next()
            image_cursor = nxt - _IMAGE_SEEDS
            loss, figs = image_step(model, batch.to(device), rng, weights, best_only)
        else:
            batch, cursor = batches.next()
            loss, figs = train_step(model, batch.to(device), rng, weights, best_only)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        figs["s"] = time.perf_counter() - t0
        window.append(figs)
        step += 1
        if step % args.log_every == 0:
            agg = {
                k: _mean([w.get(k, np.nan) for w in window]) for k in ("loss", "track_iou", "click_iou", "s")
            }
            say(
                f"step {step} loss {agg['loss']:.4f} track_iou {agg['track_iou']:.3f} "
                f"click_iou {agg['click_iou']:.3f} {agg['s']:.2f} s/step"
            )
            window = []
        if step % args.val_every == 0 or step == args.steps:
            v = validate(model, val)
            v["track_j_back"] = validate(model, val_back)["track_j"]
            score = v["click_iou"] + v["box_iou"] + v["track_j"] + v["track_j_back"]
            say(f"val step {step} " + " ".join(f"{k} {x:.3f}" for k, x in v.items()))
            if score > best:
                best = score
                model.save_pretrained(out / BEST)
                (out / BEST / "validation.json").write_text(json.dumps({"step": step, **v}, indent=1))
            checkpoint()
            last_ckpt = time.monotonic()
        elif time.monotonic() - last_ckpt > args.checkpoint_minutes * 60:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()
    say(f"stopped at step {step} after {(time.monotonic() - t_start) / 60:.1f} min")
    return 0


def export(run_dir: str, target: str) -> int:
    """Copy the best validated weights of a run into a model folder the app loads."""
    src = Path(run_dir) / BEST
    Sam2VideoModel.from_pretrained(src).save_pretrained(target)
    val = src / "validation.json"
    if val.exists():
        Path(target, "validation.json").write_text(val.read_text())
    print(f"exported {src} -> {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="litlora-train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo", help="run folder: log, checkpoint, best weights")
    p.add_argument("--steps", type=int, default=3000, help="total optimiser steps (sets the LR schedule)")
    p.add_argument("--minutes", type=float, default=120.0, help="stop after this long (resume later)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=8, help="frames per training clip")
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    p.add_argument("--image-batch", type=int, default=24, help="frames per image step")
    p.add_argument("--image-share", type=float, default=0.6, help="share of steps that are image steps")
    p.add_argument(
        "--reverse-share",
        type=float,
        default=0.5,
        help="share of video clips played backwards (SAM 2's time-reversal augmentation)",
    )
    p.add_argument("--init", help="start from these weights (a save_pretrained folder)")
    p.add_argument(
        "--dice-first",
        type=float,
        default=0.4,
        help="share of the run with dice-heavy loss on every offered mask (0: SAM 2's from the start)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cuda, mps, cpu or auto")
    p.add_argument("--config", choices=("demo", "tiny"), default="demo", help="architecture (tiny: tests)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-batches", type=int, default=3)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--export", nargs=2, metavar=("RUN", "MODEL_DIR"), help="export a run's best weights")
    args = p.parse_args(argv)
    if args.export:
        return export(*args.export)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
