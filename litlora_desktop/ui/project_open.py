"""From a path to an opened project and its video: reading the saved states, asking which to open,
relinking a video that moved.

``ProjectOpener`` is the project controller's reading half, kept apart because it has state of its
own (the reads in flight, which open is the latest) and ends in one hand-over: ``ready(project,
video)``, after which the controller opens the video. Nothing here reads a project on the GUI thread:
probing its saved states and opening one run on a ``BackgroundTask`` under a wait cursor; the questions
(recover the autosave? open the backup? locate the video?) are asked on the GUI thread between those
reads. An open that a newer one overtook is dropped.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from litlora_desktop.core.annotations.manifest import (
    AUTOSAVE,
    MANIFEST,
    PROJECT_SUFFIX,
    ProjectError,
    ProjectProbe,
    readable_time,
)
from litlora_desktop.core.annotations.open_marker import OpenBy, opened_elsewhere
from litlora_desktop.core.annotations.project import Project, default_project_path
from litlora_desktop.ui import project_questions as questions
from litlora_desktop.workers.background import BackgroundTask

Btn = QMessageBox.StandardButton
PROJECT_FILES = (MANIFEST, AUTOSAVE)


def _read_only_then(then: Callable[[Project], None]) -> Callable[[Project], None]:
    """``then``, given the project opened read-only (nothing is written into its folder)."""

    def opened(project: Project) -> None:
        project.read_only = True
        then(project)

    return opened


def project_folder(path: str | Path) -> Path | None:
    """The project folder ``path`` names (the folder, or a manifest in it), else None."""
    p = Path(path)
    if p.is_file() and p.name in PROJECT_FILES:
        return p.parent
    if p.is_dir() and (p.suffix == PROJECT_SUFFIX or any((p / n).is_file() for n in PROJECT_FILES)):
        return p
    return None


class ProjectOpener(QObject):
    """Opens projects off the GUI thread for the project controller (see the module docstring)."""

    ready = Signal(object, object)  # Project, Path of its video: open that video into the project
    status = Signal(str, int)  # a status-bar message and its duration in ms ("" clears)
    problem = Signal(str, str)  # title, text: why a project could not be opened

    def __init__(self, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = window  # the parent of its dialogs
        self._read_tasks: set[BackgroundTask] = set()  # project reads running (kept alive until done)
        self._token = 0  # the latest open: an older read's outcome is dropped

    def open_project(self, folder: Path) -> None:
        """Open a project and its video. The files are read off the GUI thread; when the project
        cannot be opened the user is told why (or chose Cancel) and nothing changes."""

        def loaded(project: Project) -> None:
            video = project.resolve_video_path()
            if video is None:
                video = self._ask_relink(project)
                if video is None:
                    return
            self.ready.emit(project, video)

        self._load_project(folder, loaded)

    def open_video(self, video: Path) -> None:
        """Open ``video`` with its project next to it: the saved one, or a new one that lives in memory."""
        folder = default_project_path(video)
        if any((folder / n).exists() for n in PROJECT_FILES):
            self._load_project(folder, lambda project: self.ready.emit(project, video))
        else:
            self.ready.emit(Project(folder), video)

    def _load_project(self, folder: Path, then: Callable[[Project], None]) -> None:
        """Open the saved state, offering the autosave when it is newer or the save is damaged, then
        ``then(project)``. Reading and checking the files (tens of MB of RLE for 10,000 frames) runs
        on a ``BackgroundTask``; the questions are asked on the GUI thread between two reads."""
        self._token = token = self._token + 1
        self._read_off_thread(
            lambda: (Project.probe(folder), opened_elsewhere(folder)),
            lambda read: self._probed(folder, read[0], then, token, read[1]),
        )

    def _probed(
        self,
        folder: Path,
        probe: ProjectProbe,
        then: Callable[[Project], None],
        token: int,
        elsewhere: OpenBy | None = None,
    ) -> None:
        if token != self._token:
            return  # something else was opened meanwhile
        if elsewhere is not None:  # another window has it open: two would overwrite each other's autosave
            ans = questions.open_elsewhere(self._window, folder.name, elsewhere)
            if ans == "cancel":
                return
            if ans == "read-only":
                then = _read_only_then(then)
        which = "saved"
        auto = probe.states.get("autosave")
        saved = probe.states.get("saved")
        if probe.autosave_is_newer and saved is not None and saved.ok:
            ans = QMessageBox.question(
                self._window,
                "Recover unsaved work?",
                f"{folder.name} has unsaved work from {readable_time(auto.saved_at)} (autosave), newer "
                "than its last save. Open the autosave? (No opens the last save.)",
                Btn.Yes | Btn.No | Btn.Cancel,
                Btn.Yes,
            )
            if ans == Btn.Cancel:
                return
            which = "autosave" if ans == Btn.Yes else "saved"
        self._open_state(folder, which, then, token, retry=True, probe=probe)

    def _open_state(
        self,
        folder: Path,
        which: str,
        then: Callable[[Project], None],
        token: int,
        retry: bool,
        probe: ProjectProbe | None = None,
    ) -> None:
        def opened(project: Project) -> None:
            if token == self._token:
                # A long project is tens of thousands of long-lived records; each full collection of
                # the cyclic GC walked them all (~250 ms at 10,000 frames x 3 objects) with the GIL
                # held, freezing the window. Records form no cycles: refcounting still frees them.
                gc.freeze()
                then(project)

        def failed(exc: BaseException) -> None:
            if token != self._token:
                return
            if not isinstance(exc, ProjectError):
                self.problem.emit("Cannot open project", f"{folder}: {exc}")
                return
            if not exc.recovery or not retry:
                self.problem.emit("Cannot open project", str(exc))
                return
            alt = exc.recovery[0]
            ans = QMessageBox.question(
                self._window,
                "Project file damaged",
                f"{exc}\n\nOpen the {alt} instead?",
                Btn.Yes | Btn.Cancel,
                Btn.Yes,
            )
            if ans == Btn.Yes:
                self._open_state(folder, alt, then, token, retry=False, probe=probe)

        self._read_off_thread(lambda: Project.open(folder, which, probe), opened, failed)

    def _read_off_thread(
        self,
        fn: Callable[[], Any],
        on_ok: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> BackgroundTask:
        """Run ``fn`` on a ``BackgroundTask`` under a wait cursor; its outcome comes back here."""
        task = BackgroundTask(lambda _p, _c: fn(), "open-project", self)
        self._read_tasks.add(task)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        self.status.emit("Reading the project…", 0)

        def finish() -> None:
            QApplication.restoreOverrideCursor()
            self._read_tasks.discard(task)
            self.status.emit("", 0)

        def ok(result: Any) -> None:
            finish()
            on_ok(result)

        def bad(exc: BaseException) -> None:
            finish()
            if on_error is not None:
                on_error(exc)
            else:
                self.problem.emit("Cannot open project", str(exc))

        task.succeeded.connect(ok)
        task.failed.connect(bad)
        return task.start()

    def _ask_relink(self, project: Project) -> Path | None:
        where = project.video.absolute if project.video else "(none recorded)"
        ans = QMessageBox.question(
            self._window,
            "Video not found",
            f"The video of {project.name} was not found at {where}. It may have been moved or renamed.\n\n"
            "Locate it now?",
            Btn.Yes | Btn.Cancel,
            Btn.Yes,
        )
        if ans != Btn.Yes:
            return None
        path, _ = QFileDialog.getOpenFileName(
            self._window, f"Locate the video of {project.name}", str(project.path.parent)
        )
        return Path(path) if path else None
