"""The objects list: add, select, rename, recolour, hide and delete objects (all through signals)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from litlora_desktop.core.annotations.records import ObjectInfo

ROLE_ID = Qt.ItemDataRole.UserRole


def swatch(color: tuple[int, int, int], hidden: bool = False, size: int = 14) -> QIcon:
    """A small colour square (hollow when the object is hidden)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor(*color))
    if hidden:
        p.setBrush(Qt.BrushStyle.NoBrush)
    else:
        p.setBrush(QColor(*color))
    p.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    p.end()
    return QIcon(pm)


class ObjectsPanel(QWidget):
    """Widgets only; the session owns the objects. Emits what the user asked for."""

    add_requested = Signal()
    object_selected = Signal(int)
    rename_requested = Signal(int, str)
    recolor_requested = Signal(int)
    hide_toggled = Signal(int, bool)
    delete_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setIconSize(QSize(14, 14))
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemChanged.connect(self._item_changed)
        self._updating = False
        self._infos: dict[int, ObjectInfo] = {}
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        for key, text, tip in (
            ("add", "+", "New object (N)"),
            ("rename", "Rename", "Rename (F2, or double-click)"),
            ("color", "Colour", "Recolour (Shift+C)"),
            ("hide", "Hide", "Hide / show (H)"),
            ("delete", "Delete", "Delete, undoable (Delete)"),
        ):
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
            self.buttons[key] = b
        buttons.addStretch(1)
        self.buttons["add"].clicked.connect(self.add_requested)
        self.buttons["rename"].clicked.connect(self.edit_current_name)
        self.buttons["color"].clicked.connect(lambda: self._with_current(self.recolor_requested.emit))
        self.buttons["hide"].clicked.connect(
            lambda: self._with_current(lambda oid: self.hide_toggled.emit(oid, not self._infos[oid].hidden))
        )
        self.buttons["delete"].clicked.connect(lambda: self._with_current(self.delete_requested.emit))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list)
        lay.addLayout(buttons)

    def set_objects(
        self, infos: list[ObjectInfo], selected: int, details: dict[int, str] | None = None
    ) -> None:
        """Show the store's objects; ``details`` adds a line per object (e.g. LIT-LoRA counts)."""
        self._updating = True
        try:
            self._infos = {i.id: i for i in infos}
            self.list.clear()
            for n, info in enumerate(infos, start=1):
                item = QListWidgetItem(swatch(info.color, info.hidden), info.name)
                item.setData(ROLE_ID, info.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                tip = f"Key {n} selects it" if n <= 9 else ""
                extra = (details or {}).get(info.id, "")
                item.setToolTip("\n".join(t for t in (tip, extra) if t))
                if info.hidden:
                    item.setForeground(QColor(140, 140, 140))
                self.list.addItem(item)
                if info.id == selected:
                    self.list.setCurrentItem(item)
            has = bool(infos)
            for k in ("rename", "color", "hide", "delete"):
                self.buttons[k].setEnabled(has)
        finally:
            self._updating = False

    def set_selected(self, oid: int) -> None:
        self._updating = True
        try:
            for i in range(self.list.count()):
                if self.list.item(i).data(ROLE_ID) == oid:
                    self.list.setCurrentRow(i)
                    break
        finally:
            self._updating = False

    def current_id(self) -> int:
        item = self.list.currentItem()
        return int(item.data(ROLE_ID)) if item is not None else 0

    def edit_current_name(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.editItem(item)

    def _with_current(self, fn) -> None:
        oid = self.current_id()
        if oid:
            fn(oid)

    def _current_changed(self, current: QListWidgetItem | None, _prev) -> None:
        if not self._updating and current is not None:
            self.object_selected.emit(int(current.data(ROLE_ID)))

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        oid = int(item.data(ROLE_ID))
        name = item.text().strip()
        info = self._infos.get(oid)
        if info is not None and name and name != info.name:
            self.rename_requested.emit(oid, name)
        elif info is not None and not name:
            self._updating = True
            item.setText(info.name)
            self._updating = False
