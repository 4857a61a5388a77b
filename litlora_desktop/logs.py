"""Where the app writes its log, and what happens to errors nobody caught.

A user who reports a problem should be able to send one file: every run appends to a rotating log in
the user's log folder (platformdirs), so the last few sessions are there and the folder stays small.
The module imports no Qt at import time; the Help-menu helper imports it when called.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

APP_NAME = "LIT-LoRA Desktop"
APP_AUTHOR = "LIT-LoRA"
LOG_FILE = "litlora-desktop.log"
CONSOLE_FILE = "console.log"
MAX_BYTES = 2 * 2**20  # per file; with BACKUPS the folder never holds more than ~8 MiB
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)
_handler: logging.Handler | None = None


def log_dir() -> Path:
    """The user's log folder; ``LITLORA_LOG_DIR`` overrides it (tests, portable installs)."""
    override = os.environ.get("LITLORA_LOG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir(APP_NAME, APP_AUTHOR))


def log_file() -> Path:
    return log_dir() / LOG_FILE


def fallback_streams(folder: Path | None = None) -> None:
    """Give a windowed (frozen) build a stdout/stderr: they are None there, and tqdm or print crash.

    The replacement is a file in the log folder, so a self-test run from a windowed build still leaves
    its report somewhere; if that folder cannot be written, the output goes nowhere.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return
    stream: TextIO
    try:
        folder = folder or log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stream = open(folder / CONSOLE_FILE, "a", encoding="utf-8", buffering=1)
    except OSError:
        stream = open(os.devnull, "w")
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def setup_logging(level: int = logging.INFO, console: bool = True) -> Path | None:
    """Log to a rotating file in the user's log folder (and to stderr); returns the file, or None.

    Safe to call twice (the second call changes nothing). A log folder that cannot be created is not
    fatal: the app runs with console logging only and says so.
    """
    global _handler
    fallback_streams()
    root = logging.getLogger()
    root.setLevel(level)
    if _handler is not None:
        return Path(_handler.baseFilename) if isinstance(_handler, logging.FileHandler) else None
    fmt = logging.Formatter(FORMAT)
    if console and not any(type(h) is logging.StreamHandler for h in root.handlers):
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(fmt)
        sh.setLevel(level)
        root.addHandler(sh)
    path: Path | None = log_file()
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("no log file (%s); logging to the console only", exc)
        return None
    fh.setFormatter(fmt)
    fh.setLevel(logging.DEBUG)
    root.addHandler(fh)
    _handler = fh
    _install_thread_hook()
    log.info("%s log started (pid %d, python %s)", APP_NAME, os.getpid(), sys.version.split()[0])
    return path


def _install_thread_hook() -> None:
    """Exceptions that end a plain Python thread go to the log, not only to a stderr nobody reads."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit:
            log.error(
                "uncaught exception in thread %s",
                getattr(args.thread, "name", "?"),
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
            )
        previous(args)

    threading.excepthook = hook


def autosave_first(owner: Any) -> str | None:
    """Put the open project's unsaved work on disk before an error is reported.

    Returns the project's name when its work is on disk afterwards (just autosaved, or nothing was
    unsaved), None when no project is open or the write failed. Finds the project the way the GUI
    holds it (``owner.project``, or ``owner.session.project``: anything with ``write_autosave``). A
    failure is logged and swallowed: the error report must still appear.
    """
    for holder in (owner, getattr(owner, "session", None)):
        project = getattr(holder, "project", None) if holder is not None else None
        writer = getattr(project, "write_autosave", None)
        if callable(writer):
            name = str(getattr(project, "name", "project"))
            try:
                wrote = writer()  # skips the write when the saved or autosaved state is current
            except Exception:
                log.exception("autosave before the error report failed")
                return None
            log.info(
                "before reporting an error: %s %s", name, "autosaved" if wrote else "had nothing unsaved"
            )
            return name
    return None


def log_exception(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Put an uncaught exception in the log with its traceback."""
    log.error("uncaught exception", exc_info=(kind, exc, tb))


def open_log_folder() -> bool:
    """Show the log folder in the system's file manager (Help ▸ Open log folder)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))


def add_help_actions(window: Any) -> Any:
    """Add Help ▸ "Open log folder" to a main window's menu bar; returns the QAction.

    Kept here rather than in the window so the menu entry ships with the log code it opens.
    """
    from PySide6.QtGui import QAction

    menu = None
    for act in window.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == "Help":
            menu = act.menu()
            break
    if menu is None:
        menu = window.menuBar().addMenu("&Help")
    action = QAction("Open log folder", window)
    action.setObjectName("help.open_log_folder")
    action.setToolTip(f"Show the folder with the app's log files ({log_dir()})")
    action.triggered.connect(open_log_folder)
    menu.addSeparator()
    menu.addAction(action)
    return action
