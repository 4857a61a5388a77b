"""``litlora-eval --ray``: the same results as one process, a killed worker retried, clear messages."""

from __future__ import annotations

import csv
import os
import sys

import pytest

from litlora_desktop.cluster.ray_pool import worker_cache
from litlora_desktop.eval.cli import main
from litlora_desktop.eval.report import CSV_COLUMNS
from litlora_desktop.eval.synthetic_dataset import write_synthetic_dataset
from tests.cluster.conftest import WorkerKiller

FAST = [
    "--model",
    "tiny-random",
    "--device",
    "cpu",
    "--epochs-new",
    "3",
    "--epochs-finetune",
    "2",
    "--no-progress",
]
TIMED = {"seconds", "train_s_per_correction"}  # wall-clock columns: the only ones allowed to differ


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    names = write_synthetic_dataset(root, ["occlusion", "split", "distractor"], num_frames=8, size=(48, 64))
    return root, names


def _rows(out):
    with (out / "results.csv").open() as fh:
        return [{k: v for k, v in r.items() if k not in TIMED} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_ray_gives_the_results_of_one_process(dataset, tmp_path, local_ray):
    root, names = dataset
    one, on_ray = tmp_path / "one", tmp_path / "ray"
    assert main([str(root), "--out", str(one), *FAST]) == 0
    assert main([str(root), "--out", str(on_ray), "--ray", *FAST]) == 0
    rows = _rows(on_ray)
    assert len(rows) == 2 * len(names) + 4  # both runs per sequence, ALL and the hard subset of each
    assert set(rows[0]) == set(CSV_COLUMNS) - TIMED
    assert rows == _rows(one)
    for n in names:  # each finished (run, sequence) is stored, so a second run resumes
        assert (on_ray / "runs" / "sam2" / f"{n}.json").is_file()
        assert (on_ray / "runs" / "litlora-oracle" / f"{n}.json").is_file()


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_every_sequence_finishes(dataset, tmp_path, local_ray, capsys):
    root, names = dataset
    killer = WorkerKiller("ray_task")
    killer.start()
    try:
        code = main([str(root), "--out", str(tmp_path / "out"), "--ray", "--lora", "on", *FAST])
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed is not None, "no worker was seen running a task"
    assert code == 0, capsys.readouterr().err
    for n in names:
        assert (tmp_path / "out" / "runs" / "litlora-oracle" / f"{n}.json").is_file()
    assert _rows(tmp_path / "out") == [r for r in _rows(_reference(root, tmp_path)) if r["run"] != "sam2"]


def _reference(root, tmp_path):
    out = tmp_path / "reference"
    assert main([str(root), "--out", str(out), "--lora", "on", *FAST]) == 0
    return out


def test_a_task_whose_worker_dies_past_its_retries_is_reported_and_the_others_finish(local_ray):
    """Deterministic: the task's own process exits in the middle of it, every time, with no retries."""
    from litlora_desktop.cluster.ray_pool import RayOptions, run_on_ray

    def job(item, gpus):
        if item == "bad":
            os._exit(1)  # as a crash or the out-of-memory killer would
        return item.upper()

    results, failures = {}, {}
    run_on_ray(
        job,
        ["a", "bad", "b"],
        RayOptions(retries=0),
        on_result=results.__setitem__,
        on_failure=failures.__setitem__,
    )
    assert results == {"a": "A", "b": "B"}
    assert list(failures) == ["bad"] and failures["bad"].startswith("worker failed: ")


def test_a_sequence_ray_could_not_finish_is_reported_like_a_failed_one(
    dataset, tmp_path, monkeypatch, capsys
):
    """The evaluation's side of it: the failure is that sequence's, the others are stored, exit 1."""
    from litlora_desktop.cluster import ray_pool
    from litlora_desktop.eval import runner

    root, names = dataset

    def fake_run_on_ray(fn, items, options, *, args, on_result, on_failure, on_start=None):
        items = list(items)
        on_failure(items[0], "worker failed: The worker died unexpectedly")
        for t in items[1:]:
            on_result(t, runner.ray_task(t, 0.0, *args))

    monkeypatch.setattr(ray_pool, "run_on_ray", fake_run_on_ray)
    code = main([str(root), "--out", str(tmp_path / "o"), "--ray", "--lora", "off", *FAST])
    err = capsys.readouterr().err
    assert code == 1
    failed = [n for n in names if f"sam2 {n} failed: worker failed: The worker died" in err]
    assert len(failed) == 1 and "Traceback" not in err
    done = {p.stem for p in (tmp_path / "o" / "runs" / "sam2").glob("*.json")}
    assert done == set(names) - set(failed)


def test_without_ray_installed_the_message_says_how_to_get_it(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main([str(dataset[0]), "--out", str(tmp_path / "o"), "--ray", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'litlora-desktop[cluster]'" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_asking_for_gpus_the_cluster_lacks_is_refused_at_once(dataset, tmp_path, local_ray, capsys):
    code = main([str(dataset[0]), "--out", str(tmp_path / "o"), "--ray", "--gpus-per-task", "1", *FAST])
    assert code == 2
    assert "has more than 0" in capsys.readouterr().err


def test_the_worker_cache_builds_once_per_key():
    built = []
    for key in ("a", "a", "b", "b", "a"):
        worker_cache(("test", key), lambda key=key: built.append(key) or key.upper())
    assert built == ["a", "b", "a"]  # one entry: moving to another key frees the previous one


def test_a_dataset_after_a_bare_ray_is_not_taken_for_an_address(dataset, tmp_path, capsys):
    """``--ray`` takes an optional address, so ``--ray DATASET`` would try to join a cluster there."""
    code = main(["--out", str(tmp_path / "o"), *FAST, "--ray", str(dataset[0])])
    assert code == 2
    assert "put the dataset before --ray" in capsys.readouterr().err


def test_a_bare_ray_starts_its_own_ray_even_when_a_cluster_is_configured(monkeypatch):
    """`ray start` or RAY_ADDRESS would otherwise make ray.init() join that cluster and refuse num_cpus."""
    from litlora_desktop.cluster import ray_pool

    calls = []

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **kw):
            calls.append(kw)

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert ray_pool._connect(FakeRay(), ray_pool.RayOptions(local_slots=2)) is True
    assert calls[0]["address"] == "local" and calls[0]["num_cpus"] == 2


def test_starting_a_local_ray_prints_nothing_of_rays_own(tmp_path):
    """A fresh process, as a user's command: Ray's token-authentication notice is not shown."""
    import subprocess

    code = (
        "from litlora_desktop.cluster.ray_pool import RayOptions, run_on_ray\n"
        "out = []\n"
        "run_on_ray(lambda i, g: i + 1, [1], RayOptions(), on_result=lambda i, r: out.append(r), "
        "on_failure=print)\n"
        "assert out == [2], out\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # (Ray may warn of other things on some machines: a small /dev/shm, a low file limit)
    assert "Token authentication" not in proc.stderr + proc.stdout
    assert "authentication_token_setup" not in proc.stderr


def test_the_gpus_a_task_asks_for_must_fit_on_one_machine():
    """Two machines with one GPU each are 2 GPUs in all, but a 2-GPU task would never be scheduled."""
    from litlora_desktop.cluster.ray_pool import ClusterError, RayOptions, _gpus

    class TwoMachines:
        def nodes(self):
            gpu = {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}}
            dead = {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 4.0}}
            return [gpu, dict(gpu), dead]

    ray = TwoMachines()
    assert _gpus(ray, RayOptions()) == 1.0
    assert _gpus(ray, RayOptions(gpus_per_task=0.5)) == 0.5
    with pytest.raises(ClusterError, match="no machine of the Ray cluster has more than 1"):
        _gpus(ray, RayOptions(gpus_per_task=2))


def test_a_local_rays_workers_run_at_the_drivers_priority(local_ray):
    """Ray runs workers at niceness 15: on a busy 2-core machine that cost 1.3x the pool's wall time."""
    from litlora_desktop.cluster.ray_pool import RayOptions, run_on_ray

    got, failures = [], []
    run_on_ray(
        lambda _item, _gpus: os.nice(0),
        [0],
        RayOptions(),
        on_result=lambda _item, niceness: got.append(niceness),
        on_failure=lambda *a: failures.append(a),
    )
    assert not failures
    assert got == [os.nice(0)]


def test_an_address_nobody_answers_on_is_one_sentence_at_once():
    import time

    from litlora_desktop.cluster.ray_pool import ClusterError, _check_reachable

    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"nothing answers at 127\.0\.0\.1:1"):
        _check_reachable("127.0.0.1:1")
    with pytest.raises(ClusterError, match="is not a Ray address"):
        _check_reachable("no-port-here")
    assert time.monotonic() - t0 < 30  # not Ray's minutes of retries


def test_a_task_without_a_gpu_runs_on_the_cpu():
    """Ray does not hide a GPU machine's GPUs from a task that asked for none."""
    from litlora_desktop.cluster.ray_pool import task_device

    assert task_device(None, 0.0) == "cpu"
    assert task_device("auto", 0.0) == "cpu"
    assert task_device("mps", 0.0) == "mps"


@pytest.mark.slow
def test_with_ray_the_driver_never_imports_torch(dataset, tmp_path):
    """With --ray the driver only plans, waits and reports: importing torch and transformers there
    cost ~4 s of every run on a 2-core machine (part of Ray's fixed overhead), for nothing. The
    results still come back whole. A fresh process, as a user's command."""
    import subprocess

    pytest.importorskip("ray", reason="the [cluster] extra is not installed")
    root, names = dataset
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from litlora_desktop.eval.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('driver imported:', sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    argv = [str(root), "--out", str(out), "--lora", "on", "--sequences", names[0], "--ray", *FAST]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "driver imported: []" in proc.stdout, proc.stdout
    rows = [r for r in _rows(out) if r["sequence"] == names[0]]
    assert [r["run"] for r in rows] == ["litlora-oracle"] and int(rows[0]["frames"]) > 0, rows
