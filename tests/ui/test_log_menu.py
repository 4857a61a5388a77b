"""Help ▸ Open log folder, and the crash dialog that autosaves first and points at the log."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from litlora_desktop import app, logs

pytestmark = pytest.mark.gui


def _help_menu(window):
    for act in window.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == "Help":
            return act.menu()
    return None


def test_help_menu_opens_the_log_folder(window_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("LITLORA_LOG_DIR", str(tmp_path / "my logs"))
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    w = window_factory()
    menus_before = len(w.menuBar().actions())
    action = logs.add_help_actions(w)
    assert len(w.menuBar().actions()) == menus_before  # joined the existing Help menu
    assert action in _help_menu(w).actions() and action.text() == "Open log folder"
    action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(tmp_path / "my logs")]
    assert (tmp_path / "my logs").is_dir()  # created so the file manager has something to show


class _Project:
    name = "clip project"

    def __init__(self) -> None:
        self.autosaves = 0

    def write_autosave(self, force: bool = False) -> bool:
        self.autosaves += 1
        return True


def test_uncaught_exception_autosaves_then_shows_a_dialog(window_factory, monkeypatch, qtbot):
    w = window_factory()
    project = _Project()
    w.projects.project = project  # how the window may hold a project once one is wired in
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    app.install_excepthook(w)
    try:
        raise ValueError("boom in a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    finally:
        w.projects.project = None  # the window closes a real project at teardown
    assert project.autosaves == 1
    assert w.problems[-1] == ("Unexpected error", "boom in a slot")
    assert shown and "everything is saved" in shown[-1] and "Open log folder" in shown[-1]
