"""Void (label 255) through the protocol: the τ test, the oracle's choice and the scores ignore it, and
the correction reaches LIT-LoRA with void as "ignore" (255) in the training sample's target."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import cv2
import numpy as np
import torch

from litlora_desktop.core.annotations.formats.indexed_png import encode_indexed_png, voc_palette
from litlora_desktop.core.lora.litlora import LitLoRA
from litlora_desktop.core.sam2.models import random_model, tiny_config
from litlora_desktop.core.sam2.tracker import Tracker
from litlora_desktop.core.scenes.synthetic import SceneVideoSource, SyntheticScene
from litlora_desktop.eval.annotator import correct_frame
from litlora_desktop.eval.dataset import open_dataset
from litlora_desktop.eval.protocol import Protocol, _handle_frame, evaluate_sequence
from litlora_desktop.eval.results import ObjectResult


def rect(top, left, h, w, shape=(40, 40)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[top : top + h, left : left + w] = True
    return m


GT = rect(10, 10, 10, 10)  # 100 px
VOID = rect(10, 20, 20, 20)  # 400 px beside it: the prediction below spills into it


@dataclass
class Cand:
    mask: np.ndarray
    confidence: float


class FakeTracker:
    device = torch.device("cpu")

    def __init__(self, answers=()):
        self.events, self.answers = [], list(answers)

    def add_clicks(self, oid, frame, clicks):
        self.events.append(("clicks", clicks[0]))
        return SimpleNamespace(mask=self.answers.pop(0))

    def add_mask(self, oid, frame, mask):
        self.events.append(("mask", mask))


class FakeEngine:
    def __init__(self, events, cands=()):
        self.events, self.cands, self.pending = events, list(cands), False

    def candidates(self, oid, frame):
        return list(self.cands)

    def accept(self, cand):
        self.events.append(("accept", cand))

    def add_correction(self, oid, frame, mask):
        self.events.append(("sample", mask))
        self.pending = True

    def has_pending(self, oid):
        return self.pending

    def train(self, oid):
        self.events.append(("train",))
        self.pending = False


def handle(pred, void, cands=(), answers=(), select="oracle"):
    tr = FakeTracker(answers)
    eng = FakeEngine(tr.events, cands)
    res = ObjectResult(object_id=1, first_frame=0)
    final = _handle_frame(tr, eng, Protocol(lora=True, select=select), res, 3, pred, GT, void)
    return res, final, tr.events


def test_a_frame_wrong_only_in_void_passes_the_tau_test():
    res, final, events = handle(GT | VOID, VOID)  # IoU 100/500 counting void, 1.0 without
    assert events == [] and res.corrections == 0 and final is not None
    res, _, events = handle(GT | VOID, None, answers=[GT])  # the same frame without void fails
    assert res.corrections == 1


def test_the_oracle_scores_candidates_without_void():
    spill, near = Cand(GT | VOID, 0.1), Cand(rect(11, 10, 10, 10), 0.9)  # IoU 1.0 / 0.82 without void
    res, final, events = handle(np.zeros_like(GT), VOID, cands=[near, spill])
    assert events == [("accept", spill)] and np.array_equal(final, spill.mask)
    _, _, events = handle(np.zeros_like(GT), None, cands=[near, spill])
    assert events == [("accept", near)]  # counting void, the spill is the poorer one


def test_clicks_avoid_void_and_the_sample_marks_it_ignore():
    empty = np.zeros_like(GT)
    void = rect(0, 0, 16, 16)  # covers the object's centre and its top-left part
    res, final, events = handle(empty, void, answers=[empty, empty, empty])
    kinds = [e[0] for e in events]
    assert kinds == ["clicks", "clicks", "clicks", "sample", "mask", "train"] and res.full_masks == 1
    for _, click in events[:3]:
        assert not void[int(click.y), int(click.x)] and GT[int(click.y), int(click.x)]
    sample = events[3][1]
    assert sample.dtype == np.uint8 and (sample[void] == 255).all() and (sample[~void] == GT[~void]).all()
    tracker_mask = events[4][1]  # SAM2 itself gets the plain ground truth (it has no "ignore")
    assert tracker_mask.dtype == bool and np.array_equal(tracker_mask, GT)
    assert np.array_equal(final, GT)


def test_lora_sample_target_holds_the_void_region():
    """Through the real engine: the target at the model's input size is 255 where the frame is void."""
    scene = SyntheticScene(num_frames=4, size=(96, 128), seed=1, scenario="basic")
    tr = Tracker(random_model(tiny_config(64, init_std=0.2), seed=0), SceneVideoSource(scene))
    eng = LitLoRA(tr)
    try:
        obj = scene.object_ids[0]
        tr.add_object(obj)
        tr.add_mask(obj, 0, scene.mask(obj, 0))
        pred = tr.track(2).masks[obj].mask
        gt = scene.mask(obj, 2)
        void = np.zeros_like(gt)
        void[:, :64] = True  # the left half of the frame
        corr = correct_frame(pred, gt, lambda click: pred, tau=1.0, max_clicks=0, void=void)
        sample = eng.add_correction(obj, 2, corr.target)
        assert sample is not None
        target = sample.target.cpu().numpy()
        assert target.shape == (64, 64)
        assert (target[:, :32] == 255).all() and not (target[:, 32:] == 255).any()
        want = cv2.resize(gt[:, 64:].astype(np.float32), (32, 64), interpolation=cv2.INTER_AREA) >= 0.5
        assert np.array_equal(target[:, 32:] == 1, want)
    finally:
        eng.close()
        tr.close()


def _sequence(root, later_label: int) -> None:
    """Frame 0 marks one object; frames 1 and 2 are all ``later_label`` (255: nothing is decided)."""
    (root / "JPEGImages" / "s").mkdir(parents=True)
    (root / "Annotations" / "s").mkdir(parents=True)
    yy, xx = np.mgrid[:48, :64]
    disk = (yy - 24) ** 2 + (xx - 30) ** 2 <= 12**2
    for f in range(3):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[np.roll(disk, 2 * f, axis=1)] = (40, 200, 230)
        cv2.imwrite(str(root / "JPEGImages" / "s" / f"{f:05d}.jpg"), frame)
        labels = disk.astype(np.uint8) if f == 0 else np.full((48, 64), later_label, np.uint8)
        (root / "Annotations" / "s" / f"{f:05d}.png").write_bytes(encode_indexed_png(labels, voc_palette()))


def test_evaluate_sequence_scores_all_void_frames_as_nothing_to_fix(tmp_path):
    model = random_model(tiny_config(64, init_std=0.2), seed=1)  # this seed tracks non-empty masks
    _sequence(tmp_path / "void", 255)
    (seq,) = open_dataset(tmp_path / "void")
    (obj,) = evaluate_sequence(model, seq, Protocol()).objects
    assert obj.frames == 2 and obj.corrections == 0
    assert obj.j_sum == obj.jt_sum == 2.0 and obj.f_sum == obj.ft_sum == 2.0
    # the same frames as background: the tracked masks are all wrong there, so void made the difference
    _sequence(tmp_path / "bg", 0)
    (seq,) = open_dataset(tmp_path / "bg")
    (obj,) = evaluate_sequence(model, seq, Protocol()).objects
    assert obj.jt_sum == 0.0 and obj.corrections == 2
