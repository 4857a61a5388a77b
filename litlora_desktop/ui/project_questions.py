"""The questions the project's lifecycle asks the user, one wording each (``ProjectController``).

Kept apart so that the controller reads as the lifecycle it is; every question is a modal dialog over
the window and returns what the user chose.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from litlora_desktop.core.annotations.manifest import PROJECT_SUFFIX

Btn = QMessageBox.StandardButton


def save_changes(window: QWidget, name: str, when: str) -> QMessageBox.StandardButton:
    """Save / Discard / Cancel for the unsaved work, one wording for opening and closing."""
    return QMessageBox.question(
        window,
        "Unsaved changes",
        f"Save the changes to {name}{when}?",
        Btn.Save | Btn.Discard | Btn.Cancel,
        Btn.Save,
    )


def replace_project(window: QWidget, target: Path) -> bool:
    """Save As onto a folder that holds another project: replace it?"""
    ans = QMessageBox.question(
        window, "Replace project?", f"{target} already holds a project. Replace it?", Btn.Yes | Btn.Cancel
    )
    return ans == Btn.Yes


def replace_changed_project(window: QWidget, why: str) -> QMessageBox.StandardButton:
    """Another program saved the project since this window read it: Yes replaces that save, No keeps
    it and saves this work as another project, Cancel does nothing (the default)."""
    return QMessageBox.question(
        window,
        "Project changed on disk",
        f"{why}\n\nReplace it with this window's work? No keeps that save and saves this work as "
        "another project.",
        Btn.Yes | Btn.No | Btn.Cancel,
        Btn.Cancel,
    )


def project_path_to_save(window: QWidget, start: str) -> Path | None:
    """The folder a Save As goes to (``.litlora`` added when missing); None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(
        window,
        "Save project as",
        start,
        f"LIT-LoRA project (*{PROJECT_SUFFIX})",
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    if not path:
        return None
    target = Path(path)
    if target.suffix != PROJECT_SUFFIX:
        target = target.with_name(target.name + PROJECT_SUFFIX)
    return target
