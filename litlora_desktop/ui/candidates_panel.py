"""LIT-LoRA candidates of the shown frame, with their confidence and the key that accepts each."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from litlora_desktop.ui.canvas_layers import CANDIDATE_COLORS, CANDIDATE_STYLES
from litlora_desktop.ui.settings import AUTO_THRESHOLD_MIN


def style_icon(index: int, size: int = 18) -> QIcon:
    """The dashed line style a candidate is outlined with on the canvas."""
    pm = QPixmap(size * 2, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    pen = QPen(QColor(*CANDIDATE_COLORS[index % 3]), 2, CANDIDATE_STYLES[index % 3])
    p.setPen(pen)
    p.drawLine(1, size // 2, size * 2 - 1, size // 2)
    p.end()
    return QIcon(pm)


class CandidatesPanel(QWidget):
    """Lists candidates; emits ``accept_requested(index)``, ``keep_requested``, auto-apply changes."""

    accept_requested = Signal(int)
    keep_requested = Signal()
    compare_toggled = Signal(bool)
    auto_apply_changed = Signal(bool, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys = ["Q", "W", "R"]
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemActivated.connect(lambda item: self.accept_requested.emit(self.list.row(item)))
        self.list.itemDoubleClicked.connect(lambda item: self.accept_requested.emit(self.list.row(item)))
        self.accept_button = QPushButton("Accept", self)
        self.accept_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_button.clicked.connect(lambda: self.accept_requested.emit(max(0, self.list.currentRow())))
        self.keep_button = QPushButton("Keep SAM2", self)
        self.keep_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.keep_button.clicked.connect(self.keep_requested)
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setCheckable(True)
        self.compare_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.compare_button.toggled.connect(self.compare_toggled)
        self.auto = QCheckBox("Auto-apply above", self)
        self.auto.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.threshold = QDoubleSpinBox(self)
        self.threshold.setRange(AUTO_THRESHOLD_MIN, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(2)
        self.threshold.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.auto.toggled.connect(self._auto_changed)
        self.threshold.valueChanged.connect(self._auto_changed)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.keep_button)
        row.addWidget(self.compare_button)
        auto_row = QHBoxLayout()
        auto_row.addWidget(self.auto)
        auto_row.addWidget(self.threshold)
        auto_row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.info)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        lay.addLayout(auto_row)
        self.set_candidates([], lora_on=False)

    def set_keys(self, keys: list[str], keep: str, hide: str, compare: str) -> None:
        self.keys = keys
        self._hint = f"{keep}: keep SAM2 · {hide}: hide · {compare}: compare"

    def set_auto(self, on: bool, threshold: float) -> None:
        for w in (self.auto, self.threshold):
            w.blockSignals(True)
        self.auto.setChecked(on)
        self.threshold.setValue(threshold)
        for w in (self.auto, self.threshold):
            w.blockSignals(False)

    def _auto_changed(self, *_: Any) -> None:
        self.auto_apply_changed.emit(self.auto.isChecked(), float(self.threshold.value()))

    def set_candidates(self, cands: list[Any], lora_on: bool, hidden: bool = False) -> None:
        self.list.clear()
        for i, c in enumerate(cands):
            key = self.keys[i] if i < len(self.keys) else ""
            iou = c.iou_with_sam
            agree = "" if iou != iou else f"\n      overlap with SAM2: {iou:.2f}"  # NaN check
            item = QListWidgetItem(
                style_icon(i), f"[{key}]  adapter {c.adapter}  ·  confidence {c.confidence:.0%}{agree}"
            )
            item.setToolTip(f"predicted IoU {c.predicted_iou:.2f}, object score {c.object_score:+.2f}")
            self.list.addItem(item)
        if cands:
            self.list.setCurrentRow(0)
        hint = getattr(self, "_hint", "Enter: keep SAM2 · Esc: hide · C: compare")
        if not lora_on:
            text = "LIT_LoRA is off (L). With it on, each correction trains an adapter and its candidates show here."
        elif hidden:
            text = "Candidates hidden (Esc shows them again)."
        elif cands:
            text = f"{len(cands)} candidate(s) for this frame. {hint}"
        else:
            text = "No candidates on this frame."
        self.info.setText(text)
        enabled = bool(cands)
        self.accept_button.setEnabled(enabled)
        self.keep_button.setEnabled(enabled)
        self.compare_button.setEnabled(enabled or self.compare_button.isChecked())
