"""One local Ray for the cluster tests (2 CPUs, no dashboard), started as ``--ray`` starts one: that takes seconds."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def local_ray():
    ray = pytest.importorskip("ray", reason="the [cluster] extra is not installed")
    from litlora_desktop.cluster.ray_pool import RayOptions, _connect

    _connect(ray, RayOptions(local_slots=2))  # started as `--ray` starts it, with its settings
    yield ray
    ray.shutdown()


def running_task_pids(name: str) -> list[int]:
    """Processes running a Ray task of this function now (Ray titles them ``ray::<function>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith(f"ray::{name}") and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first worker process seen running ``name``, once, as a crash would."""

    def __init__(self, name: str, timeout: float = 120.0) -> None:
        super().__init__(daemon=True)
        self.name_, self.timeout = name, timeout
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.timeout
        while not self.stop.is_set() and time.monotonic() < end:
            pids = running_task_pids(self.name_)
            if pids:
                # well inside the task (the tests' tasks take seconds): a worker killed while it still
                # fetches the task's arguments is replaced by Ray without counting a retry
                time.sleep(0.8)
                if pids[0] not in running_task_pids(self.name_):
                    continue  # it finished meanwhile: an idle worker's death proves nothing
                try:
                    os.kill(pids[0], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed = pids[0]
                return
            time.sleep(0.01)
