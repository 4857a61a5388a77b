"""Keep large tensor buffers in the process instead of handing them back to the kernel every frame.

PyTorch's CPU tensors come from glibc ``malloc``. glibc serves any block above its mmap threshold
(at most 32 MiB, adjusted on the fly) with a fresh ``mmap`` and unmaps it on ``free``; SAM2's image
encoder at 1024² allocates and frees gigabytes of such blocks per frame. Every page of every fresh
mapping is then zero-filled by the kernel on first touch: measured on the 2-core build machine,
~300,000 page faults and 0.5 s of system time per encoded frame, a quarter of the frame's time. A
worker thread gets its own arena, whose blocks are mmapped too.

``tune_malloc`` raises the threshold above any SAM2 buffer, keeps freed memory at the top of the heap
and serves every thread from the main arena, so the second frame reuses the first frame's pages:
no faults, and the encoder ~15-20 % faster on a CPU (``benchmarks/peer_speed.py --default-malloc``
shows the difference). The price: resident memory stays near its peak instead of shrinking between
frames. It must run before worker threads allocate (they keep the arena they first used), so the
entry points call it first. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt parameters from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 1 << 30  # above every SAM2 buffer; blocks larger than this still get their own mapping
TRIM_THRESHOLD = (1 << 31) - 1  # keep up to 2 GiB of freed memory at the top of the heap
OPT_OUT = "LITLORA_DEFAULT_MALLOC"  # set to 1 to leave glibc's defaults alone

_applied: bool | None = None


def malloc_tuned() -> bool:
    """Whether ``tune_malloc`` has run and its settings are in effect (for reports; applies nothing)."""
    return bool(_applied)


def tune_malloc() -> bool:
    """Apply the settings above once per process; True when they are in effect (glibc only)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT, "") not in ("", "0"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_ARENA_MAX, 1),
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        )
    )
    if not ok:
        log.info("glibc refused a malloc setting: tensor buffers are mmapped per allocation")
    _applied = ok
    return ok
