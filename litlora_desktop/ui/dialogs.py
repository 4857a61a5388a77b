"""Dialogs: problems, settings (model, tracking, LIT-LoRA, display, shortcuts), shortcut help, download.

None of them blocks the event loop: they are opened with ``open()`` (window-modal) or ``show()``, so
model work keeps reporting while one is up, and tests can drive them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from litlora_desktop.core.model_ids import (
    DEMO_MODEL,
    FAMILIES,
    MODEL_CHOICES,
    TINY_RANDOM,
    FamilyInfo,
    family_of_hub_id,
)
from litlora_desktop.ui.settings import AUTO_THRESHOLD_MIN, AppSettings
from litlora_desktop.ui.shortcuts import ACTIONS, ShortcutMap, split_keys

DEVICES = ("auto", "cuda", "mps", "cpu")
LOCAL_FOLDER = "Local model folder…"
META_FILE = "Meta checkpoint file (.pt)…"
DEV_MODEL = "Tiny random model (developers: no download, meaningless masks)"


def notify(parent: QWidget, title: str, text: str, warning: bool = True) -> QMessageBox:
    """Show a message without blocking the event loop; the box deletes itself when closed."""
    box = QMessageBox(
        QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information,
        title,
        text,
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("problemDialog")
    box.open()
    return box


class DownloadDialog(QProgressDialog):
    """Model download progress with a Cancel button (cancelling stops the download job)."""

    def __init__(self, parent: QWidget, spec: str) -> None:
        super().__init__(f"Loading SAM2 model {spec}…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Loading model")
        self.setObjectName("downloadDialog")
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.spec = spec

    def progress(self, done: int, total: int) -> None:
        if total > 0:
            self.setRange(0, 1000)
            self.setValue(int(1000 * done / total))
            self.setLabelText(f"Downloading {self.spec}: {done / 2**20:.1f} of {total / 2**20:.1f} MB")
        else:
            self.setLabelText(f"Downloading {self.spec}: {done / 2**20:.1f} MB")


class ShortcutsTable(QTableWidget):
    """Action / keys table; editable (a key editor per row) or read-only for the help dialog."""

    def __init__(self, shortcuts: ShortcutMap, editable: bool, parent: QWidget | None = None) -> None:
        super().__init__(len(ACTIONS), 3, parent)
        self.shortcuts = shortcuts
        self.editable = editable
        self.setHorizontalHeaderLabels(["Group", "Action", "Keys"])
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.editors: dict[str, QKeySequenceEdit] = {}
        for row, (aid, spec) in enumerate(ACTIONS.items()):
            self.setItem(row, 0, QTableWidgetItem(spec.group))
            self.setItem(row, 1, QTableWidgetItem(spec.label))
            keys = shortcuts.key(aid)
            if editable:
                ed = QKeySequenceEdit(QKeySequence(", ".join(split_keys(keys))), self)
                ed.setObjectName(aid)
                self.editors[aid] = ed
                self.setCellWidget(row, 2, ed)
            else:
                text = "  or  ".join(
                    QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in split_keys(keys)
                )
                self.setItem(row, 2, QTableWidgetItem(text))
        self.resizeColumnToContents(0)
        self.setColumnWidth(2, 200)

    def edited_keys(self) -> dict[str, str]:
        """{action: "Key|Key"} as edited (a multi-chord edit becomes alternative keys)."""
        out = {}
        for aid, ed in self.editors.items():
            seq = ed.keySequence()
            parts = [
                QKeySequence(seq[i]).toString(QKeySequence.SequenceFormat.PortableText)
                for i in range(seq.count())
            ]
            out[aid] = "|".join(parts)
        return out


FAMILY_COLUMNS = ("Family", "Parameters (smallest size)", "Input", "Licence", "Runs on")


def _family_note(f: FamilyInfo) -> str:
    """One paragraph on a family: size, licence, where it runs well, how to get gated weights."""
    runs = (
        "GPU recommended"
        if f.gpu_recommended
        else "runs on a CPU, at seconds per frame; a GPU is much faster (the larger sizes need one)"
    )
    size = f"the {next(iter(f.hub_ids))} size" if len(f.hub_ids) > 1 else "one size"
    text = f"{f.label}: {f.params_m:.1f} M parameters ({size}), {f.input_size} px input, {f.licence}; {runs}."
    return f"{text} {f.access}" if f.access else text


def _family_table(parent: QWidget) -> QTableWidget:
    """The families side by side, read-only; a row's tooltip gives its hub ids and access note."""
    table = QTableWidget(len(FAMILIES), len(FAMILY_COLUMNS), parent)
    table.setObjectName("familyTable")
    table.setHorizontalHeaderLabels(FAMILY_COLUMNS)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, f in enumerate(FAMILIES):
        runs = "GPU recommended" if f.gpu_recommended else "CPU or GPU"
        cells = (f.label, f"{f.params_m:.1f} M", f"{f.input_size} px", f.licence, runs)
        tip = ", ".join(f.hub_ids.values()) + (f"\n{f.access}" if f.access else "")
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            table.setItem(row, col, item)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    # as tall as its rows: the help text below stays next to it instead of under a blank area
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setFixedHeight(
        header.sizeHint().height() + sum(table.rowHeight(r) for r in range(table.rowCount())) + 2
    )
    return table


class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard shortcuts: every action and its keys."""

    def __init__(self, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        self.resize(640, 620)
        self.table = ShortcutsTable(shortcuts, editable=False, parent=self)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter…")
        self.filter.textChanged.connect(self._filter)
        note = QLabel(
            "Mouse: left click = positive point, right click = negative point, shift-drag = box, click a point to remove it, wheel = zoom, middle-drag = pan, Ctrl+wheel = brush size. Keys can be changed in Settings ▸ Shortcuts.",
            self,
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.table)
        lay.addWidget(note)
        lay.addWidget(buttons)

    def _filter(self, text: str) -> None:
        t = text.lower()
        for row in range(self.table.rowCount()):
            hay = " ".join(
                (self.table.item(row, c).text() if self.table.item(row, c) else "") for c in range(3)
            ).lower()
            self.table.setRowHidden(row, bool(t) and t not in hay)


class SettingsDialog(QDialog):
    """Model choice and device, tracking and LIT-LoRA thresholds, display and shortcuts."""

    model_requested = Signal(str, str)  # model spec, device
    applied = Signal()

    def __init__(self, settings: AppSettings, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.resize(720, 560)
        self.settings, self.shortcuts = settings, shortcuts
        tabs = QTabWidget(self)
        tabs.addTab(self._model_tab(), "Model")
        tabs.addTab(self._tracking_tab(), "Tracking && LIT-LoRA")
        self.shortcut_table = ShortcutsTable(shortcuts, editable=True)
        sc = QWidget()
        sl = QVBoxLayout(sc)
        self.conflict_label = QLabel(sc)
        self.conflict_label.setWordWrap(True)
        self.conflict_label.setStyleSheet("color: #e0564a;")
        reset = QPushButton("Restore default keys", sc)
        reset.clicked.connect(self._reset_keys)
        sl.addWidget(self.shortcut_table)
        sl.addWidget(self.conflict_label)
        sl.addWidget(reset, 0, Qt.AlignmentFlag.AlignLeft)
        for ed in self.shortcut_table.editors.values():
            ed.editingFinished.connect(self._check_conflicts)
        tabs.addTab(sc, "Shortcuts")
        self.tabs = tabs
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        lay.addWidget(self.buttons)

    # ------------------------------------------------------------------ tabs
    def _model_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        self.model_combo = QComboBox(w)
        for label, hub_id in MODEL_CHOICES.items():
            self.model_combo.addItem(label if hub_id == DEMO_MODEL else f"{label}  ({hub_id})", hub_id)
        self.model_combo.addItem(LOCAL_FOLDER, "folder")
        self.model_combo.addItem(META_FILE, "file")
        self.model_combo.addItem(DEV_MODEL, TINY_RANDOM)
        self.path_edit = QLineEdit(w)
        self.path_edit.setPlaceholderText(
            "Folder written by save_pretrained (any family below), or a Meta sam2.1_hiera_*.pt file"
        )
        browse = QPushButton("Browse…", w)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.device_combo = QComboBox(w)
        self.device_combo.addItems(DEVICES)
        form.addRow("Model", self.model_combo)
        self.model_note = QLabel(w)
        self.model_note.setWordWrap(True)
        self.model_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.model_note)
        form.addRow("Path", path_row)
        form.addRow("Device", self.device_combo)
        self.family_table = _family_table(w)
        form.addRow(self.family_table)
        help_text = QLabel(
            "Hub models are downloaded once (with a progress dialog you can cancel) into the local model "
            "cache and then work offline. On a machine without internet, copy a model folder onto it and "
            "pick it as a local folder, or use one of Meta's SAM2 .pt checkpoints. LIT-LoRA works with every "
            "family above. The demo SAM2 ships with the "
            "app and needs no download, but it was trained on synthetic shapes only: use it to try the app, "
            "not for real footage.",
            w,
        )
        help_text.setWordWrap(True)
        form.addRow(help_text)
        filler = QWidget(w)  # takes the spare height, so the rows above keep together at the top
        filler.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        form.addRow(filler)
        src = str(self.settings.get("model/source"))
        idx = self.model_combo.findData(src)
        if idx < 0:
            p = Path(src)
            idx = self.model_combo.findData("file" if p.suffix.lower() in (".pt", ".pth") else "folder")
            self.path_edit.setText(src)
        self.model_combo.setCurrentIndex(idx)
        self.device_combo.setCurrentText(str(self.settings.get("model/device")))
        self.model_combo.currentIndexChanged.connect(self._model_kind_changed)
        self._model_kind_changed()
        return w

    def _tracking_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        self.suspect = QDoubleSpinBox(w)
        self.suspect.setRange(0.0, 1.0)
        self.suspect.setSingleStep(0.05)
        self.suspect.setValue(float(self.settings.get("track/suspect_threshold")))
        self.suspect.setToolTip(
            "A tracked frame whose object-presence probability is below this is suspect; playback stops there."
        )
        self.disagree = QDoubleSpinBox(w)
        self.disagree.setRange(0.0, 1.0)
        self.disagree.setSingleStep(0.05)
        self.disagree.setValue(float(self.settings.get("track/disagree_iou")))
        self.disagree.setToolTip(
            "A confident LoRA candidate overlapping SAM2's mask less than this makes the frame suspect."
        )
        self.auto_apply = QCheckBox(
            "Apply the best candidate without asking when its confidence is at least", w
        )
        self.auto_apply.setChecked(bool(self.settings.get("lora/auto_apply")))
        self.auto_threshold = QDoubleSpinBox(w)
        self.auto_threshold.setRange(AUTO_THRESHOLD_MIN, 1.0)
        self.auto_threshold.setSingleStep(0.01)
        self.auto_threshold.setValue(float(self.settings.get("lora/auto_threshold")))
        self.no_overlap = QCheckBox("Keep masks of different objects from overlapping", w)
        self.no_overlap.setChecked(bool(self.settings.get("edit/no_overlap")))
        self.opacity = QDoubleSpinBox(w)
        self.opacity.setRange(0.0, 1.0)
        self.opacity.setSingleStep(0.05)
        self.opacity.setValue(float(self.settings.get("view/opacity")))
        form.addRow("Suspect below presence", self.suspect)
        form.addRow("Suspect below candidate overlap", self.disagree)
        form.addRow(self.auto_apply)
        form.addRow("Auto-apply threshold", self.auto_threshold)
        form.addRow(self.no_overlap)
        form.addRow("Mask opacity", self.opacity)
        return w

    def _model_kind_changed(self) -> None:
        kind = self.model_combo.currentData()
        self.path_edit.setEnabled(kind in ("folder", "file"))
        family = family_of_hub_id(str(kind))
        self.model_note.setText(_family_note(family) if family is not None else "")

    def _browse(self) -> None:
        if self.model_combo.currentData() == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, "Meta SAM2 checkpoint", "", "SAM2 checkpoint (*.pt *.pth)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, "SAM2 model folder")
        if path:
            self.path_edit.setText(path)

    def _reset_keys(self) -> None:
        for aid, ed in self.shortcut_table.editors.items():
            ed.setKeySequence(QKeySequence(", ".join(ACTIONS[aid].keys)))
        self._check_conflicts()

    def _check_conflicts(self) -> list:
        conflicts = self.shortcuts.conflicts(self.shortcut_table.edited_keys())
        if conflicts:
            text = "; ".join(f"{k}: " + ", ".join(ACTIONS[a].label for a in ids) for k, ids in conflicts)
            self.conflict_label.setText(f"These keys are used twice — change one of each: {text}")
        else:
            self.conflict_label.setText("")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not conflicts)
        return conflicts

    # ------------------------------------------------------------------ result
    def model_spec(self) -> str:
        kind = self.model_combo.currentData()
        if kind in ("folder", "file"):
            return self.path_edit.text().strip()
        return str(kind)

    def accept(self) -> None:
        if self._check_conflicts():
            return
        spec, device = self.model_spec(), self.device_combo.currentText()
        if not spec:
            notify(self, "Settings", "Pick a model folder or checkpoint file, or choose a hub model.")
            return
        s = self.settings
        changed_model = spec != s.get("model/source") or device != s.get("model/device")
        s.set("model/source", spec)
        s.set("model/device", device)
        s.set("track/suspect_threshold", float(self.suspect.value()))
        s.set("track/disagree_iou", float(self.disagree.value()))
        s.set("lora/auto_apply", self.auto_apply.isChecked())
        s.set("lora/auto_threshold", float(self.auto_threshold.value()))
        s.set("edit/no_overlap", self.no_overlap.isChecked())
        s.set("view/opacity", float(self.opacity.value()))
        for aid, keys in self.shortcut_table.edited_keys().items():
            self.shortcuts.set_key(aid, keys)
        s.sync()
        self.applied.emit()
        if changed_model:
            self.model_requested.emit(spec, device)
        super().accept()
