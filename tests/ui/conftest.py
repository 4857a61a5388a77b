"""Fixtures for the GUI tests: isolated QSettings, a main window on a small clip with the tiny model."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QSettings

from litlora_desktop.core.sam2.models import LoadedModel, choose_device, random_model, tiny_config
from litlora_desktop.core.video.sources import ArrayVideoSource
from tests.model_fixtures import moving_squares


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own settings file: a test never reads or writes a real user's settings."""
    QCoreApplication.setOrganizationName("LIT-LoRA-tests")
    QCoreApplication.setApplicationName("LIT-LoRA Desktop tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "settings"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield tmp_path / "settings"


@pytest.fixture(autouse=True)
def no_window_outlives_its_test(qapp):
    """Stop every main window's worker threads at the end of each test, whatever the test did.

    A close can be vetoed (the unsaved-changes prompt), and a window that stays open keeps its model
    and frame threads running until the garbage collector destroys it, in some later test, where Qt
    aborts the whole run ("QThread: Destroyed while thread is still running").
    """
    yield
    from PySide6.QtWidgets import QApplication

    from litlora_desktop.ui.main_window import MainWindow

    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow):
            w.projects.close_ok = True  # no unsaved-changes prompt at teardown
            w.close()
            w.session.close()  # idempotent; stops the frame loader and the model thread
            assert not w.session.engine.thread.isRunning(), "the model thread outlived its test"
            assert not w.session.loader.isRunning(), "the frame loader outlived its test"


@pytest.fixture
def fresh_model():
    """A tiny model of the test's own (LIT-LoRA injects adapters into the decoder it is given)."""
    return random_model(tiny_config(64), seed=0)


def make_loaded(model) -> LoadedModel:
    return LoadedModel(model=model, source="tiny-test", device=choose_device("cpu"))


def make_clip(num_frames: int = 12) -> ArrayVideoSource:
    return ArrayVideoSource(moving_squares(num_frames=num_frames, height=48, width=80), fps=24.0, name="clip")


@pytest.fixture
def window_factory(qtbot):
    """Build a main window with a given model and clip, shown offscreen; closed (threads stopped) after."""
    from litlora_desktop.ui.main_window import MainWindow
    from litlora_desktop.ui.settings import AppSettings

    made = []

    def make(model=None, source=None, num_frames: int = 12, settings: dict | None = None):
        s = AppSettings()
        s.set("track/suspect_threshold", 0.0)  # random models score ~0: nothing is suspect unless a test says
        for k, v in (settings or {}).items():
            s.set(k, v)
        w = MainWindow(s)
        qtbot.addWidget(w)
        made.append(w)
        w.resize(900, 600)
        w.show()
        if model is not None:
            w.use_model(make_loaded(model))
            qtbot.waitUntil(lambda: w.session.model_ready, timeout=10_000)
        src = source if source is not None else make_clip(num_frames)
        w.open_source(src)
        qtbot.waitUntil(lambda: w.session.store is not None and w.session.image is not None, timeout=10_000)
        return w

    yield make
    for w in made:
        w.close()
