"""The autosaver: debounced, bounded delay, retried after an error, fed by a project's changes."""

import threading
import time

from litlora_desktop.core.annotations.autosave import Autosaver
from litlora_desktop.core.annotations.manifest import AUTOSAVE
from litlora_desktop.core.annotations.project import Project
from tests.core.annotations.project_samples import blob, make_project


def test_autosaver_debounces_and_flushes():
    calls = []
    saver = Autosaver(lambda: calls.append(time.monotonic()), delay=0.15, max_delay=5)
    t0 = time.monotonic()
    for _ in range(10):
        saver.notify_changed()
        time.sleep(0.02)
    deadline = time.monotonic() + 3
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 1 and calls[0] - t0 >= 0.15 + 0.18  # after the burst, not during it
    saver.notify_changed()
    saver.flush()  # immediate, in this thread
    assert len(calls) == 2
    saver.stop()
    assert len(calls) == 2  # nothing pending: stop writes nothing
    saver.notify_changed()
    time.sleep(0.3)
    assert len(calls) == 2  # stopped


def test_autosaver_max_delay_and_error_retry():
    calls, errors = [], []
    fail = [True]

    def save():
        calls.append(time.monotonic())
        if fail[0]:
            fail[0] = False
            raise OSError("disk full")

    saver = Autosaver(save, delay=0.2, max_delay=0.3, on_error=errors.append)
    stop = threading.Event()

    def keep_editing():
        while not stop.is_set():
            saver.notify_changed()
            time.sleep(0.02)

    t = threading.Thread(target=keep_editing)
    t.start()
    time.sleep(1.0)
    stop.set()
    t.join()
    saver.stop(flush=False)
    assert len(errors) == 1 and "disk full" in str(errors[0])
    assert len(calls) >= 2  # a save happened during continuous edits, and the failure was retried


def test_autosaver_for_project_writes_autosave_within_seconds(tmp_path, video):
    proj, _ = make_project(tmp_path, video)
    saver = Autosaver.for_project(proj, delay=0.05, max_delay=1)
    proj.store.set_mask(7, 1, blob(9, 9), "user")
    deadline = time.monotonic() + 5
    while not (proj.path / AUTOSAVE).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Project.open(proj.path, "autosave").store.get_record(7, 1) is not None
    proj.update_ui_state(frame=9)  # moving around is remembered too
    deadline = time.monotonic() + 5
    while Project.open(proj.path, "autosave").ui_state.frame != 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    saver.stop()
    assert Project.open(proj.path, "autosave").ui_state.frame == 9
