"""The per-frame protocol with LIT-LoRA, on fakes so that every branch is reached deterministically."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from litlora_desktop.eval.protocol import Protocol, _handle_frame
from litlora_desktop.eval.results import ObjectResult


def rect(top, left, h, w, shape=(40, 40)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[top : top + h, left : left + w] = True
    return m


GT = rect(10, 10, 20, 20)


@dataclass
class Cand:
    mask: np.ndarray
    confidence: float


class FakeTracker:
    device = torch.device("cpu")

    def __init__(self, click_masks):
        self.events, self._answers = [], list(click_masks)

    def add_clicks(self, oid, frame, clicks):
        self.events.append(("clicks", frame, clicks[0].positive))
        return SimpleNamespace(mask=self._answers.pop(0))

    def add_mask(self, oid, frame, mask):
        self.events.append(("mask", frame, mask.sum()))


class FakeEngine:
    def __init__(self, events, cands):
        self.events, self.cands, self.pending = events, cands, False

    def candidates(self, oid, frame):
        return list(self.cands)

    def accept(self, cand):
        self.events.append(("accept", cand.confidence))

    def add_correction(self, oid, frame, mask):
        self.events.append(("sample", frame, mask.sum()))
        self.pending = True

    def has_pending(self, oid):
        return self.pending

    def train(self, oid):
        self.events.append(("train",))
        self.pending = False


def run(protocol, pred, cands=(), click_masks=(), lora=True):
    tr = FakeTracker(click_masks)
    eng = FakeEngine(tr.events, cands) if lora else None
    res = ObjectResult(object_id=1, first_frame=0)
    final = _handle_frame(tr, eng, protocol, res, 5, pred, GT)
    return res, final, tr.events


def test_a_good_frame_is_left_alone():
    res, final, events = run(Protocol(lora=True), GT.copy(), cands=[Cand(GT, 0.9)])
    assert events == [] and res.corrections == 0 and res.offered == 0 and final is not None


def test_oracle_accepts_the_best_candidate_by_ground_truth():
    poor, good = Cand(rect(0, 0, 5, 5), 0.9), Cand(rect(11, 10, 20, 20), 0.2)
    res, final, events = run(Protocol(lora=True, select="oracle"), np.zeros_like(GT), cands=[poor, good])
    assert events == [("accept", 0.2)]
    assert res.acceptances == 1 and res.corrections == 0 and res.clicks == 0 and res.offered == 1
    assert res.accepted_frames == [5] and np.array_equal(final, good.mask)


def test_confidence_takes_the_top_candidate_and_corrects_when_it_fails():
    poor, good = Cand(rect(0, 0, 5, 5), 0.9), Cand(GT, 0.2)  # the right answer is there, but less confident
    res, final, events = run(
        Protocol(lora=True, select="confidence"), np.zeros_like(GT), cands=[poor, good], click_masks=[GT]
    )
    assert ("accept", 0.2) not in events and res.acceptances == 0 and res.offered == 1
    # one click fixes it; the frame (its ground truth, here equal to the click result) is learnt
    assert events == [("clicks", 5, True), ("sample", 5, GT.sum()), ("train",)]
    assert res.corrections == 1 and res.clicks == 1 and res.full_masks == 0 and res.trainings == 1


def test_confidence_accepts_a_good_top_candidate_and_respects_the_minimum():
    good = Cand(GT, 0.6)
    res, _, events = run(Protocol(lora=True, select="confidence"), np.zeros_like(GT), cands=[good])
    assert events == [("accept", 0.6)] and res.acceptances == 1
    res, _, events = run(
        Protocol(lora=True, select="confidence", min_confidence=0.7),
        np.zeros_like(GT),
        cands=[good],
        click_masks=[GT],
    )
    assert res.acceptances == 0 and res.corrections == 1


def test_failed_clicks_end_in_the_ground_truth_which_is_learnt_before_it_enters_the_tracker():
    empty = np.zeros_like(GT)
    res, final, events = run(Protocol(lora=True), empty, click_masks=[empty, empty, empty])
    assert [e[0] for e in events] == ["clicks", "clicks", "clicks", "sample", "mask", "train"]
    assert events[3] == ("sample", 5, GT.sum()) and events[4] == ("mask", 5, GT.sum())
    assert res.corrections == 1 and res.clicks == 3 and res.full_masks == 1
    assert res.corrected_frames == [5] and np.array_equal(final, GT)


def test_without_lora_there_are_no_candidates_and_no_training():
    empty = np.zeros_like(GT)
    res, _, events = run(Protocol(lora=False), empty, click_masks=[empty, empty, empty], lora=False)
    assert [e[0] for e in events] == ["clicks", "clicks", "clicks", "mask"]
    assert res.trainings == 0 and res.offered == 0


@pytest.mark.parametrize("tau", [0.0, 1.5])
def test_protocol_rejects_a_bad_tau(tau):
    with pytest.raises(ValueError):
        Protocol(tau=tau)


@pytest.mark.parametrize("target", ["gt", "final"])
def test_lora_learns_the_ground_truth_or_the_click_result_as_asked(target):
    """The authors train on the corrected frame's full ground truth; ``final`` trains on the mask the
    annotator ended with (here a click result just good enough for τ, not the ground truth)."""
    near = rect(10, 10, 20, 17)  # IoU 0.85 with GT
    res, final, events = run(Protocol(lora=True, train_target=target), np.zeros_like(GT), click_masks=[near])
    assert res.corrections == 1 and np.array_equal(final, near)
    learnt = [e for e in events if e[0] == "sample"]
    assert learnt == [("sample", 5, (GT if target == "gt" else near).sum())]


def test_protocol_rejects_an_unknown_training_target():
    with pytest.raises(ValueError, match="train_target"):
        Protocol(train_target="clicks")
