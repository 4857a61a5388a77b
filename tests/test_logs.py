"""Log file set-up, fallback streams of a windowed build, and autosave before an error report."""

from __future__ import annotations

import io
import logging
import logging.handlers
import sys
import threading

import pytest

from litlora_desktop import logs


@pytest.fixture
def fresh_logging(tmp_path, monkeypatch):
    """A clean slate: the module's handler forgotten, root handlers and hooks restored afterwards."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    monkeypatch.setattr(logs, "_handler", None)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setenv("LITLORA_LOG_DIR", str(tmp_path / "logs"))
    yield tmp_path / "logs"
    for h in list(root.handlers):
        if h not in before:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_log_dir_is_the_platform_user_log_dir(monkeypatch):
    from platformdirs import user_log_dir

    monkeypatch.delenv("LITLORA_LOG_DIR", raising=False)
    assert str(logs.log_dir()) == user_log_dir("LIT-LoRA Desktop", "LIT-LoRA")


def test_setup_writes_a_rotating_log_file_once(fresh_logging):
    path = logs.setup_logging()
    assert path == fresh_logging / logs.LOG_FILE
    assert logs.setup_logging() == path  # idempotent: no second handler
    handlers = [
        h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler)
    ]
    assert len(handlers) == 1
    assert handlers[0].maxBytes == logs.MAX_BYTES and handlers[0].backupCount == logs.BACKUPS
    logging.getLogger("litlora_desktop.test").warning("hello from the test")
    handlers[0].flush()
    text = path.read_text(encoding="utf-8")
    assert "log started" in text and "hello from the test" in text


def test_log_rotates_instead_of_growing(fresh_logging, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2000)
    path = logs.setup_logging()
    lg = logging.getLogger("litlora_desktop.rotate")
    for i in range(200):
        lg.info("line %d %s", i, "x" * 50)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == [logs.LOG_FILE] + [f"{logs.LOG_FILE}.{i}" for i in range(1, logs.BACKUPS + 1)]
    assert all(p.stat().st_size <= 2200 for p in path.parent.iterdir())


def test_unwritable_log_dir_is_not_fatal(fresh_logging, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LITLORA_LOG_DIR", str(blocker / "logs"))
    assert logs.setup_logging() is None


def test_thread_exceptions_reach_the_log(fresh_logging, monkeypatch):
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # what the hook chains to
    path = logs.setup_logging()

    def boom() -> None:
        raise RuntimeError("thread went wrong")

    t = threading.Thread(target=boom, name="worker-x")
    t.start()
    t.join()
    for h in logging.getLogger().handlers:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "uncaught exception in thread worker-x" in text and "RuntimeError: thread went wrong" in text


def test_windowed_build_gets_streams_in_the_log_folder(tmp_path, monkeypatch):
    """PyInstaller windowed builds start with sys.stdout/stderr = None; print and tqdm must still work."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    logs.fallback_streams(tmp_path)
    assert sys.stdout is not None and sys.stderr is not None
    print("report line")
    sys.stderr.write("progress bar\n")
    sys.stdout.close()  # one file serves both
    text = (tmp_path / logs.CONSOLE_FILE).read_text(encoding="utf-8")
    assert "report line" in text and "progress bar" in text


def test_fallback_streams_leave_real_streams_alone(tmp_path, monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    logs.fallback_streams(tmp_path)
    assert sys.stdout is out and sys.stderr is err
    assert not (tmp_path / logs.CONSOLE_FILE).exists()


class _Project:
    name = "clip"

    def __init__(self, fail: bool = False, dirty: bool = True) -> None:
        self.calls = 0
        self.fail, self.dirty = fail, dirty

    def write_autosave(self, force: bool = False) -> bool:
        self.calls += 1
        if self.fail:
            raise OSError("disk full")
        return self.dirty


class _Holder:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def test_autosave_first_finds_the_project_on_the_window_or_its_session():
    p = _Project()
    assert logs.autosave_first(_Holder(project=p)) == "clip" and p.calls == 1
    q = _Project(dirty=False)  # nothing unsaved: the work is on disk all the same
    assert logs.autosave_first(_Holder(session=_Holder(project=q))) == "clip" and q.calls == 1
    assert logs.autosave_first(_Holder(session=_Holder(project=None))) is None  # nothing open: a no-op


def test_autosave_failure_does_not_stop_the_report(caplog):
    p = _Project(fail=True)
    with caplog.at_level(logging.ERROR):
        assert logs.autosave_first(_Holder(project=p)) is None
    assert p.calls == 1 and "autosave before the error report failed" in caplog.text


def test_autosave_first_writes_a_real_projects_unsaved_work(tmp_path):
    """With the core Project: an unsaved mask is in the autosave after the error hook ran."""
    import numpy as np

    from litlora_desktop.core.annotations.project import Project
    from litlora_desktop.core.annotations.store import AnnotationStore

    store = AnnotationStore()
    store.height, store.width, store.num_frames = 20, 30, 5
    proj = Project(tmp_path / "p", store)
    obj = proj.store.add_object("ball")
    proj.save()
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:15] = True
    proj.store.set_mask(2, obj.id, mask, "user")
    assert logs.autosave_first(_Holder(project=proj)) == proj.name
    assert Project.probe(proj.path).autosave_is_newer
    assert Project.open(proj.path, "autosave").store.mask_count() == 1
    assert Project.open(proj.path).store.mask_count() == 0
