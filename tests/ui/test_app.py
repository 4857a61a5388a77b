"""Start-up, model loading, device check, drag and drop, recent files, persistence, the command line."""

from __future__ import annotations

import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from litlora_desktop import cli
from litlora_desktop.ui.dialogs import DownloadDialog
from litlora_desktop.ui.main_window import MainWindow
from litlora_desktop.ui.settings import AppSettings
from tests.model_fixtures import moving_squares

pytestmark = pytest.mark.gui


def frame_folder(path, n=6):
    path.mkdir()
    for k, f in enumerate(moving_squares(num_frames=n, height=48, width=80)):
        cv2.imwrite(str(path / f"{k:03d}.png"), f[:, :, ::-1])
    return path


def plain_window(qtbot) -> MainWindow:
    w = MainWindow(AppSettings())
    qtbot.addWidget(w)
    w.show()
    return w


def close_dialogs():
    for x in QApplication.topLevelWidgets():
        if x.objectName() in ("problemDialog", "downloadDialog") and x.isVisible():
            x.close()


def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))


def test_offline_without_a_cached_model_the_demo_model_stands_in_with_a_notice_that_does_not_block(
    qtbot, tmp_path, monkeypatch
):
    _offline(monkeypatch, tmp_path)
    w = plain_window(qtbot)
    w.settings.set("model/source", "facebook/sam2.1-hiera-tiny")
    w.load_model("facebook/sam2.1-hiera-tiny", "cpu")
    w.open_path(str(frame_folder(tmp_path / "frames")))
    qtbot.waitUntil(lambda: w.session.image is not None and w.session.model_ready, timeout=60_000)
    assert w.session.loaded.source == "demo"
    assert w.notice.isVisible(), "a notice above the video, not a dialog"
    text = w.notice.label.text()
    assert "sam2.1-hiera-tiny" in text and "synthetic shapes" in text and "Settings > Model" in text
    assert not w.problems, "nothing modal: the window is usable at once"
    assert w.settings.get("model/source") == "facebook/sam2.1-hiera-tiny", "the user's choice is kept"
    assert "Demo SAM2" in w.status_labels["model"].text()
    qtbot.mouseClick(w.notice.findChild(QPushButton, "noticeClose"), Qt.MouseButton.LeftButton)
    assert not w.notice.isVisible()
    w.close()


def test_offline_without_a_cached_model_or_the_demo_model_the_video_opens_and_the_message_says_what_to_do(
    qtbot, tmp_path, monkeypatch
):
    _offline(monkeypatch, tmp_path)
    monkeypatch.setattr("litlora_desktop.workers.engine_state.demo_model_dir", lambda: tmp_path / "no-demo")
    w = plain_window(qtbot)
    w.load_model("facebook/sam2.1-hiera-tiny", "cpu")
    w.open_path(str(frame_folder(tmp_path / "frames")))
    qtbot.waitUntil(lambda: w.session.image is not None and bool(w.problems), timeout=20_000)
    title, text = w.problems[-1]
    assert title == "No SAM2 model"
    assert "sam2.1-hiera-tiny" in text and "Settings > Model" in text and "HF_HUB_OFFLINE is set" in text
    assert not w.session.model_ready
    assert w.session.num_frames == 6
    assert w.isEnabled()
    close_dialogs()
    w.close()


def test_download_progress_dialog_can_cancel(qtbot, monkeypatch):
    calls = {"n": 0}

    def fake_load(spec, device=None, progress=None):
        total = 100 * 2**20
        for i in range(1000):
            calls["n"] += 1
            progress(i * 2**20, total)  # raises DownloadCancelled once the user cancels
            time.sleep(0.01)
        raise AssertionError("the download was never cancelled")

    monkeypatch.setattr("litlora_desktop.workers.engine_state.load_model", fake_load)
    w = plain_window(qtbot)
    w.load_model("facebook/sam2.1-hiera-large")
    qtbot.waitUntil(
        lambda: w.models.download_dialog is not None and w.models.download_dialog.isVisible(), timeout=10_000
    )
    dlg = w.models.download_dialog
    assert isinstance(dlg, DownloadDialog)
    qtbot.waitUntil(lambda: dlg.value() > 0, timeout=10_000)
    assert "MB" in dlg.labelText()
    t0 = time.monotonic()
    button = dlg.findChild(QPushButton)
    assert button.text() == "Cancel"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cancelled" in w.statusBar().currentMessage(), timeout=10_000)
    assert time.monotonic() - t0 < 5
    assert w.models.download_dialog is None
    assert not w.session.model_ready
    assert w.problems == []  # a cancel is not a problem
    n = calls["n"]
    qtbot.wait(100)
    assert calls["n"] == n
    w.close()


def test_requested_device_that_does_not_work_is_reported(qtbot, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    w = plain_window(qtbot)
    w.load_model("tiny-random", "cuda")
    qtbot.waitUntil(lambda: w.session.model_ready, timeout=20_000)
    assert w.problems and w.problems[-1][0] == "Running on the CPU"
    assert "CUDA was requested" in w.problems[-1][1]
    assert w.status_labels["device"].text() == "cpu fp32"
    close_dialogs()
    w.close()


def test_drop_a_frame_folder_opens_it_and_it_becomes_recent(qtbot, tmp_path):
    w = plain_window(qtbot)
    folder = frame_folder(tmp_path / "shots")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    w.dropEvent(ev)
    qtbot.waitUntil(lambda: w.session.image is not None, timeout=10_000)
    assert w.session.num_frames == 6
    assert "shots" in w.windowTitle()
    assert AppSettings().recent_files()[0] == str(folder)
    recent = [a for a in w.recent_menu.actions() if a.data()]
    assert recent[0].data() == str(folder)
    # open another, then go back through the recent menu
    other = frame_folder(tmp_path / "other", n=4)
    w.open_path(str(other))
    qtbot.waitUntil(lambda: w.session.num_frames == 4, timeout=10_000)
    recent = [a for a in w.recent_menu.actions() if a.data()]
    assert [a.data() for a in recent] == [str(other), str(folder)]
    recent[1].trigger()
    qtbot.waitUntil(lambda: w.session.num_frames == 6, timeout=10_000)
    # a recent file that went away is dropped from the list, with a message
    import shutil

    shutil.rmtree(other)
    next(a for a in w.recent_menu.actions() if a.data() == str(other)).trigger()
    assert w.problems and "no longer exists" in w.problems[-1][1]
    assert str(other) not in AppSettings().recent_files()
    close_dialogs()
    w.close()


def test_window_state_and_settings_persist(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    w.resize(720, 540)  # the offscreen screen is 800x600: restoreGeometry keeps windows on it
    w.opacity_slider.setValue(80)
    w.actions_by_id["view.outline"].setChecked(True)
    w.close()
    w2 = MainWindow(AppSettings())
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == (720, 540)
    assert w2.canvas.opacity == pytest.approx(0.8)
    assert w2.canvas.outline_only
    assert w2.actions_by_id["view.outline"].isChecked()
    w2.close()


def test_last_model_is_remembered(qtbot):
    w = plain_window(qtbot)
    w.load_model("tiny-random", "cpu")
    qtbot.waitUntil(lambda: w.session.model_ready, timeout=20_000)
    w.close()
    assert AppSettings().get("model/source") == "tiny-random"


def test_create_window_opens_the_sample_video_by_default(qtbot, tmp_path, monkeypatch):
    from litlora_desktop import app

    monkeypatch.setattr(app, "sample_video_path", lambda: tmp_path / "sample.mp4")
    w = app.create_window(None, "tiny-random", "cpu")
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.session.image is not None and w.session.model_ready, timeout=30_000)
    assert (tmp_path / "sample.mp4").is_file()
    assert w.session.num_frames == 120
    assert "sample.mp4" in w.windowTitle()
    w.close()


def test_uncaught_exception_becomes_a_dialog(qtbot, window_factory, tiny_model, monkeypatch):
    from litlora_desktop import app

    w = window_factory(tiny_model)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    app.install_excepthook(w)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert w.problems[-1] == ("Unexpected error", "boom in a slot")
    close_dialogs()


def test_cli_parses_and_dispatches_export(monkeypatch):
    args = cli.build_parser().parse_args(["clip.mp4", "--model", "tiny-random", "--device", "cpu"])
    assert (args.video, args.model, args.device) == ("clip.mp4", "tiny-random", "cpu")
    seen = []
    monkeypatch.setattr(
        "litlora_desktop.core.annotations.export_cli.export_main", lambda argv: seen.append(argv) or 0
    )
    assert cli.main(["export", "--help-me"]) == 0
    assert seen == [["--help-me"]]
    ran = []
    monkeypatch.setattr("litlora_desktop.app.run", lambda *a: ran.append(a) or 0)
    assert cli.main(["v.mp4", "--device", "cuda"]) == 0
    assert ran == [("v.mp4", None, "cuda")]


def test_python_dash_m_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "litlora_desktop", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "tiny-random" in out.stdout and "--device" in out.stdout


def test_frame_ms_and_counts_in_status_after_a_step(qtbot, window_factory, tiny_model):
    from tests.ui.test_main_window import click, idle, key

    w = window_factory(tiny_model)
    click(qtbot, w, 30, 20)
    qtbot.waitUntil(lambda: w.session.store.get_record(0, 1) is not None)
    key(qtbot, w, Qt.Key.Key_Right)
    idle(qtbot, w)
    ms = float(w.status_labels["frame_ms"].text().split()[1])
    assert ms > 0
    assert np.isfinite(ms)


def test_settings_dialog_picks_a_model_and_it_loads_without_freezing(qtbot, window_factory, tiny_model):
    from litlora_desktop.ui.dialogs import DEV_MODEL

    w = window_factory(tiny_model)
    dlg = w.open_settings()
    combo = dlg.model_combo
    assert [combo.itemText(i).split("  (")[0] for i in range(11)] == [
        *(f"SAM2.1 {s}" for s in ("tiny", "small", "base-plus", "large")),
        *(f"SAM2 {s}" for s in ("tiny", "small", "base-plus", "large")),
        "SAM 3 tracker",
        "EdgeTAM",
        "Demo SAM2 (synthetic shapes, offline)",
    ]
    table = dlg.family_table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert rows == [
        ["SAM2.1", "39.0 M", "1024 px", "Apache-2.0", "CPU or GPU"],
        ["SAM2", "38.9 M", "1024 px", "Apache-2.0", "CPU or GPU"],
        ["SAM 3 tracker", "465.8 M", "1008 px", "SAM License (Meta; not Apache)", "GPU recommended"],
        ["EdgeTAM", "13.9 M", "1024 px", "Apache-2.0", "CPU or GPU"],
    ]
    assert "request access" in table.item(2, 0).toolTip() and "facebook/sam3" in table.item(2, 0).toolTip()
    combo.setCurrentIndex(combo.findData("facebook/sam3"))
    note = dlg.model_note.text()
    assert "GPU recommended" in note and "request access" in note and "hf auth login" in note
    combo.setCurrentIndex(0)
    assert "SAM2.1: 39.0 M parameters" in dlg.model_note.text()
    assert not dlg.path_edit.isEnabled()
    combo.setCurrentIndex(combo.findData("demo"))
    assert dlg.model_note.text() == ""
    combo.setCurrentIndex(combo.findData("folder"))
    assert dlg.path_edit.isEnabled()
    combo.setCurrentIndex(combo.findText(DEV_MODEL))
    dlg.device_combo.setCurrentText("cpu")
    dlg.suspect.setValue(0.3)
    with qtbot.waitSignal(w.session.model_changed, timeout=30_000):
        dlg.accept()
        assert w.isEnabled()  # accept returned at once: the model loads on the model thread
    assert w.session.loaded.source == "tiny-random"
    assert w.status_labels["model"].text() == "tiny-random"
    st = AppSettings()
    assert st.get("model/source") == "tiny-random" and st.get("model/device") == "cpu"
    assert st.get("track/suspect_threshold") == pytest.approx(0.3)


def test_a_model_folder_without_config_is_refused_with_a_message(qtbot, window_factory, tiny_model, tmp_path):
    w = window_factory(tiny_model)
    (tmp_path / "empty-model").mkdir()
    w.load_model(str(tmp_path / "empty-model"), "cpu")
    qtbot.waitUntil(lambda: bool(w.problems), timeout=10_000)
    assert "config.json" in w.problems[-1][1]
    assert w.session.model_ready  # the model that was loaded stays in use
    close_dialogs()


def test_scrubbing_the_slider_and_the_lanes_moves_the_frame(qtbot, window_factory, tiny_model):
    w = window_factory(tiny_model)
    s = w.session
    w.timeline.slider.setValue(7)
    qtbot.waitUntil(lambda: s.current == 7 and s.image is not None and s.image[0] == 7)
    assert w.timeline.time_label.text().startswith("00:00.29")
    s.add_object()
    lanes = w.timeline.lanes
    qtbot.waitUntil(lambda: len(lanes._lanes) == 1)
    bar = lanes._bar_rect()
    qtbot.mouseClick(
        lanes, Qt.MouseButton.LeftButton, pos=QPointF(bar.left() + bar.width() * 0.3, 8).toPoint()
    )
    qtbot.waitUntil(lambda: s.current == 3)
    assert w.timeline.slider.value() == 3


def test_a_click_while_the_model_loads_says_wait(qtbot, window_factory, monkeypatch):
    import threading

    gate = threading.Event()

    def slow_load(spec, device=None, progress=None):
        gate.wait(10)
        raise RuntimeError("never mind")

    monkeypatch.setattr("litlora_desktop.workers.engine_state.load_model", slow_load)
    w = window_factory(model=None)
    w.load_model("facebook/sam2.1-hiera-small")
    qtbot.waitUntil(lambda: w.session.model_loading)
    w.session.click(10, 10, True)
    assert "still loading" in w.statusBar().currentMessage()
    assert w.problems == []
    qtbot.waitUntil(lambda: w.status_labels["busy"].text() != "", timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: not w.session.model_loading, timeout=10_000)
    assert w.problems and "never mind" in w.problems[-1][1]
    close_dialogs()
