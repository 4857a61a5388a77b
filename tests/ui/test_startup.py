"""Start-up feedback (issue 14, item 8): the window appears without waiting for PyTorch, and says that
the model is loading until it is in."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.gui

SHOW_THE_WINDOW = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import litlora_desktop.cli
from litlora_desktop.app import make_application
from litlora_desktop.ui.main_window import MainWindow
from litlora_desktop.ui.settings import AppSettings
from PySide6.QtCore import QCoreApplication, QSettings
app = make_application([])
QCoreApplication.setOrganizationName("LIT-LoRA-tests")
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
w = MainWindow(AppSettings())
w.show()
app.processEvents()
heavy = sorted(n for n in sys.modules if n.split(".")[0] in ("torch", "transformers"))
w.projects.close_ok = True
w.close()
w.session.close()
print("HEAVY:" + ",".join(heavy[:5]))
"""


def test_the_window_is_shown_without_importing_torch(tmp_path):
    """Everything up to the first paint of the main window runs without torch or transformers: they
    are imported on the model thread, when the model loads."""
    out = subprocess.run(
        [sys.executable, "-c", SHOW_THE_WINDOW, str(tmp_path / "settings")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("HEAVY:")]
    assert line == ["HEAVY:"], f"imported before the window was shown: {line} {out.stderr[-2000:]}"


def test_a_loading_bar_and_message_show_until_the_model_is_in(qtbot, window_factory):
    w = window_factory()  # no model yet
    s = w.session
    bar = w.models.loading_bar
    assert bar.isHidden()
    busy = threading.Event()  # the model thread is still busy (importing PyTorch, say)
    s.engine.call(busy.wait, 20.0, label="slow start")
    w.load_model("tiny-random", "cpu")
    assert not bar.isHidden()
    assert bar in w.statusBar().findChildren(type(bar))
    assert w.statusBar().currentMessage().startswith("Loading SAM2 (tiny-random)")
    assert "The window works meanwhile" in w.statusBar().currentMessage()
    assert w.status_labels["model"].text() == "loading tiny-random…"
    busy.set()
    qtbot.waitUntil(lambda: s.model_ready, timeout=60_000)
    assert bar.isHidden()
    assert w.statusBar().currentMessage().startswith("Model")  # "Model … ready. …"


def test_the_model_names_the_window_reads_are_the_loaders():
    """``core/model_ids.py`` repeats the names of ``core/sam2/models.py`` so the window needs no torch."""
    from litlora_desktop.core import model_ids
    from litlora_desktop.core.sam2 import models

    for name in ("DEFAULT_MODEL_ID", "DEMO_MODEL", "TINY_RANDOM", "DEMO_LABEL", "MODEL_CHOICES"):
        assert getattr(model_ids, name) == getattr(models, name), name
