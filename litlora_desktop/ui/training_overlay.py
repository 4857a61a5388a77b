"""The LIT-LoRA training progress box drawn over the video's top-right corner.

A child widget of the canvas, but nothing of the canvas's: it takes no input (mouse events pass
through it to the canvas) and shows only what the window hands it, so it lives in its own module.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget

MARGIN = 12  # from the parent's top and right edges


class TrainingOverlay(QFrame):
    """LIT-LoRA training progress drawn over the video; purely informative, never modal."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("trainingOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet(
            "#trainingOverlay { background: rgba(20, 22, 28, 200); border-radius: 6px; }"
            "QLabel { color: #e8e8e8; } QProgressBar { max-height: 6px; border: none;"
            " background: rgba(255,255,255,40); border-radius: 3px; }"
            "QProgressBar::chunk { background: #7ccf5a; border-radius: 3px; }"
        )
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 8)
        lay.setSpacing(4)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        self.hide()

    def show_progress(
        self, name: str, adapter: str, epoch: int, max_epochs: int, iou: float, finished: bool
    ) -> None:
        if finished:
            self.label.setText(f"LIT-LoRA · {name} · adapter {adapter} trained · IoU {iou:.2f}")
            self.bar.setRange(0, 1)
            self.bar.setValue(1)
        else:
            self.label.setText(
                f"LIT-LoRA · training {name} · {adapter} · epoch {epoch}/{max_epochs} · IoU {iou:.2f}"
            )
            self.bar.setRange(0, max(1, max_epochs))
            self.bar.setValue(min(epoch, max_epochs))
        self.adjustSize()
        self.show()
        self.raise_()
        self.place()

    def place(self) -> None:
        """Keep to the parent's top-right corner (after showing, and when the parent is resized)."""
        p = self.parentWidget()
        if p is not None:
            self.move(p.width() - self.width() - MARGIN, MARGIN)
