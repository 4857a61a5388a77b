"""The malloc settings keep big tensor buffers in the process (core/sam2/allocator.py): no page faults on reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from litlora_desktop.core.sam2 import allocator

# In a fresh interpreter (the test process keeps glibc's defaults, tests/conftest.py): a worker
# thread, as in the app, allocates and frees 64 MiB tensors; the page faults of the later rounds
# tell whether the first round's pages were reused or mapped afresh each time.
PROBE = """
import json, resource, sys, threading
import torch
from litlora_desktop.core.sam2.allocator import tune_malloc
applied = tune_malloc()
faults = []
def work():
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(4):
            t = torch.empty(16 * 1024 * 1024)  # 64 MiB
            t.fill_(1.0)
            del t
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
th = threading.Thread(target=work)
th.start()
th.join()
print(json.dumps({"applied": applied, "faults": faults}))
"""

PAGES_PER_ROUND = 4 * 64 * 1024 * 1024 // 4096  # what mapping every tensor afresh costs


def _probe(opt_out: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != allocator.OPT_OUT}
    if opt_out:
        env[allocator.OPT_OUT] = "1"
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings are Linux-only")
def test_tuned_malloc_reuses_pages_and_default_malloc_does_not():
    tuned, default = _probe(opt_out=False), _probe(opt_out=True)
    assert tuned["applied"] is True and default["applied"] is False
    # the heap grows over the first rounds either way; after that only the tuned process reuses pages
    assert max(tuned["faults"][3:]) < PAGES_PER_ROUND // 20, tuned
    assert min(default["faults"][3:]) > PAGES_PER_ROUND // 2, default


def test_tune_malloc_is_applied_once(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv(allocator.OPT_OUT, "1")
    assert allocator.tune_malloc() is False
    monkeypatch.delenv(allocator.OPT_OUT)
    assert allocator.tune_malloc() is False, "the first answer stands: arenas cannot be changed later"
    assert allocator.malloc_tuned() is False
