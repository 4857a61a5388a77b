"""Training clips and simulated prompts: shape-world videos made on the fly, from seeds.

A batch is B clips of T frames from `ShapeScene` (split ``train`` only), each with one target object
visible on its first frame. Frames go through the app's own preprocessing (resize to S x S, ImageNet
normalisation), so the model sees in training exactly what it sees in the app. Prompts follow SAM 2's
recipe: the first frame gets a mask, a box or 1-3 clicks; later frames may get correction clicks
placed at the centre of the largest error, as an annotator (and the evaluation's simulated one) would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from litlora_desktop.core.sam2.error_click import error_centre_click
from litlora_desktop.core.sam2.preprocess import FrameNormalizer, resize_frame
from litlora_desktop.core.scenes.ground_truth import centre_point
from litlora_desktop.core.scenes.shapes import ShapeScene
from litlora_desktop.training.forward import Prompt

MIN_AREA = 0.004  # a target must cover at least this share of its first frame


@dataclass
class Batch:
    """B clips: normalised frames (B, T, 3, S, S), target masks (B, T, S, S) float {0, 1}."""

    pixels: torch.Tensor
    masks: torch.Tensor
    seeds: list[int]

    def to(self, device: torch.device) -> Batch:
        return Batch(self.pixels.to(device), self.masks.to(device), self.seeds)

    @property
    def present(self) -> torch.Tensor:
        """(B, T) bool: the target is visible on the frame."""
        return self.masks.flatten(2).amax(-1) > 0


def clip(
    index: int,
    image_size: int,
    num_frames: int,
    split: str = "train",
    preset: str = "train",
    targets: int = 1,
    reverse_share: float = 0.0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One clip's resized frames (T, S, S, 3) uint8 with target masks (T, S, S) bool, for up to
    ``targets`` different objects visible enough on the first frame ([] when there is none).

    Half of the clips play backwards (SAM 2's time-reversal augmentation): annotators track from a
    late frame towards the start as often as forwards, and shape-world motion is not symmetric in
    time (objects leave and come back, occluders cross once), so a model trained only forwards
    loses objects when it runs the other way.
    """
    rng = np.random.default_rng([index, 7])
    h = int(rng.integers(180, 330))
    aspect = float(rng.uniform(0.65, 1.9))
    scene = ShapeScene(index, split=split, preset=preset, num_frames=num_frames, size=(h, int(h * aspect)))
    order = list(range(num_frames))
    if reverse_share and rng.random() < reverse_share:
        order.reverse()
    first = scene.label_map(order[0])
    ok = [oid for oid in scene.object_ids if float((first == oid).mean()) >= MIN_AREA]
    if not ok:
        return []
    chosen = [int(t) for t in rng.permutation(ok)[:targets]]
    frames = np.stack([resize_frame(scene.frame(k), image_size) for k in order])
    labels = [scene.label_map(k) for k in order]
    out = []
    for target in chosen:
        masks = np.stack(
            [
                cv2.resize((lab == target).astype(np.float32), (image_size, image_size), cv2.INTER_AREA) > 0.5
                for lab in labels
            ]
        )
        if masks[0].any():
            out.append((frames, masks))
    return out


def make_batch(
    start: int,
    batch_size: int,
    image_size: int,
    num_frames: int,
    *,
    split: str = "train",
    preset: str = "train",
    targets: int = 1,
    reverse_share: float = 0.0,
) -> tuple[Batch, int]:
    """Clips from seed ``start`` on (skipping seeds with no usable target); returns the next seed.

    ``targets=2`` puts the same clip in the batch twice with two different objects to find: the
    image alone then cannot say which is wanted, only the prompt can. Without such pairs a model
    trained from scratch learns to find *an* object and to ignore where it was clicked.
    """
    norm = FrameNormalizer("cpu")
    px, ms, seeds = [], [], []
    i = start
    while len(seeds) < batch_size:
        for frames, masks in clip(i, image_size, num_frames, split, preset, targets, reverse_share)[
            : batch_size - len(seeds)
        ]:
            px.append(torch.stack([norm(f) for f in frames]))
            ms.append(torch.from_numpy(masks).float())
            seeds.append(i)
        i += 1
    return Batch(torch.stack(px), torch.stack(ms), seeds), i


# -- prompts -----------------------------------------------------------------------------------------


def centre_clicks(masks: np.ndarray) -> Prompt:
    """One positive click at the centre of each target (B, S, S): how a person picks an object."""
    pts = torch.tensor([[centre_point(m)] for m in masks], dtype=torch.float32)
    return Prompt(points=pts, labels=torch.ones(len(pts), 1, dtype=torch.int32))


def first_prompt(masks: np.ndarray, kind: str, rng: np.random.Generator, n_clicks: int = 1) -> Prompt:
    """A first-frame prompt for every clip from its target masks (B, S, S) bool.

    ``kind``: ``mask`` (the target itself), ``box`` (its bounding box with up to 10 % noise per side)
    or ``clicks`` (the first positive, at the centre or anywhere inside; the others positive inside or
    negative just outside, as someone refining a selection would click).
    """
    if kind == "mask":
        return Prompt(mask=torch.from_numpy(masks).float())
    if kind == "box":
        boxes = []
        for m in masks:
            ys, xs = np.nonzero(m)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            w, h = x1 - x0, y1 - y0
            jit = rng.uniform(-0.1, 0.1, 4) * np.array([w, h, w, h])
            box = np.array([x0, y0, x1, y1], np.float32) + jit
            box[2:] = np.maximum(box[2:], box[:2] + 2)
            boxes.append(np.clip(box, 0, m.shape[0]))
        return Prompt.box(torch.from_numpy(np.stack(boxes)).float())
    pts, labels = [], []
    for m in masks:
        ys, xs = np.nonzero(m)
        if rng.random() < 0.5:
            p = centre_point(m)
        else:
            j = int(rng.integers(len(xs)))
            p = (float(xs[j]), float(ys[j]))
        cp, cl = [p], [1]
        ring = cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~m
        for _ in range(n_clicks - 1):
            neg = rng.random() < 0.4 and ring.any()
            src = ring if neg else m
            yy, xx = np.nonzero(src)
            j = int(rng.integers(len(xx)))
            cp.append((float(xx[j]), float(yy[j])))
            cl.append(0 if neg else 1)
        pts.append(cp)
        labels.append(cl)
    return Prompt(
        points=torch.tensor(pts, dtype=torch.float32), labels=torch.tensor(labels, dtype=torch.int32)
    )


def correction_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[float, float], int]:
    """SAM 2's simulated correction (``core.sam2.error_click``, as the evaluation's annotator): the
    deepest point of the false negatives or of the false positives, whichever is deeper; positive
    (1) when it is a missed part."""
    click = error_centre_click(pred, gt)
    if click is None:  # nothing to fix: confirm the object, or say "not here"
        return (centre_point(gt), 1) if gt.any() else ((0.0, 0.0), 0)
    return (click.x, click.y), int(click.positive)
