"""The model thread: interactive jobs run between the steps of background generators; cancel; errors."""

from __future__ import annotations

import threading

import pytest

from litlora_desktop.workers.model_thread import Job, ModelThread, Priority

pytestmark = pytest.mark.gui


@pytest.fixture
def thread(qtbot):
    t = ModelThread()
    t.start()
    yield t
    assert t.stop()


def test_interactive_job_runs_between_background_steps(qtbot, thread):
    log: list[str] = []
    gate = threading.Event()

    def training(job: Job):
        for epoch in range(5):
            log.append(f"epoch{epoch}")
            if epoch == 0:
                gate.wait(5)  # the GUI queues a click while epoch 0 runs
            yield epoch

    yields: list[int] = []
    done = []
    thread.submit(
        Job(
            training,
            priority=Priority.BACKGROUND,
            on_yield=yields.append,
            on_done=lambda: done.append("train"),
        )
    )
    qtbot.waitUntil(lambda: log == ["epoch0"], timeout=5000)
    thread.submit(Job(lambda job: log.append("click") or "mask", on_result=lambda r: done.append(r)))
    gate.set()
    qtbot.waitUntil(lambda: "train" in done, timeout=5000)
    # the click ran right after the epoch that was running, not after the whole training
    assert log.index("click") == 1, log
    assert yields == [0, 1, 2, 3, 4]
    assert done[0] == "mask"


def test_two_background_jobs_take_turns(qtbot, thread):
    log: list[str] = []
    gate = threading.Event()

    def gen(name):
        def run(job):
            for i in range(3):
                if name == "a" and i == 0:
                    gate.wait(5)
                log.append(f"{name}{i}")
                yield i

        return run

    ends = []
    thread.submit(Job(gen("a"), priority=Priority.BACKGROUND, on_done=lambda: ends.append("a")))
    thread.submit(Job(gen("b"), priority=Priority.BACKGROUND, on_done=lambda: ends.append("b")))
    gate.set()
    qtbot.waitUntil(lambda: len(ends) == 2, timeout=5000)
    assert log[:4] == ["a0", "b0", "a1", "b1"]


def test_an_idle_job_runs_only_when_nothing_else_waits(qtbot, thread):
    """Idle work (candidates nobody looks at yet) never slows a propagation: it advances only
    between jobs, never between two steps of a background generator; a click still goes first."""
    log: list[str] = []
    gate = threading.Event()

    def gen(name, n):
        def run(job):
            for i in range(n):
                if name == "idle" and i == 0:
                    gate.wait(5)  # the GUI queues a propagation and a click while idle step 0 runs
                log.append(f"{name}{i}")
                yield i

        return run

    ends = []
    thread.submit(Job(gen("idle", 3), priority=Priority.IDLE, on_done=lambda: ends.append("idle")))
    qtbot.waitUntil(lambda: thread.is_busy(), timeout=5000)
    thread.submit(Job(gen("prop", 3), priority=Priority.BACKGROUND, on_done=lambda: ends.append("prop")))
    thread.submit(Job(lambda job: log.append("click"), on_done=lambda: ends.append("click")))
    gate.set()
    qtbot.waitUntil(lambda: len(ends) == 3, timeout=5000)
    assert log == ["idle0", "click", "prop0", "prop1", "prop2", "idle1", "idle2"]
    assert ends == ["click", "prop", "idle"]


def test_cancel_stops_a_generator_and_drops_its_results(qtbot, thread):
    steps: list[int] = []
    got: list[int] = []
    done = []

    def endless(job):
        i = 0
        while True:
            steps.append(i)
            yield i
            i += 1

    job = thread.submit(
        Job(
            endless,
            priority=Priority.BACKGROUND,
            kind="prop",
            on_yield=got.append,
            on_done=lambda: done.append(1),
        )
    )
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=5000)
    thread.cancel_kind("prop")
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    n = len(steps)
    qtbot.wait(50)
    assert len(steps) == n, "the generator kept running after cancel"
    assert job.cancelled
    assert thread.pending("prop") == 0


def test_a_failing_job_reports_and_the_thread_lives_on(qtbot, thread):
    errors: list[BaseException] = []
    results: list[int] = []

    def boom(job):
        raise ValueError("bad frame")

    thread.submit(Job(boom, on_error=errors.append))
    thread.submit(Job(lambda job: 42, on_result=results.append))
    qtbot.waitUntil(lambda: results == [42], timeout=5000)
    assert len(errors) == 1 and "bad frame" in str(errors[0])


def test_jobs_run_off_the_gui_thread(qtbot, thread):
    seen = []
    thread.submit(
        Job(lambda job: threading.current_thread() is threading.main_thread(), on_result=seen.append)
    )
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [False]
