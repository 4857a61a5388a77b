"""The main window: builds the actions from the shortcut registry and wires the panels to the session.

It holds no annotation logic of its own (that is ``AnnotationSession``) and no model (that is the
``Engine`` on the model thread): it turns signals into calls and renders what the session says.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QSlider,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from litlora_desktop.core.sam2.models import LoadedModel
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui.candidates_panel import CandidatesPanel
from litlora_desktop.ui.canvas import CandidateView, Canvas
from litlora_desktop.ui.dialogs import DownloadDialog, SettingsDialog, ShortcutsDialog, notify
from litlora_desktop.ui.notice import NoticeBanner
from litlora_desktop.ui.objects_panel import ObjectsPanel
from litlora_desktop.ui.project_mixin import ProjectMixin
from litlora_desktop.ui.session import AUTO_PREFIX, AnnotationSession
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.ui.shortcuts import ACTIONS, ShortcutMap
from litlora_desktop.ui.timeline import Timeline
from litlora_desktop.ui.transfer import TransferMixin

VIDEO_FILTER = (
    "Videos and projects (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv project.json autosave.json)"
    ";;LIT-LoRA project (project.json autosave.json);;All files (*)"
)


def icons_dir() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / "icons"


def icon(name: str) -> QIcon:
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


class MainWindow(ProjectMixin, TransferMixin, QMainWindow):
    """LIT-LoRA Desktop's window. ``problems`` keeps the texts of problem dialogs (tests read it)."""

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("LIT-LoRA Desktop")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.shortcuts = ShortcutMap(self.settings.qs)
        self.session = AnnotationSession(self.settings, self)
        self.problems: list[tuple[str, str]] = []
        self.download_dialog: DownloadDialog | None = None
        self._load_job = None

        self.canvas = Canvas(self)
        self.timeline = Timeline(self)
        self.notice = NoticeBanner(self)
        self.notice.action_requested.connect(self.open_settings)
        top = QWidget(self)
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        top_lay.setSpacing(0)
        top_lay.addWidget(self.notice)
        top_lay.addWidget(self.canvas, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 1)
        split.setCollapsible(0, False)
        self.setCentralWidget(split)
        self.objects_panel = ObjectsPanel(self)
        self.candidates_panel = CandidatesPanel(self)
        for title, widget, name in (
            ("Objects", self.objects_panel, "objectsDock"),
            ("LoRA candidates", self.candidates_panel, "candidatesDock"),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.render_now)
        self.actions_by_id: dict[str, QAction] = {}
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._wire()
        self._init_project()
        self._init_transfer()
        self._apply_view_settings()
        self.resize(1280, 820)
        geo = self.settings.qs.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = self.settings.qs.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self._refresh_all()

    # ================================================================== actions
    def _build_actions(self) -> None:
        s = self.session
        c = self.canvas
        handlers: dict[str, Any] = {
            "file.open": self.open_dialog,
            "file.open_project": self.open_project_dialog,
            "file.save": self.save_project,
            "file.save_as": self.save_project_as,
            "file.import": self.import_dialog,
            "file.export": self.export_dialog,
            "file.settings": self.open_settings,
            "file.quit": self.close,
            "edit.undo": s.undo,
            "edit.redo": s.redo,
            "edit.clear_frame": s.clear_frame,
            "edit.no_overlap": lambda on: self.settings.set("edit/no_overlap", on),
            "tool.points": lambda: self.set_tool("points"),
            "tool.brush": lambda: self.set_tool("brush"),
            "tool.eraser": lambda: self.set_tool("eraser"),
            "tool.bigger": lambda: c.set_brush_size(c.brush_size + max(1, c.brush_size // 6)),
            "tool.smaller": lambda: c.set_brush_size(c.brush_size - max(1, c.brush_size // 6)),
            "view.fit": c.fit,
            "view.zoom_in": lambda: c.zoom_by(1.25),
            "view.zoom_out": lambda: c.zoom_by(0.8),
            "view.actual": c.actual_size,
            "view.outline": lambda on: self._set_view("view/outline", on),
            "view.masks": lambda on: self._set_view("view/masks", on),
            "view.opacity_up": lambda: self._set_view("view/opacity", min(1.0, c.opacity + 0.1)),
            "view.opacity_down": lambda: self._set_view("view/opacity", max(0.0, c.opacity - 0.1)),
            "nav.next": lambda: s.step(+1),
            "nav.prev": lambda: s.step(-1),
            "nav.next10": lambda: s.step(+10),
            "nav.prev10": lambda: s.step(-10),
            "nav.first": lambda: s.go_to(0),
            "nav.last": lambda: s.go_to(s.num_frames - 1),
            "nav.play": s.toggle_play,
            "nav.propagate": lambda: s.propagate(False),
            "nav.propagate_back": lambda: s.propagate(True),
            "nav.next_suspect": lambda: s.next_suspect(+1),
            "nav.prev_suspect": lambda: s.next_suspect(-1),
            "obj.add": s.add_object,
            "obj.rename": self.objects_panel.edit_current_name,
            "obj.recolor": lambda: self.recolor(s.selected),
            "obj.hide": self._toggle_hidden,
            "obj.delete": lambda: s.delete_object(s.selected),
            "lora.toggle": lambda on: s.set_lora(on),
            "lora.accept1": lambda: s.accept_candidate(0),
            "lora.accept2": lambda: s.accept_candidate(1),
            "lora.accept3": lambda: s.accept_candidate(2),
            "lora.keep": s.keep_sam,
            "lora.hide": s.toggle_candidates_visible,
            "lora.compare": lambda on: self.set_compare(on),
            "lora.auto": lambda on: self._set_auto(on, float(self.settings.get("lora/auto_threshold"))),
            "help.shortcuts": self.show_shortcuts,
        }
        for i in range(1, 10):
            handlers[f"obj.select{i}"] = lambda i=i: s.select_index(i - 1)
        checkable = {
            "edit.no_overlap",
            "view.outline",
            "view.masks",
            "lora.toggle",
            "lora.compare",
            "lora.auto",
        }
        tool_group = QActionGroup(self)
        for aid, spec in ACTIONS.items():
            act = QAction(spec.label, self)
            act.setObjectName(aid)
            act.setShortcuts(self.shortcuts.sequences(aid))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setAutoRepeat(
                aid.startswith(("nav.next", "nav.prev", "edit.", "view.zoom", "tool.b", "tool.s"))
            )
            if aid in checkable:
                act.setCheckable(True)
                act.toggled.connect(handlers[aid])
            else:
                act.triggered.connect(lambda _=False, h=handlers[aid]: h())
            if aid.startswith("tool.") and aid in ("tool.points", "tool.brush", "tool.eraser"):
                act.setCheckable(True)
                tool_group.addAction(act)
            self.addAction(act)
            self.actions_by_id[aid] = act
        a = self.actions_by_id
        a["tool.points"].setChecked(True)
        for aid, name in (
            ("file.open", "open"),
            ("edit.undo", "undo"),
            ("edit.redo", "redo"),
            ("tool.points", "points"),
            ("tool.brush", "brush"),
            ("tool.eraser", "eraser"),
            ("nav.play", "play"),
            ("nav.propagate", "propagate"),
            ("view.fit", "fit"),
            ("lora.compare", "compare"),
            ("obj.add", "add-object"),
            ("lora.toggle", "lora-off"),
        ):
            a[aid].setIcon(icon(name))
        for aid, short in (
            ("file.open", "Open"),
            ("edit.undo", "Undo"),
            ("edit.redo", "Redo"),
            ("obj.add", "New object"),
            ("tool.points", "Points"),
            ("tool.brush", "Brush"),
            ("tool.eraser", "Eraser"),
            ("nav.play", "Play"),
            ("nav.propagate", "Propagate"),
            ("lora.compare", "Compare"),
            ("view.fit", "Fit"),
            ("view.outline", "Outline"),
        ):
            a[aid].setIconText(short)
            a[aid].setToolTip(f"{ACTIONS[aid].label} ({self.shortcuts.key(aid).replace('|', ' or ')})")
        a["lora.toggle"].setText("LIT_LoRA")
        a["lora.toggle"].setToolTip("LIT_LoRA on/off (L): learn from each correction and propose candidates")

    def _action(self, aid: str) -> QAction:
        return self.actions_by_id[aid]

    def apply_shortcuts(self) -> None:
        """Re-read keys from the settings (after the user remapped some)."""
        for aid, act in self.actions_by_id.items():
            act.setShortcuts(self.shortcuts.sequences(aid))
        self._update_candidate_keys()

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        groups: dict[str, QMenu] = {}
        for name in ("File", "Edit", "View", "Tools", "Navigate", "Objects", "LIT-LoRA", "Help"):
            groups[name] = mb.addMenu(
                name.replace("File", "&File").replace("Edit", "&Edit").replace("Help", "&Help")
            )
        groups["Edit"].aboutToShow.connect(lambda: self._refresh_history(full=True))
        self.recent_menu = QMenu("Open recent", self)
        for aid, spec in ACTIONS.items():
            menu = groups[spec.group]
            if aid == "file.settings":
                menu.addMenu(self.recent_menu)
                menu.addSeparator()
            if aid == "file.quit":
                menu.addSeparator()
            menu.addAction(self.actions_by_id[aid])
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        a = self.actions_by_id
        for aid in (
            "file.open",
            None,
            "edit.undo",
            "edit.redo",
            None,
            "obj.add",
            "tool.points",
            "tool.brush",
            "tool.eraser",
            None,
            "nav.play",
            "nav.propagate",
            None,
            "lora.toggle",
            "lora.compare",
            None,
            "view.fit",
        ):
            if aid is None:
                tb.addSeparator()
            else:
                tb.addAction(a[aid])
        tb.addWidget(QLabel("  Opacity ", tb))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, tb)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity_slider.valueChanged.connect(lambda v: self._set_view("view/opacity", v / 100.0))
        tb.addWidget(self.opacity_slider)
        tb.addAction(a["view.outline"])
        for aid in ("file.open", "edit.undo", "edit.redo", "view.fit"):  # well-known icons: save the width
            btn = tb.widgetForAction(a[aid])
            if btn is not None:
                btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key in ("busy", "device", "model", "frame_ms", "lora", "saved"):
            lab = QLabel(self)
            lab.setObjectName(f"status_{key}")
            lab.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(lab)
            self.status_labels[key] = lab

    # ================================================================== wiring
    def _wire(self) -> None:
        s, c = self.session, self.canvas
        c.clicked.connect(s.click)
        c.point_clicked.connect(s.remove_point)
        c.box_drawn.connect(s.box)
        c.stroke_finished.connect(s.paint_stroke)
        c.brush_size_changed.connect(
            lambda v: (
                self.settings.set("brush/size", v),
                self.statusBar().showMessage(f"Brush size {v} px", 1500),
            )
        )
        self.timeline.frame_requested.connect(s.go_to)
        self.timeline.object_clicked.connect(s.select)
        op = self.objects_panel
        op.add_requested.connect(s.add_object)
        op.object_selected.connect(s.select)
        op.rename_requested.connect(s.rename)
        op.recolor_requested.connect(self.recolor)
        op.hide_toggled.connect(s.set_hidden)
        op.delete_requested.connect(s.delete_object)
        cp = self.candidates_panel
        cp.accept_requested.connect(s.accept_candidate)
        cp.keep_requested.connect(s.keep_sam)
        cp.compare_toggled.connect(self._action("lora.compare").setChecked)
        cp.auto_apply_changed.connect(self._set_auto)
        s.video_changed.connect(self._on_video)
        s.image_changed.connect(lambda _i, rgb: c.set_image(rgb))
        s.frame_changed.connect(self._on_frame)
        s.overlay_changed.connect(self._render_overlay)
        s.objects_changed.connect(self._refresh_objects)
        s.selection_changed.connect(self._on_selection)
        s.timeline_changed.connect(self._refresh_timeline)
        s.history_changed.connect(self._refresh_history)
        s.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        s.problem.connect(self.show_problem)
        s.model_changed.connect(self._on_model)
        s.stats_changed.connect(self._refresh_status)
        s.playing_changed.connect(self._on_playing)
        s.propagating_changed.connect(
            lambda on: self._action("nav.propagate").setText(
                "Stop propagating" if on else ACTIONS["nav.propagate"].label
            )
        )
        s.lora_changed.connect(self._on_lora)
        s.training_changed.connect(self._on_training)
        s.candidates_changed.connect(self._render_overlay)
        s.engine.download_progress.connect(self._on_download)
        s.busy_changed.connect(self._on_busy)
        s.engine.model_loading.connect(lambda spec: self.status_labels["model"].setText(f"loading {spec}…"))
        self._update_candidate_keys()

    def _update_candidate_keys(self) -> None:
        def first(aid: str) -> str:
            k = self.shortcuts.key(aid).split("|")[0]
            return {"Return": "Enter", "Escape": "Esc"}.get(k, k) or "-"

        keys = [first(f"lora.accept{i}") for i in (1, 2, 3)]
        self.candidates_panel.set_keys(keys, first("lora.keep"), first("lora.hide"), first("lora.compare"))

    # ================================================================== open / model
    def open_path(self, path: str) -> None:
        """A video, a frame folder or a project; a video's ``<name>.litlora`` project opens with it."""
        self.open_any(path)

    def open_source(self, source: FrameSource) -> None:
        self.session.open_source(source)

    def open_dialog(self) -> None:
        start = str(Path(self.settings.recent_files()[0]).parent) if self.settings.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video or project", start, VIDEO_FILTER)
        if path:
            self.open_path(path)

    def load_model(self, spec: str, device: str | None = None) -> None:
        """Load a model in the background; a progress dialog appears if it downloads."""
        self._load_job = self.session.load_model(spec, None if device in (None, "auto") else device)

    def use_model(self, loaded: LoadedModel) -> None:
        self.session.use_model(loaded)

    def _on_download(self, done: int, total: int) -> None:
        if self.download_dialog is None:
            self.download_dialog = DownloadDialog(self, str(self.settings.get("model/source")))
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
        if loaded is not None and loaded.fallback_note:  # a stand-in: keep the user's choice for next time
            self.notice.show_notice(loaded.fallback_note)
        elif loaded is not None:
            self.notice.hide()
            self.settings.set("model/source", loaded.source)
            if loaded.device.fell_back:
                self.show_problem(
                    "Running on the CPU",
                    loaded.device.message
                    + "\n\nTracking and training will be slow. Check the GPU driver, or pick another device in Settings ▸ Model.",
                )
            self.statusBar().showMessage(f"Model {loaded.name} ready. {loaded.device.message}.", 8000)
        self._refresh_status()
        self._refresh_lora_action()

    def _on_video(self, source: FrameSource) -> None:
        self.timeline.set_video(source.num_frames, source.fps)
        self.canvas.set_image(None)
        self.canvas.placeholder = "Loading frame…"
        self._project_video_opened(source)
        if self.session.video_path:
            self.settings.add_recent(self.session.video_path)
            self._refresh_recent()
        self._refresh_all()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.setData(path)
            act.triggered.connect(lambda _=False, p=path: self._open_recent(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(
                "Clear the list", lambda: (self.settings.set("recent/files", []), self._refresh_recent())
            )
        self.recent_menu.setEnabled(bool(files))

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.settings.remove_recent(path)
            self._refresh_recent()
            self.show_problem(
                "Cannot open video", f"'{path}' no longer exists: it was removed from the recent files."
            )
            return
        self.open_path(path)

    # ================================================================== drag and drop
    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            e.acceptProposedAction()

    # ================================================================== dialogs
    def show_problem(self, title: str, text: str) -> None:
        self.problems.append((title, text))
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 10000)
        notify(self, title, text)

    def open_settings(self) -> SettingsDialog:
        dlg = SettingsDialog(self.settings, self.shortcuts, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.applied.connect(self._settings_applied)
        dlg.model_requested.connect(self.load_model)
        dlg.open()
        return dlg

    def _settings_applied(self) -> None:
        self.apply_shortcuts()
        self._apply_view_settings()
        self.session.apply_auto_settings()
        self.session.invalidate_lanes()
        self._refresh_timeline()

    def show_shortcuts(self) -> ShortcutsDialog:
        dlg = ShortcutsDialog(self.shortcuts, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def recolor(self, oid: int) -> None:
        s = self.session
        if s.store is None or not oid:
            return
        info = s.store.object(oid)
        dlg = QColorDialog(QColor(*info.color), self)
        dlg.setWindowTitle(f"Colour of {info.name}")
        dlg.colorSelected.connect(lambda col: s.recolor(oid, (col.red(), col.green(), col.blue())))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def _toggle_hidden(self) -> None:
        s = self.session
        if s.store is not None and s.selected:
            s.set_hidden(s.selected, not s.store.object(s.selected).hidden)

    # ================================================================== view state
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self._action(f"tool.{tool}").setChecked(True)
        hints = {
            "points": "Point tool: left click = object, right click = not object, shift-drag = box.",
            "brush": "Brush: paint the selected object's mask (Ctrl+wheel or [ ] = size; right-drag erases).",
            "eraser": "Eraser: erase from the selected object's mask.",
        }
        self.statusBar().showMessage(hints[tool], 5000)

    def _set_view(self, key: str, value: Any) -> None:
        self.settings.set(key, value)
        self._apply_view_settings()

    def _apply_view_settings(self) -> None:
        st = self.settings
        opacity = float(st.get("view/opacity"))
        self.canvas.set_display(
            opacity=opacity, outline_only=bool(st.get("view/outline")), visible=bool(st.get("view/masks"))
        )
        self.canvas.set_brush_size(int(st.get("brush/size")))
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.blockSignals(False)
        for aid, key in (
            ("view.outline", "view/outline"),
            ("view.masks", "view/masks"),
            ("edit.no_overlap", "edit/no_overlap"),
            ("lora.auto", "lora/auto_apply"),
        ):
            act = self._action(aid)
            act.blockSignals(True)
            act.setChecked(bool(st.get(key)))
            act.blockSignals(False)
        self.candidates_panel.set_auto(bool(st.get("lora/auto_apply")), float(st.get("lora/auto_threshold")))

    def _set_auto(self, on: bool, threshold: float) -> None:
        self.settings.set("lora/auto_apply", bool(on))
        self.settings.set("lora/auto_threshold", float(threshold))
        self._apply_view_settings()
        self.session.apply_auto_settings()

    def set_compare(self, on: bool) -> None:
        act = self._action("lora.compare")
        if on and not self.session.current_candidates():
            self.statusBar().showMessage("No LoRA candidate on this frame to compare with.", 4000)
            act.blockSignals(True)
            act.setChecked(False)
            act.blockSignals(False)
            on = False
        cb = self.candidates_panel.compare_button
        cb.blockSignals(True)
        cb.setChecked(on)
        cb.blockSignals(False)
        self._render_overlay()

    # ================================================================== rendering
    def _refresh_all(self) -> None:
        self._refresh_objects()
        self._refresh_timeline()
        self._refresh_history()
        self._refresh_status()
        self._refresh_recent()
        self._render_overlay()
        self._refresh_lora_action()

    def _on_frame(self, frame: int) -> None:
        self.timeline.set_current(frame)
        if self._action("lora.compare").isChecked() and not self.session.current_candidates():
            self._action("lora.compare").setChecked(False)

    def _render_overlay(self) -> None:
        """Schedule one overlay render for this turn of the event loop, however many asked for it."""
        if not self._render_timer.isActive():
            self._render_timer.start()

    def render_now(self) -> None:
        """Give the canvas and the candidates panel what the session says about the shown frame."""
        self._render_timer.stop()
        s = self.session
        self.canvas.set_masks(s.visible_masks())
        color = (255, 255, 255)
        if s.store is not None and s.selected:
            color = s.store.object(s.selected).color
        p = s.current_prompt()
        box = (p.box.x0, p.box.y0, p.box.x1, p.box.y1) if p.box is not None else None
        self.canvas.set_points(list(p.clicks), box, color)
        cands = s.current_candidates()
        keys = self.candidates_panel.keys
        self.canvas.set_candidates(
            [
                CandidateView(
                    keys[i] if i < len(keys) else "",
                    f"{keys[i] if i < len(keys) else ''} · {c.adapter} {c.confidence:.0%}",
                    c.mask,
                    i,
                )
                for i, c in enumerate(cands[:3])
            ]
        )
        compare = self._action("lora.compare").isChecked() and bool(cands)
        if compare:
            sam = s.store.get_mask(s.current, s.selected) if s.store is not None else None
            top = cands[0]
            self.canvas.set_compare(
                sam, top.mask, color, "SAM2", f"LoRA {top.adapter} · {top.confidence:.0%}"
            )
        else:
            self.canvas.clear_compare()
        self.candidates_panel.set_candidates(
            s.candidates.get((s.current, s.selected), []), s.lora_on, hidden=not s.candidates_visible
        )

    def _refresh_objects(self) -> None:
        s = self.session
        infos = s.store.objects if s.store is not None else []
        details = {oid: f"LIT-LoRA: {n} samples, {a} adapters" for oid, (n, a, _) in s.lora_counts.items()}
        self.objects_panel.set_objects(infos, s.selected, details)
        self._refresh_lora_action()
        self._render_overlay()

    def _on_selection(self, oid: int) -> None:
        self.objects_panel.set_selected(oid)
        self.timeline.lanes.set_selected(oid)
        self._render_overlay()
        self._refresh_status()

    def _refresh_timeline(self) -> None:
        s = self.session
        self.timeline.lanes.set_lanes(s.lanes(), s.num_frames)
        self.timeline.lanes.set_selected(s.selected)

    def _refresh_history(self, full: bool = False) -> None:
        """Enable undo/redo; the label names the user step undo takes back (``full`` scans the history,
        which copies it: only when the Edit menu opens, not after every tracked frame)."""
        s = self.session
        st = s.store
        undo, redo = self._action("edit.undo"), self._action("edit.redo")
        undo.setEnabled(bool(st is not None and st.can_undo))
        redo.setEnabled(bool(st is not None and st.can_redo))
        top = st.undo_label if st is not None else None
        label = s.undo_text() if full else (top if top and not top.startswith(AUTO_PREFIX) else "")
        undo.setText(f"Undo {label}" if label else "Undo")
        redo.setText(f"Redo {st.redo_label}" if st is not None and st.redo_label else "Redo")

    def _refresh_status(self) -> None:
        st = self.session.stats()
        lab = self.status_labels
        lab["device"].setText(f"Device: {st['device']}")
        lab["model"].setText(f"Model: {st['model']}")
        lab["frame_ms"].setText(f"Frame: {st['frame_ms']:.0f} ms")
        lab["lora"].setText(f"Samples {st['samples']} · adapters {st['adapters']}")
        s = self.session
        per_object = [
            f"{s.store.object(oid).name}: {n} samples, {a} adapters, {saved} candidates accepted"
            for oid, (n, a, saved) in s.lora_counts.items()
            if s.store is not None and oid in {o.id for o in s.store.objects}
        ]
        lab["lora"].setToolTip(
            "\n".join(["LIT-LoRA samples and adapters of the selected object", *per_object])
        )
        lab["saved"].setText(f"Corrections saved: {st['saved']}")
        lab["saved"].setToolTip("LoRA candidates accepted instead of correcting by hand")
        if self.session.loaded is not None:
            lab["device"].setToolTip(self.session.loaded.device.message)

    def _refresh_lora_action(self) -> None:
        act = self._action("lora.toggle")
        why = self.session.lora_unavailable_reason()
        act.setEnabled(not why or self.session.lora_on)
        act.setToolTip(why or "LIT_LoRA on/off (L): learn from each correction and propose candidates")

    def _on_lora(self, on: bool) -> None:
        act = self._action("lora.toggle")
        act.blockSignals(True)
        act.setChecked(on)
        act.blockSignals(False)
        act.setIcon(icon("lora-on" if on else "lora-off"))
        act.setText("LIT_LoRA on" if on else "LIT_LoRA")
        self._render_overlay()

    def _on_training(self, p: Any) -> None:
        s = self.session
        name = (
            s.store.object(p.object_id).name
            if s.store is not None and p.object_id in {o.id for o in s.store.objects}
            else f"object {p.object_id}"
        )
        self.canvas.training_overlay.show_progress(
            name, p.adapter, p.epoch, p.max_epochs, p.best_iou if p.finished else p.iou, p.finished
        )
        if p.finished:
            QTimer.singleShot(4000, self._hide_training_if_idle)

    def _hide_training_if_idle(self) -> None:
        if not self.session.training_active:
            self.canvas.training_overlay.hide()

    def _on_busy(self, busy: bool) -> None:
        lab = self.status_labels["busy"]
        lab.setText("● working" if busy else "")
        lab.setStyleSheet("color: #e0b040;" if busy else "")
        lab.setToolTip("The model thread is tracking or training; the window stays usable.")

    def _on_playing(self, on: bool) -> None:
        act = self._action("nav.play")
        act.setIcon(icon("pause" if on else "play"))

    # ================================================================== closing
    def closeEvent(self, e: QCloseEvent) -> None:
        if not self.project_close_event():
            e.ignore()
            return
        self.settings.qs.setValue("window/geometry", self.saveGeometry())
        self.settings.qs.setValue("window/state", self.saveState())
        self.settings.sync()
        self.session.close()
        super().closeEvent(e)
