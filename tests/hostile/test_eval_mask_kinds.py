"""``litlora-eval`` on ground truth it used to score as nothing: 0/255 black-and-white masks (255 read
as void left no object) and sequences that are all background. They exited 0 with J&F nan. Now a
0/255 sequence is one object, an all-background one is skipped with a printed reason, and an
evaluation that scores nothing exits non-zero with one sentence."""

from __future__ import annotations

import csv
import math

import cv2
import numpy as np

from litlora_desktop.eval.cli import main
from litlora_desktop.eval.dataset import open_dataset

H, W, N = 32, 40, 3
FAST = ["--model", "tiny-random", "--device", "cpu", "--lora", "off", "--no-progress"]


def _disk(frame: int) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (yy - 16) ** 2 + (xx - 14 - 3 * frame) ** 2 <= 8**2


def _sequence(root, name, masks) -> None:
    (root / "JPEGImages" / name).mkdir(parents=True)
    (root / "Annotations" / name).mkdir(parents=True)
    for f, m in enumerate(masks):
        frame = np.full((H, W, 3), 40, np.uint8)
        frame[_disk(f)] = (230, 200, 40)
        cv2.imwrite(str(root / "JPEGImages" / name / f"{f:05d}.jpg"), frame)
        if m is not None:
            cv2.imwrite(str(root / "Annotations" / name / f"{f:05d}.png"), m)


def _bw() -> list[np.ndarray]:
    return [_disk(f).astype(np.uint8) * 255 for f in range(N)]


def _background() -> list[np.ndarray]:
    return [np.zeros((H, W), np.uint8) for _ in range(N)]


def test_black_and_white_ground_truth_is_one_object(tmp_path):
    _sequence(tmp_path, "bw", _bw())
    (seq,) = open_dataset(tmp_path)
    assert seq.object_ids() == [1]
    gt = seq.ground_truth(1, (H, W))
    assert set(gt) == {1} and np.array_equal(gt[1], _disk(1))


def test_black_and_white_is_scored_and_background_only_is_skipped_with_a_reason(tmp_path, capsys):
    _sequence(tmp_path, "bw", _bw())
    _sequence(tmp_path, "empty", _background())
    out = tmp_path / "out"
    code = main([str(tmp_path), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "'empty'" in err and "skipped" in err and "background" in err, err
    with (out / "results.csv").open() as fh:
        rows = {(r["run"], r["sequence"]): r for r in csv.DictReader(fh)}
    assert ("sam2", "bw") in rows and ("sam2", "empty") not in rows
    assert math.isfinite(float(rows[("sam2", "ALL")]["J&F"]))


def test_only_background_exits_non_zero_with_a_sentence(tmp_path, capsys):
    _sequence(tmp_path, "empty", _background())
    code = main([str(tmp_path), "--out", str(tmp_path / "out"), *FAST])
    err = capsys.readouterr().err
    assert code != 0
    assert "empty" in err and "nan" not in err.lower() and "Traceback" not in err, err


def test_an_object_only_on_the_last_frame_scores_nothing_and_exits_non_zero(tmp_path, capsys):
    masks = _background()
    masks[-1] = _bw()[-1]  # initialised on the last frame: no later frame to score
    _sequence(tmp_path, "late", masks)
    code = main([str(tmp_path), "--out", str(tmp_path / "out"), *FAST])
    captured = capsys.readouterr()
    assert code != 0, captured.out + captured.err
    assert "nothing could be scored" in captured.err.lower(), captured.err
    assert "nan" not in (captured.out + captured.err).lower()
