"""The main window's project lifecycle: open, resume, save, save as, autosave, relink, close.

``ProjectController`` is owned by ``MainWindow`` and kept apart from it because the project has a
lifecycle of its own (pending, open, detached, saving, autosaving, closing) that the window only shows:
it is handed the session and the canvas, asks its questions in dialogs over the window, and tells the
window what to show through signals (title, status message, problem) and when to close.

The project (``core.annotations.project.Project``) owns the same ``AnnotationStore``
the session annotates into. Opening a video looks for ``<video>.litlora/`` next to it and opens it;
without one, a new project lives in memory at that path and nothing is written until the first
change, when the autosaver writes ``autosave.json`` there (so even never-saved work survives a
crash, and is offered back on the next open); Save writes ``project.json``.

Nothing here writes on the GUI thread except on quitting: LIT-LoRA adapters are saved by the model
thread (it owns them), then the store by a ``BackgroundTask``; the autosaver has its own thread.
Nothing reads a project on the GUI thread either: that is ``ProjectOpener`` (``project_open``).

A project whose video no longer fits its masks (another resolution) opens *read-only*: the video
gets new, empty annotations in a detached project that is never written into the project's folder
(no autosave, no save, no backup rotation, no garbage collection there). Save asks for another
folder; once saved there, the work lives there like any project.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from litlora_desktop.core.annotations.autosave import Autosaver
from litlora_desktop.core.annotations.manifest import (
    ADAPTERS_DIR,
    DATA_DIR,
    MANIFEST,
    PROJECT_SUFFIX,
    ProjectError,
    UIState,
)
from litlora_desktop.core.annotations.open_marker import OpenMark
from litlora_desktop.core.annotations.project import Project, ProjectChangedOnDisk, default_project_path
from litlora_desktop.core.annotations.video_identity import FingerprintResult, check_video
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui import project_questions as questions
from litlora_desktop.ui.project_open import ProjectOpener, project_folder
from litlora_desktop.workers.background import BackgroundTask

if TYPE_CHECKING:
    from litlora_desktop.ui.canvas import Canvas
    from litlora_desktop.ui.session import AnnotationSession

Btn = QMessageBox.StandardButton


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (symlinks and relative paths resolved)."""
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


class ProjectController(QObject):
    """The open project and its autosaver, for the window that owns it (see the module docstring).

    ``project`` is the open project (None: none, or a clip opened without a file); ``autosaver`` its
    autosaver while one runs; ``close_ok`` lets the next close skip the unsaved-work question (set
    after the save that closing waited for; tests set it too).
    """

    title_changed = Signal(str)  # the window's title: the project, a ``*`` when unsaved, the video
    status = Signal(str, int)  # a status-bar message and its duration in ms (0: until replaced; "" clears)
    autosave_status = Signal(str)  # the status bar's own autosave field (never the message a user reads)
    problem = Signal(str, str)  # title, text: something the user must read
    close_requested = Signal()  # the save that closing waited for is done: close the window now
    _autosaved = Signal()  # the autosaver's callbacks come from its own thread: these carry them here
    _autosave_failed = Signal(str)

    def __init__(self, session: AnnotationSession, canvas: Canvas, window: QWidget) -> None:
        super().__init__(window)
        self._session = session
        self._canvas = canvas
        self._window = window  # the parent of its dialogs
        self.project: Project | None = None
        self.autosaver: Autosaver | None = None
        self.close_ok = False
        self._pending_project: Project | None = None
        self._pending_view: tuple[float, tuple[float, float] | None] | None = None
        self._open_revision = 0
        self._save_task: BackgroundTask | None = None
        self._mark = (
            OpenMark()
        )  # "this window has it open", in the project's folder (core/annotations/open_marker)
        self._opener = ProjectOpener(window, self)
        self._opener.ready.connect(self._start)
        self._opener.status.connect(self.status)
        self._opener.problem.connect(self.problem)
        self._autosaved.connect(self._on_autosaved)
        self._autosave_failed.connect(self._on_autosave_failed)
        s = self._session
        s.engine.video_failed.connect(self._project_open_failed)
        s.history_changed.connect(self._refresh_title)
        s.image_changed.connect(self._apply_pending_view)
        s.frame_changed.connect(lambda f: self._remember(frame=int(f)))
        s.selection_changed.connect(lambda oid: self._remember(object_id=int(oid) or None))
        canvas.view_changed.connect(self._remember_view)

    def _mark_open(self) -> None:
        """Mark the open project's folder as this window's (once it exists; never a read-only one's)."""
        p = self.project
        self._mark.set(p.path if p is not None and not p.read_only and p.path.is_dir() else None)

    def _on_autosaved(self) -> None:
        """In its own field: an autosave every few seconds must not wipe a pause reason or an undo text."""
        self._mark_open()  # a new project's folder appears with its first autosave
        now = datetime.datetime.now()
        self.autosave_status.emit(f"Autosaved {now.hour:02d}:{now.minute:02d}")

    def _on_autosave_failed(self, msg: str) -> None:
        self.autosave_status.emit("Autosave failed")
        self.status.emit(f"Autosave failed: {msg} (will retry)", 10000)  # this one the user must read

    # ================================================================== state
    def needs_save(self) -> bool:
        """True when closing now would lose work (the title shows a ``*``)."""
        p, store = self.project, self._session.store
        if store is None:
            return False
        if p is None:  # a clip opened without a file (embedding, tests): nothing to save it to
            return False
        if p.read_only or (p.loaded_from == "new" and not (p.path / MANIFEST).exists()):
            return store.content_version != self._open_revision  # nothing of it is on disk yet
        return p.is_dirty

    def _refresh_title(self) -> None:
        s = self._session
        video = s.video_path or (s.source.name if s.source is not None else None)
        self.title_changed.emit(questions.window_title(self.project, video, self.needs_save()))

    def _remember(self, **changes: Any) -> None:
        # the view is not an edit: it is written with the next save or autosave, not marked dirty
        if self.project is not None:
            for k, v in changes.items():
                setattr(self.project.ui_state, k, v)

    def _remember_view(self) -> None:
        if self._pending_view is None:
            zoom, center = self._canvas.view_state()
            self._remember(zoom=float(zoom), center=center)

    def _apply_pending_view(self, *_: Any) -> None:
        if self._pending_view is not None:
            view, self._pending_view = self._pending_view, None
            self._canvas.set_view(*view)

    # ================================================================== opening
    def open_any(self, path: str) -> None:
        """Open a video, a frame folder or a project (asks first when there is unsaved work)."""
        folder = project_folder(path)
        if folder is not None:
            self.ask_unsaved_then(lambda: self.open_project(folder))
        else:
            self.ask_unsaved_then(lambda: self._opener.open_video(Path(path)))

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Open project folder (*.litlora)")
        if folder:
            self.open_any(folder)

    def open_project(self, folder: Path) -> None:
        """Open a project and its video (no question about unsaved work: ``open_any`` asks that)."""
        self._opener.open_project(folder)

    def _start(self, project: Project, video: Path) -> None:
        self._pending_project = project
        adapters = project.path / ADAPTERS_DIR
        self._session.open_video_with_store(str(video), project.store, adapters)

    def _project_open_failed(self, *_: Any) -> None:
        self._pending_project = None  # the session drops the store it was handed

    def video_opened(self, source: FrameSource) -> None:
        """The session opened a video: the pending project (if any) becomes the open one."""
        project, self._pending_project = self._pending_project, None
        self._stop_autosaver()
        self.project = project
        store = self._session.store
        self._open_revision = store.content_version if store is not None else 0
        if project is not None and (project.store is not store or self._session.store_mismatch is not None):
            project = self.project = self._detached(project, store)
        self._mark_open()  # after detaching: a read-only project's folder is never written, not even this
        if project is None:
            self._refresh_title()
            return
        path = self._session.video_path
        self._session.engine.call(
            check_video,
            project,
            source,
            path,
            label="check video",
            on_result=lambda res: self._video_checked(project, path, res),
            on_error=lambda exc: self._video_checked(project, path, None),
        )
        if project.loaded_from != "new":
            # a copy: the session's "frame 0, nothing selected" signals of a new video come first
            ui = dataclasses.replace(project.ui_state)
            self._pending_view = (ui.zoom, ui.center)
            QTimer.singleShot(0, lambda: self._resume(project, ui))
        self._refresh_title()

    def _detached(self, project: Project, store: Any) -> Project:
        """The video does not fit ``project``: the user's project stays untouched, read-only; the video
        gets new, empty annotations in a project that can only be saved into another folder."""
        why = self._session.store_mismatch or "The project's masks do not fit this video."
        self.problem.emit("Video does not fit the project", questions.opened_read_only(why, project.path))
        return Project(project.path, store, read_only=True)

    def _resume(self, project: Project, ui: UIState) -> None:
        if project is not self.project:
            return
        s = self._session
        if ui.object_id and s.store is not None and ui.object_id in {o.id for o in s.store.objects}:
            s.select(ui.object_id)
        s.go_to(ui.frame)
        if s.image is not None and s.image[0] == s.current:
            self._apply_pending_view()
        self.status.emit(questions.opened(project), 8000)
        self._report_skipped_records(project)

    def _report_skipped_records(self, project: Project) -> None:
        """Damaged records the store skipped while opening: one message, not one per record."""
        if project.load_warnings:
            self.problem.emit("Damaged records skipped", questions.skipped_records(project))

    def _video_checked(self, project: Project, path: str | None, res: FingerprintResult | None) -> None:
        if project is not self.project:
            return
        if res is not None and res.status == "changed":
            self.problem.emit(
                "The video has changed",
                res.message + "\n\nThe masks may no longer fit its frames. Check them before exporting.",
            )
        elif path is not None and (
            project.video is None
            or project.video.fingerprint is None
            or (res is not None and res.status == "moved")
        ):
            project.set_video(path)  # record (or relink) it; the fingerprint was just computed
            if res is not None and project.video is not None:
                project.video.fingerprint = res.actual
            if res is not None and res.status == "moved":
                self.status.emit(f"{res.message} The project now points there.", 8000)
        if project.read_only:  # its folder is never written: no autosave until it is saved elsewhere
            self._refresh_title()
            return
        self.autosaver = Autosaver.for_project(
            project,
            delay=2.0,
            max_delay=10.0,
            on_saved=self._autosaved.emit,
            on_error=lambda exc: self._autosave_failed.emit(str(exc)),
        )
        if self._session.store is not None and self._session.store.content_version != self._open_revision:
            self.autosaver.notify_changed()
        self._refresh_title()

    def _stop_autosaver(self, flush: bool = True) -> None:
        if self.autosaver is not None:
            saver, self.autosaver = self.autosaver, None
            saver.stop(flush=flush)

    # ================================================================== saving
    def save_project(
        self, then: Callable[[], None] | None = None, replacing: tuple[Any, ...] | None = None
    ) -> None:
        """Ctrl+S: adapters (model thread), then the store (background thread). A project another
        program saved since this window read it is replaced only after asking: ``replacing`` is the
        save the user agreed to replace (``ProjectChangedOnDisk.found``), and only that one."""
        if self.project is None or self.project.read_only:  # read-only: ask for another folder
            self.save_project_as(then)
            return
        project = self.project
        self._write(
            project,
            lambda: project.save(replace_changed=replacing or False),
            then,
            check=lambda: project.check_unchanged_on_disk(replacing),
        )

    def save_project_as(self, then: Callable[[], None] | None = None, leave_folder: bool = False) -> None:
        """Save As…; ``leave_folder``: the project's own folder holds another's save now, and nothing
        is written into it or copied from it (the dialog starts beside it)."""
        s = self._session
        if s.store is None:
            return
        p = self.project
        if p is not None and p.read_only:  # suggest a sibling: its own folder is refused
            start = str(p.path.with_name(f"{p.name}-{s.store.width}x{s.store.height}{PROJECT_SUFFIX}"))
        elif p is not None and leave_folder:
            start = str(questions.free_sibling(p.path))
        elif p is not None:
            start = str(p.path)
        else:
            start = str(default_project_path(s.video_path or Path.home() / "untitled"))
        target = questions.project_path_to_save(self._window, start)
        if target is not None:
            self.save_to(target, then, leave_folder)

    def save_to(
        self, target: Path, then: Callable[[], None] | None = None, leave_folder: bool = False
    ) -> None:
        """Save As without the file dialog (asks before replacing another project)."""
        p = self.project
        if p is not None and (p.read_only or leave_folder) and _inside(target, p.path):
            why = (
                "is open read-only (this video does not fit it) and is never written to"
                if p.read_only
                else "holds the save another program or window made, which you chose to keep"
            )
            self.problem.emit("Choose another folder", f"{p.path} {why}. Save this work into another folder.")
            return
        if p is not None and target.resolve() == p.path.resolve():
            self.save_project(then)  # its own folder: a save, with its check
            return
        overwrite = False
        if (target / MANIFEST).exists():
            if not questions.replace_project(self._window, target):
                return
            overwrite = True
        project = p
        if project is None:  # a clip opened without a file (embedding, tests): it gets a project now
            project = Project(target, self._session.store)
            if self._session.video_path:
                project.set_video(self._session.video_path)
            self.project = project
        # this work's adapters go straight to the new folder: written into the old one first, they
        # could replace another's there; the old folder's others follow (not from a folder left)
        self._write(
            project,
            lambda: project.save_as(target, overwrite=overwrite, copy_adapters=not leave_folder),
            then,
            target / ADAPTERS_DIR,
        )

    def _write(
        self,
        project: Project,
        write: Callable[[], None],
        then: Callable[[], None] | None,
        adapters: Path | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        """``check`` runs first, on the model thread, before anything (adapters included) is written."""
        if self._save_task is not None:
            self.status.emit("Already saving…", 3000)
            return
        self._remember_view()
        self.status.emit(f"Saving {project.name}…", 0)
        adapters = adapters or project.path / ADAPTERS_DIR

        def run(_progress: Any, _cancel: Any) -> None:
            write()

        def failed(exc: BaseException, what: str) -> None:
            if isinstance(exc, ProjectChangedOnDisk):
                QTimer.singleShot(0, lambda: self._changed_on_disk(exc, then))  # not inside the signal
            else:
                self.problem.emit(
                    what, f"{exc}\n\nYour work is still open; try File ▸ Save project as… somewhere else."
                )

        def write_adapters() -> ProjectChangedOnDisk | None:
            """On the model thread; the refusal is returned, not raised: it is a question for the
            user, not a failure for the log."""
            if check is not None:
                try:
                    check()
                except ProjectChangedOnDisk as exc:
                    return exc
            self._session.save_adapters(adapters)
            return None

        def adapters_written(refused: ProjectChangedOnDisk | None) -> None:
            if refused is None:
                task.start()
            else:
                ended()
                failed(refused, "")

        def ended() -> None:  # before what follows the save: a Ctrl+S right after is no "Already saving…"
            if self._save_task is task:
                self._save_task = None

        task = BackgroundTask(run, "save", self)
        task.succeeded.connect(lambda _r: (ended(), self._saved(project, then)))
        task.failed.connect(lambda exc: (ended(), failed(exc, "Cannot save the project")))
        task.finished.connect(ended)
        self._save_task = task
        # the model thread owns the adapters: it writes them, then the store is written off-thread
        self._session.engine.call(
            write_adapters,
            label="save adapters",
            on_result=adapters_written,
            on_error=lambda exc: (ended(), failed(exc, "Cannot save the LIT-LoRA adapters")),
        )

    def _changed_on_disk(self, exc: ProjectChangedOnDisk, then: Callable[[], None] | None) -> None:
        """Another program saved the project since this window read it: replace that save, keep it
        and save this work as another project, or do nothing."""
        self.status.emit("Not saved: the project changed on disk.", 5000)
        ans = questions.replace_changed_project(self._window, str(exc))
        if ans == "replace":
            self.save_project(then, replacing=exc.found)
        elif ans == "save as":
            self.save_project_as(then, leave_folder=True)

    def _saved(self, project: Project, then: Callable[[], None] | None) -> None:
        self._session.adapters_folder = project.path / ADAPTERS_DIR
        self._mark_open()
        self.status.emit(f"Saved {project.path}", 5000)
        if self.autosaver is None and project is self.project and not project.read_only:
            self.autosaver = Autosaver.for_project(
                project, on_saved=self._autosaved.emit, on_error=lambda e: self._autosave_failed.emit(str(e))
            )
        self._refresh_title()
        if then is not None:
            then()

    # ================================================================== unsaved work
    def _ask_save(self, when: str) -> QMessageBox.StandardButton:
        name = self.project.name if self.project is not None else "this video's annotations"
        return questions.save_changes(self._window, name, when)

    def ask_unsaved_then(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or after Save / Discard when there is unsaved work; not on Cancel."""
        if not self.needs_save():
            action()
            return
        ans = self._ask_save("")
        if ans == Btn.Save:
            self.save_project(then=action)
        elif ans == Btn.Discard:
            self.discard()
            action()

    def discard(self) -> None:
        """Forget the unsaved work: no autosave of it is offered next time."""
        self._stop_autosaver(flush=False)
        self._mark.set(None)
        p = self.project
        if p is None:
            return
        if p.read_only:  # its folder holds the user's project, autosave included: leave it alone
            self._open_revision = (
                self._session.store.content_version if self._session.store is not None else 0
            )
            self.project = None
            return
        p.discard_autosave()
        if not (p.path / MANIFEST).exists():  # a project that was never saved leaves nothing behind
            for sub in (DATA_DIR, ADAPTERS_DIR, ""):
                with contextlib.suppress(OSError):
                    (p.path / sub).rmdir()
        self._open_revision = self._session.store.content_version if self._session.store is not None else 0
        self.project = None

    def confirm_close(self) -> bool:
        """From the window's ``closeEvent``: True to close now; False when closing waits on the user or
        a save (``close_requested`` follows that save)."""
        if self.close_ok or not self.needs_save():
            self._finish_project()
            return True
        ans = self._ask_save(" before closing")
        if ans == Btn.Cancel:
            return False
        if ans == Btn.Discard:
            self.discard()
            return True
        self.save_project(then=self._close_after_save)
        return False

    def _close_after_save(self) -> None:
        self.close_ok = True
        self.close_requested.emit()

    def _finish_project(self) -> None:
        """Quitting with nothing unsaved: keep where the user was (frame, object, zoom) in the save."""
        self._stop_autosaver(flush=False)
        self._mark.set(None)
        p = self.project
        if p is not None and not p.read_only and (p.path / MANIFEST).exists() and not p.is_dirty:
            with contextlib.suppress(ProjectError, OSError):
                p.save(rotate_backup=False)  # not asked for by the user: the backup stays as it was
