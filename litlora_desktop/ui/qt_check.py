"""Refuse a Qt binding that would crash the app mid-session.

PySide6 6.12.0's ``SignalInstance.emit`` returns ``True`` without taking a reference to it. On
Python 3.11 (bools are not yet immortal) every emitted signal takes one reference away from ``True``,
and after a few thousand signals (a minute of playback or training progress) the interpreter aborts
with "bool_dealloc: deallocating True or False", losing whatever was not autosaved. pyproject.toml
excludes that release; this check catches an environment (or bundle) that got it anyway, at start-up,
before any work can be lost.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Signal

_PROBE_EMITS = 32


class _Probe(QObject):
    pinged = Signal(object)


def qt_binding_problem() -> str | None:
    """A message for the user when emitting a signal leaks references to ``True``, else None."""
    probe = _Probe()
    probe.pinged.connect(lambda _value: None)
    before = sys.getrefcount(True)
    for i in range(_PROBE_EMITS):
        probe.pinged.emit(i)
    lost = before - sys.getrefcount(True)
    if lost < _PROBE_EMITS // 2:
        return None
    for _ in range(lost):  # give back what the probe itself took, so exiting after the message is clean
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return (
        f"PySide6 {pyside_version} has a reference-counting bug in signal emission that makes Python "
        f"{sys.version_info.major}.{sys.version_info.minor} abort after a few thousand updates. "
        'Install another release, e.g. pip install "PySide6-Essentials>=6.7,<6.12", and start again.'
    )
