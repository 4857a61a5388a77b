"""Loading a SAM2 model for the window: the download's progress dialog with Cancel, and what the user
is told when it is done (ready, a stand-in loaded instead, running on the CPU).

``ModelController`` is owned by ``MainWindow`` and kept apart from it because a load is a background
job with state of its own (the job, its dialog) and several outcomes to report; the loading itself is
the session's, on the model thread. It tells the window what to show through ``status`` and ``problem``.

While a model loads (at start-up: PyTorch is imported first, seconds from source), a busy bar in the
status bar and a message say so: the window is shown at once and works meanwhile.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QProgressBar, QWidget

from litlora_desktop.ui.dialogs import DownloadDialog
from litlora_desktop.ui.notice import NoticeBanner
from litlora_desktop.ui.settings import AppSettings

if TYPE_CHECKING:
    from litlora_desktop.core.sam2.models import LoadedModel
    from litlora_desktop.ui.session import AnnotationSession

CPU_ADVICE = "\n\nTracking and training will be slow. Check the GPU driver, or pick another device in Settings ▸ Model."


class ModelController(QObject):
    """Model loads and their download dialog; ``download_dialog`` is the open one, if any."""

    status = Signal(str, int)  # a status-bar message and its duration in ms
    problem = Signal(str, str)  # title, text: something the user must read

    def __init__(
        self, session: AnnotationSession, settings: AppSettings, notice: NoticeBanner, window: QWidget
    ) -> None:
        super().__init__(window)
        self._session = session
        self._settings = settings
        self._notice = notice
        self._window = window  # the parent of the download dialog
        self.download_dialog: DownloadDialog | None = None
        self._load_job: Any = None
        self.loading_bar = QProgressBar(window)
        self.loading_bar.setObjectName("modelLoadingBar")
        self.loading_bar.setRange(0, 0)  # busy: a load has no known length until it downloads
        self.loading_bar.setFixedWidth(110)
        self.loading_bar.setMaximumHeight(14)
        self.loading_bar.setTextVisible(False)
        self.loading_bar.hide()
        if isinstance(window, QMainWindow):
            window.statusBar().insertPermanentWidget(0, self.loading_bar)
        session.engine.model_loading.connect(self._on_loading)
        session.engine.download_progress.connect(self._on_download)
        session.model_changed.connect(self._on_model)

    def load(self, spec: str, device: str | None = None) -> None:
        """Load a model in the background; a progress dialog appears if it downloads."""
        self._load_job = self._session.load_model(spec, None if device in (None, "auto") else device)

    def _on_loading(self, spec: str) -> None:
        self.loading_bar.setToolTip(f"Loading the SAM2 model {spec}")
        self.loading_bar.show()
        first = "" if "torch" in sys.modules else "starting PyTorch, then "
        self.status.emit(f"Loading SAM2 ({spec}): {first}the model. The window works meanwhile.", 0)

    def _on_download(self, done: int, total: int) -> None:
        if self.download_dialog is None:
            self.download_dialog = DownloadDialog(self._window, str(self._settings.get("model/source")))
            self.download_dialog.canceled.connect(self._cancel_download)
            self.download_dialog.show()
        self.download_dialog.progress(done, total)

    def _cancel_download(self) -> None:
        if self._load_job is not None:
            self._load_job.cancel()
        self._close_download()

    def _close_download(self) -> None:
        if self.download_dialog is not None:
            dlg, self.download_dialog = self.download_dialog, None
            dlg.close()
            dlg.deleteLater()

    def _on_model(self, loaded: LoadedModel | None) -> None:
        self._close_download()
        if not self.loading_bar.isHidden():
            self.loading_bar.hide()
            if loaded is None:
                self.status.emit("", 0)  # the load failed: what follows (a dialog, a message) says why
        if loaded is not None and loaded.fallback_note:  # a stand-in: keep the user's choice for next time
            self._notice.show_notice(loaded.fallback_note)
        elif loaded is not None:
            self._notice.hide()
            self._settings.set("model/source", loaded.source)
            if loaded.device.fell_back:
                self.problem.emit("Running on the CPU", loaded.device.message + CPU_ADVICE)
            self.status.emit(f"Model {loaded.name} ready. {loaded.device.message}.", 8000)
