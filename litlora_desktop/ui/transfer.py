"""File ▸ Export… and File ▸ Import…: a dialog, a background thread, a progress dialog with Cancel.

``TransferController`` is owned by the main window and kept apart from it because a transfer is a job
with a life of its own (one at a time, cancellable, reported when done) that needs only the session and
the open project; it tells the window what to show through its ``status`` and ``problem`` signals.

Exports read a copy of the store (its records are immutable and shared, so the copy is cheap) and
write through ``core.annotations.formats``, which builds the output in a hidden temporary sibling and renames it
into place only when complete: a cancel or an error leaves nothing behind. An output that is, holds
or lies inside the open project or its video is refused before anything runs. Imports read into a
scratch store off the GUI thread; the session then copies it into the real store as one undo step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from litlora_desktop.core.annotations import formats
from litlora_desktop.core.annotations.formats import import_annotations
from litlora_desktop.core.annotations.snapshot import StoreSnapshot
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.ui.dialogs import notify
from litlora_desktop.workers.background import BackgroundTask

if TYPE_CHECKING:
    from litlora_desktop.core.annotations.project import Project
    from litlora_desktop.ui.session import AnnotationSession

# format -> (label, output is a folder, file suffix), from the one table of formats
EXPORT_FORMATS: dict[str, tuple[str, bool, str]] = {
    f.name: (f.label, f.folder, f.suffix) for f in formats.exporters()
}
IMPORT_FORMATS: dict[str, str] = {f.name: f.import_label or f.name for f in formats.importers()}


class ExportDialog(QDialog):
    """Choose a format and where to write it; the YOLO choice says that it is lossy."""

    def __init__(self, default_base: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self._base = default_base
        self.format_box = QComboBox(self)
        for fmt, (label, _d, _s) in EXPORT_FORMATS.items():
            self.format_box.addItem(label, fmt)
        self.path_edit = QLineEdit(self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setObjectName("exportNote")
        self.overwrite = QCheckBox("Replace the output if it exists", self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Output", row)
        form.addRow(self.note)
        form.addRow(self.overwrite)
        form.addRow(buttons)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.resize(560, self.sizeHint().height())

    @property
    def fmt(self) -> str:
        return str(self.format_box.currentData())

    def set_format(self, fmt: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(fmt))

    def _format_changed(self) -> None:
        suffix = EXPORT_FORMATS[self.fmt][2]
        self.path_edit.setText(str(self._base.with_name(f"{self._base.name}_{self.fmt}{suffix}")))
        self.note.setText(formats.format_named(self.fmt).note)
        self.note.setStyleSheet("color: #e0a040;" if self.fmt == "yolo" else "")

    def _browse(self) -> None:
        if EXPORT_FORMATS[self.fmt][1]:
            path, _ = QFileDialog.getSaveFileName(self, "Export into a new folder", self.path_edit.text())
        else:
            suffix = EXPORT_FORMATS[self.fmt][2]
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), f"*{suffix}")
        if path:
            self.path_edit.setText(path)


def copy_store(snap: StoreSnapshot, num_frames: int | None) -> AnnotationStore:
    """A history-free store holding a snapshot's objects and masks (records are shared, not copied)."""
    out = AnnotationStore(snap.height, snap.width, num_frames, history_limit=0)
    for info in snap.objects:
        out.add_object(info.name, info.color, info.category, obj_id=info.id)
        if info.hidden:
            out.update_object(info.id, hidden=True)
    for oid, recs in snap.masks.items():  # object id -> frame -> record
        for f, rec in recs.items():
            out.set_record(f, oid, rec)
    return out


class TransferController(QObject):
    """Export and import jobs, one at a time (see the module docstring). ``task`` is the one running,
    ``last_export`` and ``last_import`` what the last finished ones reported (tests read them)."""

    status = Signal(str, int)  # a status-bar message and its duration in ms
    problem = Signal(str, str)  # title, text: why a transfer was refused or failed

    def __init__(
        self, session: AnnotationSession, project: Callable[[], Project | None], window: QWidget
    ) -> None:
        super().__init__(window)
        self._session = session
        self._project = project  # the open project, if any: exports never write into it
        self._window = window  # the parent of its dialogs
        self.task: BackgroundTask | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.last_export: Any = None
        self.last_import: Any = None

    # ------------------------------------------------------------------ export
    def _export_base(self) -> Path:
        s, project = self._session, self._project()
        if project is not None:
            return project.path.with_suffix("")
        if s.video_path:
            return Path(s.video_path).with_suffix("")
        return Path.home() / (s.source.name if s.source is not None else "export")

    def export_dialog(self) -> ExportDialog | None:
        if self._session.store is None:
            self.status.emit("Open a video first.", 4000)
            return None
        dlg = ExportDialog(self._export_base(), self._window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(
            lambda: self.start_export(dlg.fmt, Path(dlg.path_edit.text()), dlg.overwrite.isChecked())
        )
        dlg.open()
        return dlg

    def start_export(self, fmt: str, out: Path, overwrite: bool = False) -> BackgroundTask | None:
        """Export in a background thread with a progress dialog; the result is reported when done."""
        s = self._session
        if s.store is None or self._transfer_busy():
            return None
        try:
            formats.check_not_protected(out, formats.protected_paths(self._project(), s.video_path))
            formats.check_output(out, EXPORT_FORMATS[fmt][1], overwrite)
        except formats.ExportError as exc:
            self.problem.emit("Cannot export", str(exc))
            return None
        snap = s.store.snapshot()
        n = s.num_frames or None
        video = s.video_path

        def run(progress: Any, should_cancel: Any) -> formats.ExportResult:
            store = copy_store(snap, n)
            source = None
            if fmt == "overlay":  # its own reader: the session's belongs to the model and frame threads
                if not video:
                    raise formats.ExportError("The overlay video needs the video file.")
                from litlora_desktop.core.video.sources import VideoSource

                source = VideoSource.open(video)
            try:
                kw: dict[str, Any] = {
                    "progress": progress,
                    "should_cancel": should_cancel,
                    "overwrite": overwrite,
                }
                if source is None:
                    kw["num_frames"] = n
                return formats.export(fmt, store, out, source=source, **kw)
            finally:
                if source is not None and hasattr(source, "close"):
                    source.close()

        return self._run_transfer(run, f"Exporting {EXPORT_FORMATS[fmt][0]}…", self._exported, "export")

    def _exported(self, result: formats.ExportResult) -> None:
        self.last_export = result
        text = f"Exported {result.files} file{'s' if result.files != 1 else ''} to {result.path}."
        if result.warnings:
            text += "\n\n" + "\n".join(f"• {w}" for w in result.warnings)
        self.status.emit(f"Exported to {result.path}", 8000)
        notify(self._window, "Export finished", text, warning=bool(result.warnings))

    # ------------------------------------------------------------------ import
    def import_dialog(self) -> None:
        if self._session.store is None:
            self.status.emit("Open a video first: imported masks belong to its frames.", 4000)
            return
        labels = list(IMPORT_FORMATS.values())
        label, ok = QInputDialog.getItem(self._window, "Import annotations", "Format", labels, 0, False)
        if not ok:
            return
        fmt = list(IMPORT_FORMATS)[labels.index(label)]
        start = self._beside_video()
        if formats.format_named(fmt).folder:
            path = QFileDialog.getExistingDirectory(self._window, "Folder of palette PNGs", start)
        else:
            flt = formats.format_named(fmt).import_filter
            path, _ = QFileDialog.getOpenFileName(self._window, "Import annotations", start, flt)
        if path:
            self.start_import(Path(path), fmt)

    def _beside_video(self) -> str:
        """Where the import picker starts: the folder the video (or frame folder) is in, where its
        annotations usually lie; the project's folder's, for a video opened without a path."""
        video = self._session.video_path
        if video:
            return str(Path(video).resolve().parent)
        project = self._project()
        return str(project.path.parent) if project is not None else ""

    def start_import(self, path: Path, fmt: str | None = None) -> BackgroundTask | None:
        """Read annotations off the GUI thread, then add them as one undo step and as mask prompts."""
        s = self._session
        if s.store is None or self._transfer_busy():
            return None
        h, w, n = s.store.height or s.source.height, s.store.width or s.source.width, s.num_frames

        def run(progress: Any, should_cancel: Any) -> tuple[AnnotationStore, Any]:
            scratch = AnnotationStore(h, w, n)
            res = import_annotations(scratch, path, fmt, progress=progress, should_cancel=should_cancel)
            return scratch, res

        label = f"Import {IMPORT_FORMATS.get(fmt or '', path.name)}"
        return self._run_transfer(
            run, f"Importing {path.name}…", lambda r: self._imported(r, label), "import"
        )

    def _imported(self, result: tuple[AnnotationStore, Any], label: str) -> None:
        scratch, res = result
        made = self._session.commit_import(scratch, label)
        self.last_import = res
        text = f"Imported {len(made)} object{'s' if len(made) != 1 else ''}, {res.masks} masks."
        if self._session.model_ready:
            text += " SAM2 uses them as mask prompts on their frames."
        self.status.emit(text + " Ctrl+Z takes the import back.", 10000)
        if res.warnings:
            notify(self._window, "Import finished", text + "\n\n" + "\n".join(f"• {x}" for x in res.warnings))

    # ------------------------------------------------------------------ plumbing
    def _transfer_busy(self) -> bool:
        if self.task is not None:
            self.status.emit("An export or import is already running.", 4000)
            return True
        return False

    def _run_transfer(self, fn: Any, title: str, on_ok: Any, what: str) -> BackgroundTask:
        task = BackgroundTask(fn, what, self)
        dlg = QProgressDialog(title, "Cancel", 0, 0, self._window)
        dlg.setObjectName(f"{what}Progress")
        dlg.setWindowTitle(what.capitalize())
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(300)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.canceled.connect(task.cancel)
        task.progress.connect(lambda done, total: (dlg.setMaximum(max(total, 1)), dlg.setValue(done)))
        task.succeeded.connect(on_ok)
        task.failed.connect(lambda exc: self._transfer_failed(what, exc))
        task.finished.connect(lambda: self._transfer_done(dlg))
        self.task, self.progress_dialog = task, dlg
        return task.start()

    def _transfer_done(self, dlg: QProgressDialog) -> None:
        self.task = None
        self.progress_dialog = None
        dlg.close()
        dlg.deleteLater()

    def _transfer_failed(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, formats.ExportCancelled):
            done = "nothing was written" if what == "export" else "nothing was imported"
            self.status.emit(f"{what.capitalize()} cancelled: {done}.", 8000)
            return
        self.problem.emit(f"{what.capitalize()} failed", str(exc) or exc.__class__.__name__)

    def cancel(self) -> None:
        """Cancel the running export or import (it stops at its next step and writes nothing)."""
        if self.task is not None:
            self.task.cancel()
