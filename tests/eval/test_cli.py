"""``litlora-eval`` end to end on a tiny generated dataset with a tiny random SAM2."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from litlora_desktop.eval import protocol
from litlora_desktop.eval.cli import main
from litlora_desktop.eval.report import CSV_COLUMNS
from litlora_desktop.eval.results import load_result, result_path
from litlora_desktop.eval.synthetic_dataset import write_synthetic_dataset

FAST = ["--model", "tiny-random", "--device", "cpu", "--epochs-new", "3", "--epochs-finetune", "2"]
RUNS = ("sam2", "litlora-oracle", "litlora-confidence")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    names = write_synthetic_dataset(root, ["occlusion", "split"], num_frames=8, size=(48, 64))
    return root, names


@pytest.fixture(scope="module")
def evaluated(dataset, tmp_path_factory):
    """Both LIT-LoRA selection modes and the baseline, two adapters so the modes can differ."""
    root, names = dataset
    out = tmp_path_factory.mktemp("out")
    argv = [str(root), "--out", str(out), "--select", "oracle", "confidence", "--adapters", "2", *FAST]
    code = main(argv)
    return root, names, out, argv, code


def _csv(out):
    with (out / "results.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_runs_all_modes_and_writes_csv_and_markdown(evaluated):
    root, names, out, _, code = evaluated
    assert code == 0
    rows = _csv(out)
    assert tuple(rows[0]) == CSV_COLUMNS
    per_seq = {(r["run"], r["sequence"]) for r in rows}
    assert per_seq >= {(run, n) for run in RUNS for n in names} | {(run, "ALL") for run in RUNS}
    md = (out / "results.md").read_text()
    for heading in ("## Overall", "## Per sequence", "the paper's table"):
        assert heading in md
    for run in RUNS:
        assert f"| {run} |" in md


def test_counts_are_consistent(evaluated):
    _, names, out, _, _ = evaluated
    for run in RUNS:
        for name in names:
            r = load_result(result_path(out, run, name))
            assert r is not None and r.error is None and len(r.objects) == 2
            for o in r.objects:
                assert o.first_frame == 0 and o.frames == 7  # every frame but the initialising one
                assert o.corrections + o.acceptances <= o.frames
                assert o.full_masks <= o.corrections and o.clicks <= 3 * o.corrections
                assert 0.0 <= o.j <= 1.0 and 0.0 <= o.f <= 1.0 and 0.0 <= o.j_tracked <= 1.0
                assert o.corrections == len(o.corrected_frames)
                if run == "sam2":
                    assert o.acceptances == o.offered == o.trainings == 0
                else:  # every correction trains the object's adapters, and is timed
                    assert o.trainings == o.corrections > 0 and o.train_seconds > 0
    rows = {(r["run"], r["sequence"]): r for r in _csv(out)}
    base = int(rows[("sam2", "ALL")]["corrections"])
    for run in RUNS[1:]:
        mine = int(rows[(run, "ALL")]["corrections"])
        assert float(rows[(run, "ALL")]["reduction_pct"]) == pytest.approx(
            100 * (base - mine) / base, abs=0.01
        )
        assert float(rows[(run, "ALL")]["train_s_per_correction"]) > 0


def test_second_run_skips_finished_sequences(evaluated, monkeypatch, capsys):
    _, names, out, argv, _ = evaluated
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}
    assert len(before) == len(RUNS) * len(names)

    def must_not_run(*a, **k):
        raise AssertionError("a finished sequence was evaluated again")

    monkeypatch.setattr(protocol, "evaluate_sequence", must_not_run)
    assert main(argv) == 0
    assert f"0 to do, {len(before)} already finished" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")} == before


def test_a_partly_finished_evaluation_resumes(dataset, tmp_path, monkeypatch):
    root, names = dataset
    out = tmp_path / "out"
    argv = [str(root), "--out", str(out), "--lora", "off", *FAST, "--no-progress"]
    assert main(argv) == 0
    (out / "runs" / "sam2" / f"{names[1]}.json").unlink()  # as if killed before the second sequence
    seen = []
    real = protocol.evaluate_sequence

    def spy(model, seq, *a, **k):
        seen.append(seq.name)
        return real(model, seq, *a, **k)

    monkeypatch.setattr(protocol, "evaluate_sequence", spy)
    assert main(argv) == 0
    assert seen == [names[1]]
    # a LIT-LoRA run added later is compared with the stored baseline
    assert main([str(root), "--out", str(out), "--lora", "on", *FAST, "--no-progress"]) == 0
    assert seen == [names[1], *names]
    rows = {(r["run"], r["sequence"]): r for r in _csv(out)}
    assert rows[("sam2", "ALL")]["corrections"] and rows[("litlora-oracle", "ALL")]["reduction_pct"] != ""


def test_other_settings_in_the_same_folder_are_refused(evaluated, capsys):
    root, _, out, _, _ = evaluated
    assert main([str(root), "--out", str(out), "--lora", "off", "--tau", "0.75", *FAST]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "--restart" in err


def test_keep_failed_new_reaches_the_lora_settings(evaluated, capsys):
    """--keep-failed-new changes the LoRA settings of the run: the folder's runs, made without it,
    are refused as other settings (so the flag is not parsed and ignored)."""
    root, _, out, _, _ = evaluated
    assert (
        main([str(root), "--out", str(out), "--lora", "on", "--keep-failed-new", "--adapters", "2", *FAST])
        == 2
    )
    assert "other settings" in capsys.readouterr().err


def test_ray_options_without_ray_are_refused_not_ignored(dataset, tmp_path, capsys):
    """Without --ray the run would go on this machine's pool, not as the user asked."""
    root, _ = dataset
    assert main([str(root), "--out", str(tmp_path / "o"), "--gpus-per-task", "0.5", *FAST]) == 2
    assert "--gpus-per-task only applies with --ray" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("device", ["tpu", "cuda:0,tpu", "cuda:x"])
def test_a_device_that_is_not_one_is_refused_before_any_work(dataset, tmp_path, capsys, device):
    """It was said after the plan was printed, by each worker as it loaded the model; "cuda:x" got
    as far as torch."""
    root, _ = dataset
    argv = [str(root), "--out", str(tmp_path / "o"), *FAST[:2], *FAST[4:], "--device", device]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown device" in err and "to do" not in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_dataset_path_is_a_clear_message_and_exit_code_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "litlora_desktop.eval.cli",
            str(tmp_path / "no-such-dataset"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_not_a_dataset_and_unknown_sequence(tmp_path, dataset, capsys):
    root, _ = dataset
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "JPEGImages" in capsys.readouterr().err
    assert main([str(root), "--sequences", "bmx-trees", "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "bmx-trees" in capsys.readouterr().err


def test_make_dataset_subcommand(tmp_path, capsys):
    assert (
        main(
            ["make-dataset", str(tmp_path / "d"), "--frames", "3", "--size", "32x40", "--scenarios", "split"]
        )
        == 0
    )
    assert (tmp_path / "d" / "JPEGImages" / "split-0" / "00002.jpg").exists()
    assert (tmp_path / "d" / "Annotations" / "split-0" / "00000.png").exists()
    assert main(["make-dataset", str(tmp_path / "e"), "--size", "big"]) == 2


@pytest.mark.slow
def test_workers_spread_sequences_over_processes(dataset, tmp_path):
    root, names = dataset
    out = tmp_path / "out"
    assert (
        main([str(root), "--out", str(out), "--lora", "off", "--workers", "2", *FAST, "--no-progress"]) == 0
    )
    one = tmp_path / "one"
    assert main([str(root), "--out", str(one), "--lora", "off", *FAST, "--no-progress"]) == 0
    for n in names:  # same counts whichever process ran a sequence
        a = json.loads((out / "runs" / "sam2" / f"{n}.json").read_text())
        b = json.loads((one / "runs" / "sam2" / f"{n}.json").read_text())
        assert [o["corrections"] for o in a["objects"]] == [o["corrections"] for o in b["objects"]]


@pytest.mark.parametrize("family", ["sam3", "edgetam"])
def test_every_family_evaluates_from_its_save_pretrained_folder(dataset, tmp_path, family):
    """litlora-eval takes a SAM 3 tracker or EdgeTAM folder like a SAM2 one: both runs, every sequence."""
    from tests.model_fixtures import tiny_family_model

    root, names = dataset
    tiny_family_model(family, init_std=0.2).save_pretrained(tmp_path / family)
    out = tmp_path / "out"
    fast = ["--device", "cpu", "--epochs-new", "3", "--epochs-finetune", "2"]
    assert main([str(root), "--out", str(out), "--model", str(tmp_path / family), *fast]) == 0
    rows = {(r["run"], r["sequence"]): r for r in _csv(out)}
    for run in ("sam2", "litlora-oracle"):
        assert {(run, n) for n in names} <= set(rows)
        assert int(rows[(run, "ALL")]["corrections"]) > 0
