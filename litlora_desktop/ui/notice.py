"""A notice above the video that does not block: says something worth knowing, with a way to act on it.

Used when the app had to start with the demo model (the configured SAM2.1 is not on this machine and
cannot be downloaded now): the window stays usable, and the notice says why masks may be poor on real
footage and how to get the real model.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class NoticeBanner(QFrame):
    """A one-line notice with an action button and a close button; hidden until ``show_notice``."""

    action_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBanner")
        self.setStyleSheet(
            "#noticeBanner { background: #3b3420; border-bottom: 1px solid #8a7433; }"
            "#noticeBanner QLabel { color: #f2e2b0; }"
        )
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setObjectName("noticeText")
        self.action = QPushButton("Settings…", self)
        self.action.setObjectName("noticeAction")
        self.action.clicked.connect(self.action_requested)
        close = QPushButton("✕", self)
        close.setObjectName("noticeClose")
        close.setFlat(True)
        close.setToolTip("Hide this notice")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 6, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.action)
        lay.addWidget(close)
        self.hide()

    def show_notice(self, text: str, action: str = "Settings…") -> None:
        self.label.setText(text)
        self.action.setText(action)
        self.show()
