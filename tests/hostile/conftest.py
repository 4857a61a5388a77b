"""Helpers for hostile-input tests: run a snippet in a fresh interpreter, so a crash or a hang of
the code under test fails the test instead of killing or blocking the test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_isolated(
    code: str, timeout: float = 60.0, memory_bytes: int | None = None
) -> subprocess.CompletedProcess:
    """Run ``code`` with ``python -c`` in the repository root; ``memory_bytes`` caps the address space."""
    preexec = None
    if memory_bytes is not None:

        def preexec() -> None:  # pragma: no cover - runs in the child
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITLORA_DEFAULT_MALLOC": "1", "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the isolated run did not finish within {timeout} s (a hang)")
