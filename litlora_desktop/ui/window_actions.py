"""The window's actions, menus and toolbar, built from the shortcut registry (``shortcuts.ACTIONS``).

Construction only, kept apart from ``main_window`` so that the window reads as what it does rather
than how it is laid out: which actions are checkable, which keys auto-repeat, their icons, short
toolbar texts and tooltips, the menus' order and the toolbar's layout. The window hands in the
handlers and keeps the actions; nothing here runs once the window is built.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMenuBar, QSlider, QToolBar

from litlora_desktop.ui.shortcuts import ACTIONS, ShortcutMap

MENUS = ("File", "Edit", "View", "Tools", "Navigate", "Objects", "LIT-LoRA", "Help")
CHECKABLE = {"edit.no_overlap", "view.outline", "view.masks", "lora.toggle", "lora.compare", "lora.auto"}
TOOLS = ("tool.points", "tool.brush", "tool.eraser")  # one of them is checked at a time
AUTO_REPEAT = ("nav.next", "nav.prev", "edit.", "view.zoom", "tool.b", "tool.s")  # action id prefixes
ICONS = (
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
)
SHORT_TEXTS = (
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
)
TOOLBAR = (  # None: a separator; the opacity slider and the outline toggle follow
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
)
ICON_ONLY = ("file.open", "edit.undo", "edit.redo", "view.fit")  # well-known icons: save the width
LORA_TIP = "LIT_LoRA on/off (L): learn from each correction and propose candidates"


def icons_dir() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / "icons"


def icon(name: str) -> QIcon:
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def build_actions(
    window: QMainWindow, shortcuts: ShortcutMap, handlers: dict[str, Callable[..., Any]]
) -> dict[str, QAction]:
    """One action per registry entry, added to ``window`` (its keys work anywhere in it), each
    calling its handler: checkable ones with their new state, the others with nothing."""
    actions: dict[str, QAction] = {}
    tool_group = QActionGroup(window)
    for aid, spec in ACTIONS.items():
        act = QAction(spec.label, window)
        act.setObjectName(aid)
        act.setShortcuts(shortcuts.sequences(aid))
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setAutoRepeat(aid.startswith(AUTO_REPEAT))
        if aid in CHECKABLE:
            act.setCheckable(True)
            act.toggled.connect(handlers[aid])
        else:
            act.triggered.connect(lambda _=False, h=handlers[aid]: h())
        if aid in TOOLS:
            act.setCheckable(True)
            tool_group.addAction(act)
        window.addAction(act)
        actions[aid] = act
    actions["tool.points"].setChecked(True)
    for aid, name in ICONS:
        actions[aid].setIcon(icon(name))
    for aid, short in SHORT_TEXTS:
        actions[aid].setIconText(short)
        actions[aid].setToolTip(f"{ACTIONS[aid].label} ({shortcuts.key(aid).replace('|', ' or ')})")
    actions["lora.toggle"].setText("LIT_LoRA")
    actions["lora.toggle"].setToolTip(LORA_TIP)
    return actions


def build_menus(menubar: QMenuBar, actions: dict[str, QAction], recent_menu: QMenu) -> dict[str, QMenu]:
    """The menus in registry order; ``recent_menu`` goes into File above Settings."""
    groups: dict[str, QMenu] = {}
    for name in MENUS:
        groups[name] = menubar.addMenu(
            name.replace("File", "&File").replace("Edit", "&Edit").replace("Help", "&Help")
        )
    for aid, spec in ACTIONS.items():
        menu = groups[spec.group]
        if aid == "file.settings":
            menu.addMenu(recent_menu)
            menu.addSeparator()
        if aid == "file.quit":
            menu.addSeparator()
        menu.addAction(actions[aid])
    return groups


def build_toolbar(window: QMainWindow, actions: dict[str, QAction]) -> tuple[QToolBar, QSlider]:
    """The main toolbar, added to ``window``, and its opacity slider (0-100; the window connects it)."""
    tb = QToolBar("Main", window)
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(tb)
    for aid in TOOLBAR:
        if aid is None:
            tb.addSeparator()
        else:
            tb.addAction(actions[aid])
    tb.addWidget(QLabel("  Opacity ", tb))
    slider = QSlider(Qt.Orientation.Horizontal, tb)
    slider.setRange(0, 100)
    slider.setFixedWidth(100)
    slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    tb.addWidget(slider)
    tb.addAction(actions["view.outline"])
    for aid in ICON_ONLY:
        btn = tb.widgetForAction(actions[aid])
        if btn is not None:
            btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return tb, slider
