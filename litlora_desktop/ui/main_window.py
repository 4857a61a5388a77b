"""The main window: builds the widgets and the actions and wires the user's input to the session.

It holds no annotation logic of its own (that is ``AnnotationSession``) and no model (that is the
``Engine`` on the model thread): it turns signals into calls. What it owns besides the widgets: a
``SessionPresenter`` that renders what the session says, a ``ProjectController`` for the project's
lifecycle (open, save, autosave, close), a ``TransferController`` for export and import, an
``AdapterReuse`` for another project's adapters and a ``ModelController`` for model loads. They talk
back through signals (status, problem, title) that the window shows; none of them touches the
window's own state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.ui.adapter_reuse import AdapterReuse
from litlora_desktop.ui.candidates_panel import CandidatesPanel
from litlora_desktop.ui.canvas import Canvas
from litlora_desktop.ui.dialogs import SettingsDialog, ShortcutsDialog, notify
from litlora_desktop.ui.model_controller import ModelController
from litlora_desktop.ui.notice import NoticeBanner
from litlora_desktop.ui.objects_panel import ObjectsPanel
from litlora_desktop.ui.presenter import SessionPresenter
from litlora_desktop.ui.project_controller import ProjectController
from litlora_desktop.ui.recent_menu import RecentMenu
from litlora_desktop.ui.session import AnnotationSession
from litlora_desktop.ui.settings import AppSettings
from litlora_desktop.ui.shortcuts import ShortcutMap
from litlora_desktop.ui.timeline import Timeline
from litlora_desktop.ui.transfer import TransferController
from litlora_desktop.ui.window_actions import build_actions, build_menus, build_toolbar, icon

if TYPE_CHECKING:
    from litlora_desktop.core.annotations.project import Project
    from litlora_desktop.core.sam2.models import LoadedModel

VIDEO_FILTER = (
    "Videos and projects (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv project.json autosave.json)"
    ";;LIT-LoRA project (project.json autosave.json);;All files (*)"
)


class MainWindow(QMainWindow):
    """LIT-LoRA Desktop's window. ``problems`` keeps the texts of problem dialogs (tests read it);
    ``presenter``, ``projects``, ``transfers`` and ``models`` are its controllers (module docstring)."""

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

        self.actions_by_id: dict[str, QAction] = build_actions(self, self.shortcuts, self._handlers())
        self._build_menus_and_toolbar()
        self._build_status_bar()
        # the presenter before the project controller: a new frame's image is on the canvas before
        # the project restores its zoom over it
        self.presenter = SessionPresenter(
            self.session,
            self.canvas,
            self.timeline,
            self.objects_panel,
            self.candidates_panel,
            self.actions_by_id,
            self.status_labels,
            self,
        )
        self._wire()
        self.projects = ProjectController(self.session, self.canvas, self)
        self.projects.title_changed.connect(self.setWindowTitle)
        self.projects.status.connect(self.show_status)
        self.projects.autosave_status.connect(self.status_labels["autosave"].setText)
        self.projects.problem.connect(self.show_problem)
        self.projects.close_requested.connect(self.close)
        self.transfers = TransferController(self.session, lambda: self.projects.project, self)
        self.transfers.status.connect(self.show_status)
        self.transfers.problem.connect(self.show_problem)
        self.adapter_reuse = AdapterReuse(
            self.session, lambda: self.projects.project and self.projects.project.path, self
        )
        self.adapter_reuse.status.connect(self.show_status)
        self.adapter_reuse.problem.connect(self.show_problem)
        self.models = ModelController(self.session, self.settings, self.notice, self)
        self.models.status.connect(self.show_status)
        self.models.problem.connect(self.show_problem)
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
    @property
    def project(self) -> Project | None:
        """The open project (the project controller holds it; an error report autosaves it first)."""
        return self.projects.project

    def _handlers(self) -> dict[str, Any]:
        """What each registry action does (checkable ones are given their new state)."""
        s, c = self.session, self.canvas
        handlers: dict[str, Any] = {  # the controllers come after the actions: looked up when used
            "file.open": self.open_dialog,
            "file.open_project": lambda: self.projects.open_project_dialog(),
            "file.save": lambda: self.projects.save_project(),
            "file.save_as": lambda: self.projects.save_project_as(),
            "file.import": lambda: self.transfers.import_dialog(),
            "file.use_adapters": lambda: self.adapter_reuse.choose(),
            "file.export": lambda: self.transfers.export_dialog(),
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
            "nav.propagate_object": lambda: s.propagate(False, selected_only=True),
            "nav.propagate_object_back": lambda: s.propagate(True, selected_only=True),
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
        return handlers

    def _action(self, aid: str) -> QAction:
        return self.actions_by_id[aid]

    def apply_shortcuts(self) -> None:
        """Re-read keys from the settings (after the user remapped some)."""
        for aid, act in self.actions_by_id.items():
            act.setShortcuts(self.shortcuts.sequences(aid))
        self._update_candidate_keys()

    def _build_menus_and_toolbar(self) -> None:
        self.recent_menu = RecentMenu(self.settings, self)
        self.recent_menu.open_requested.connect(self.open_path)
        self.recent_menu.problem.connect(self.show_problem)
        menus = build_menus(self.menuBar(), self.actions_by_id, self.recent_menu)
        menus["Edit"].aboutToShow.connect(lambda: self.presenter.refresh_history(full=True))
        self.toolbar, self.opacity_slider = build_toolbar(self, self.actions_by_id)
        self.opacity_slider.valueChanged.connect(lambda v: self._set_view("view/opacity", v / 100.0))

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key in ("busy", "autosave", "device", "model", "frame_ms", "lora", "saved"):
            lab = QLabel(self)
            lab.setObjectName(f"status_{key}")
            lab.setContentsMargins(6, 0, 6, 0)
            lab.setToolTip(
                {"device": "Device", "model": "The SAM2 model (Settings ▸ Model, Ctrl+,)"}.get(key, "")
            )
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
        s.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        s.problem.connect(self.show_problem)
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
        self.projects.open_any(path)

    def open_source(self, source: FrameSource) -> None:
        self.session.open_source(source)

    def open_dialog(self) -> None:
        start = str(Path(self.settings.recent_files()[0]).parent) if self.settings.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video or project", start, VIDEO_FILTER)
        if path:
            self.open_path(path)

    def load_model(self, spec: str, device: str | None = None) -> None:
        """Load a model in the background; a progress dialog appears if it downloads."""
        self.models.load(spec, device)

    def use_model(self, loaded: LoadedModel) -> None:
        self.session.use_model(loaded)

    def _on_video(self, source: FrameSource) -> None:
        self.timeline.set_video(source.num_frames, source.fps)
        self.canvas.set_image(None)
        self.canvas.placeholder = "Loading frame…"
        self.projects.video_opened(source)
        if self.session.video_path:
            self.recent_menu.add(self.session.video_path)
        self._refresh_all()

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
        first = text.splitlines()[0] if text else ""
        # "Cannot export to …" under the title "Cannot export" is said once
        said = first if first.lower().startswith(title.lower()) else f"{title}: {first}"
        self.statusBar().showMessage(said, 10000)
        notify(self, title, text)

    def show_status(self, text: str, ms: int = 0) -> None:
        """A status-bar message for ``ms`` milliseconds (0: until the next one); empty text clears it."""
        if text:
            self.statusBar().showMessage(text, ms)
        else:
            self.statusBar().clearMessage()

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
        self.presenter.refresh_timeline()

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
        self.presenter.schedule_render()

    def _refresh_all(self) -> None:
        self.presenter.refresh_all()
        self.recent_menu.refresh()

    # ================================================================== closing
    def closeEvent(self, e: QCloseEvent) -> None:
        if not self.projects.confirm_close():
            e.ignore()
            return
        self.settings.qs.setValue("window/geometry", self.saveGeometry())
        self.settings.qs.setValue("window/state", self.saveState())
        self.settings.sync()
        self.session.close()
        super().closeEvent(e)
