"""What the project's lifecycle asks and tells the user, one wording each (``ProjectController``).

Kept apart so that the controller reads as the lifecycle it is; every question is a modal dialog over
the window and returns what the user chose; the texts of its notices are here too.
"""

from __future__ import annotations

import socket
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from litlora_desktop.core.annotations.manifest import PROJECT_SUFFIX, readable_time
from litlora_desktop.core.annotations.open_marker import OpenBy
from litlora_desktop.core.annotations.project import Project

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


def replace_changed_project(window: QWidget, why: str) -> str:
    """Another program saved the project since this window read it: "replace" that save with this
    window's work, "save as" another project (theirs stays), or "cancel" (the default)."""
    box = QMessageBox(
        QMessageBox.Icon.Question, "Project changed on disk", why, QMessageBox.StandardButton.NoButton, window
    )
    box.setInformativeText(
        "Replace it with this window's work? Their save is then kept as the project's backup "
        "(project.backup.json), and this window's LIT-LoRA adapters, if any, are written over theirs."
    )
    replace = box.addButton("Replace their save", QMessageBox.ButtonRole.DestructiveRole)
    save_as = box.addButton("Save as another project…", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return "replace" if clicked is replace else "save as" if clicked is save_as else "cancel"


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


def free_sibling(folder: Path) -> Path:
    """``clip-2.litlora`` beside ``clip.litlora`` (or -3, ...): a Save As start that is no project yet."""
    name = folder.name.removesuffix(PROJECT_SUFFIX)
    n = 2
    while folder.with_name(f"{name}-{n}{PROJECT_SUFFIX}").exists():
        n += 1
    return folder.with_name(f"{name}-{n}{PROJECT_SUFFIX}")


def opened_read_only(why: str, folder: Path) -> str:
    """The notice for a project whose video no longer fits its masks."""
    return (
        f"{why}\n\nThe project {folder} was not changed and will not be: it is open read-only "
        "and nothing is written into its folder (not even an autosave). This video starts with new, "
        "empty annotations. To keep work you do now, save it into another folder with "
        "File ▸ Save project as… (Ctrl+S asks where)."
    )


def skipped_records(project: Project) -> str:
    """The notice for damaged records skipped while opening: one message, not one per record."""
    warnings = project.load_warnings
    n, shown = len(warnings), 3
    more = f" (the first {shown} are below, all of them in the log)" if n > shown else ""
    return (
        f"{n} damaged record(s) in the project {project.path} could not be read and were skipped{more}."
        "\n\n" + "\n".join(warnings[:shown]) + "\n\nNothing was changed on disk: the "
        "project's files are as they were. Saving keeps the previous save as its backup."
    )


def opened(project: Project) -> str:
    """The status line of an opened project; from the autosave, what it did not bring back: the
    autosave holds the masks, and LIT-LoRA's adapters are written by a save (README, "Saving")."""
    if project.loaded_from == "autosave":
        return f"Opened {project.name} from the autosave (LIT-LoRA adapters: as of the last save)"
    return f"Opened project {project.name}"


def open_elsewhere(window: QWidget, name: str, other: OpenBy) -> str:
    """Another window (maybe on another machine) has the project open: "read-only" (the default),
    "anyway", or "cancel"."""
    where = "in another window here" if other.host == socket.gethostname() else f"on {other.host}"
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Project open elsewhere",
        f"{name} is open {where} (since {readable_time(other.since)}).",
        QMessageBox.StandardButton.NoButton,
        window,
    )
    box.setInformativeText(
        "Two windows on one project overwrite each other's autosave. Open it read-only (nothing is "
        "written into its folder; Ctrl+S asks for another one), or open it anyway if that window is "
        "gone (its machine crashed, say)."
    )
    read_only = box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
    anyway = box.addButton("Open anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(read_only)
    box.exec()
    clicked = box.clickedButton()
    return "read-only" if clicked is read_only else "anyway" if clicked is anyway else "cancel"


def window_title(project: Project | None, video: str | None, dirty: bool) -> str:
    """The window's title: the project (``*`` when unsaved), its video, the app."""
    if project is not None:
        name = project.name + (" (read-only)" if project.read_only else "")
    elif video:
        name = Path(video).name
    else:
        return "LIT-LoRA Desktop"
    shown = Path(video).name if project is not None and video else ""
    # a frame folder "clip" has the project "clip": its name once ("clip — clip" said nothing more)
    extra = f" — {shown}" if shown and shown != project.name else ""
    return f"{name}{'*' if dirty else ''}{extra} — LIT-LoRA Desktop"
