"""File ▸ Open recent: the recent videos and projects from the settings, and Clear the list.

A menu of its own because it has a small lifecycle the window need not carry: it rebuilds itself from
the settings, drops a file that no longer exists (and says so), and otherwise only asks the window to
open a path through ``open_requested``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QWidget

from litlora_desktop.ui.settings import AppSettings


class RecentMenu(QMenu):
    """The recent files, newest first; each entry's ``data()`` is its path."""

    open_requested = Signal(str)  # an existing recent file was chosen: open it
    problem = Signal(str, str)  # title, text: a chosen file is gone (it was removed from the list)

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__("Open recent", parent)
        self._settings = settings

    def refresh(self) -> None:
        """Rebuild the entries from the settings (after a file was opened or the list changed)."""
        self.clear()
        files = self._settings.recent_files()
        for path in files:
            act = self.addAction(Path(path).name)
            act.setToolTip(path)
            act.setData(path)
            act.triggered.connect(lambda _=False, p=path: self._open(p))
        if files:
            self.addSeparator()
            self.addAction("Clear the list", lambda: (self._settings.set("recent/files", []), self.refresh()))
        self.setEnabled(bool(files))

    def add(self, path: str) -> None:
        """``path`` was opened: it goes first."""
        self._settings.add_recent(path)
        self.refresh()

    def _open(self, path: str) -> None:
        if not Path(path).exists():
            self._settings.remove_recent(path)
            self.refresh()
            self.problem.emit(
                "Cannot open video", f"'{path}' no longer exists: it was removed from the recent files."
            )
            return
        self.open_requested.emit(path)
