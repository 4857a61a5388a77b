"""Application start-up: the QApplication, its look, the crash dialog, and the first video and model."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from litlora_desktop.logs import add_help_actions, autosave_first, log_file, setup_logging
from litlora_desktop.ui.main_window import MainWindow
from litlora_desktop.ui.qt_check import qt_binding_problem
from litlora_desktop.ui.settings import AppSettings

log = logging.getLogger(__name__)

ORG = "LIT-LoRA"
APP = "LIT-LoRA Desktop"


def sample_video_path() -> Path:
    """Where the bundled sample video lives (made on first use); a user folder if the install is read-only."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    path = base / "resources" / "sample" / "sample.mp4"
    if path.is_file() or os.access(path.parent if path.parent.exists() else base, os.W_OK):
        return path
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP, ORG)) / "sample.mp4"


def dark_palette() -> QPalette:
    """A calm dark palette: annotators look at video all day, and masks read better on dark chrome."""
    p = QPalette()
    base, alt, text = QColor(37, 38, 43), QColor(45, 47, 53), QColor(224, 226, 231)
    p.setColor(QPalette.ColorRole.Window, base)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, QColor(30, 31, 35))
    p.setColor(QPalette.ColorRole.AlternateBase, alt)
    p.setColor(QPalette.ColorRole.ToolTipBase, alt)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, alt)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor(74, 124, 214))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, QColor(110, 160, 240))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(130, 132, 140))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(115, 117, 125))
    return p


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt), named so QSettings find their file."""
    QCoreApplication.setOrganizationName(ORG)
    QCoreApplication.setApplicationName(APP)
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    return app  # type: ignore[return-value]


def ensure_streams() -> None:
    """A windowed (frozen) build has no stderr; libraries that print (tqdm) then crash. Give them one."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")


def install_excepthook(window: MainWindow) -> None:
    """Uncaught exceptions in slots become a dialog (with details) instead of killing the app."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        log.error("uncaught exception:\n%s", details)
        saved = autosave_first(window)  # first, in case showing the dialog fails too
        try:
            box = QMessageBox(
                QMessageBox.Icon.Critical,
                "Unexpected error",
                f"Something went wrong: {exc}\n\nYour annotations are still in memory; the app keeps running."
                + (f" Project '{saved}': everything is saved (autosave)." if saved else "")
                + f"\n\nDetails are in the log ({log_file()}; Help > Open log folder).",
                QMessageBox.StandardButton.Ok,
                window,
            )
            box.setDetailedText(details)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            window.problems.append(("Unexpected error", str(exc)))
        except Exception:  # the dialog itself must not recurse into the hook
            sys.__excepthook__(kind, exc, tb)

    sys.excepthook = hook


def create_window(
    video: str | None = None,
    model: str | None = None,
    device: str | None = None,
    settings: AppSettings | None = None,
) -> MainWindow:
    """The main window with its first video (or the sample) and model loading in the background."""
    settings = settings or AppSettings()
    window = MainWindow(settings)
    if model:
        settings.set("model/source", model)
    if device:
        settings.set("model/device", device)
    spec = str(settings.get("model/source"))
    dev = str(settings.get("model/device"))
    if video:
        window.open_path(video)
    else:
        sample = sample_video_path()

        def make_sample() -> str:
            from litlora_desktop.core.scenes.sample import ensure_sample_video

            return str(ensure_sample_video(sample))

        window.session.engine.call(
            make_sample,
            label="sample video",
            on_result=window.open_path,
            on_error=lambda exc: window.show_problem(
                "Sample video", f"The sample video could not be created: {exc}"
            ),
        )
    window.load_model(spec, None if dev == "auto" else dev)
    return window


def run(video: str | None = None, model: str | None = None, device: str | None = None) -> int:
    """Start the desktop app and block until its window closes; returns the exit code."""
    setup_logging()  # rotating file in the user's log folder; gives a windowed build stdout/stderr
    ensure_streams()
    app = make_application()
    problem = qt_binding_problem()
    if problem:  # it would abort mid-session: say so now, before any work exists to lose
        log.error(problem)
        QMessageBox.critical(None, "LIT-LoRA Desktop cannot start", problem)
        return 3
    window = create_window(video, model, device)
    install_excepthook(window)
    add_help_actions(window)
    window.show()
    return app.exec()
