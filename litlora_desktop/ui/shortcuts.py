"""Every keyboard action of the app in one registry: id, label, default key, context.

Keys are settings (``shortcuts/<id>`` in QSettings), so an annotator can remap them; the registry can
say which actions share a key in the same context, and the Help dialog lists them all from here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence


@dataclass(frozen=True)
class ActionSpec:
    """One user action: what it is called, which key runs it by default, where the key applies."""

    id: str
    label: str
    key: str  # one or more key sequences separated by "|", e.g. "Right|D"
    group: str
    context: str = "window"  # "window": anywhere in the main window

    @property
    def keys(self) -> list[str]:
        return split_keys(self.key)


_SPECS: list[ActionSpec] = [
    # File
    ActionSpec("file.open", "Open video, frame folder or project…", "Ctrl+O", "File"),
    ActionSpec("file.open_project", "Open project folder…", "Ctrl+Shift+O", "File"),
    ActionSpec("file.save", "Save project", "Ctrl+S", "File"),
    ActionSpec("file.save_as", "Save project as…", "Ctrl+Shift+S", "File"),
    ActionSpec("file.import", "Import annotations (DAVIS, COCO, CVAT)…", "Ctrl+I", "File"),
    ActionSpec("file.use_adapters", "Use adapters from another project…", "Ctrl+Shift+I", "File"),
    ActionSpec("file.export", "Export…", "Ctrl+E", "File"),
    ActionSpec("file.settings", "Settings…", "Ctrl+,", "File"),
    ActionSpec("file.quit", "Quit", "Ctrl+Q", "File"),
    # Edit
    ActionSpec("edit.undo", "Undo", "Ctrl+Z", "Edit"),
    ActionSpec("edit.redo", "Redo", "Ctrl+Shift+Z", "Edit"),
    ActionSpec("edit.clear_frame", "Clear the selected object's prompts on this frame", "Backspace", "Edit"),
    ActionSpec("edit.no_overlap", "Keep masks of different objects from overlapping", "Shift+O", "Edit"),
    # Tools
    ActionSpec("tool.points", "Point tool (left: positive, right: negative, shift-drag: box)", "V", "Tools"),
    ActionSpec("tool.brush", "Brush: paint the selected object's mask", "B", "Tools"),
    ActionSpec("tool.eraser", "Eraser: erase from the selected object's mask", "E", "Tools"),
    ActionSpec("tool.bigger", "Bigger brush (also Ctrl+wheel)", "]", "Tools"),
    ActionSpec("tool.smaller", "Smaller brush (also Ctrl+wheel)", "[", "Tools"),
    # View
    ActionSpec("view.fit", "Fit the frame to the window", "F", "View"),
    ActionSpec("view.zoom_in", "Zoom in (also the mouse wheel)", "Ctrl+=", "View"),
    ActionSpec("view.zoom_out", "Zoom out", "Ctrl+-", "View"),
    ActionSpec("view.actual", "Actual size (100 %)", "Ctrl+0", "View"),
    ActionSpec("view.outline", "Masks: outline only / filled", "O", "View"),
    ActionSpec("view.masks", "Show or hide all masks", "M", "View"),
    ActionSpec("view.opacity_up", "More mask opacity", "Ctrl+Up", "View"),
    ActionSpec("view.opacity_down", "Less mask opacity", "Ctrl+Down", "View"),
    # Navigate
    ActionSpec("nav.next", "Next frame (tracks it)", "Right|D", "Navigate"),
    ActionSpec("nav.prev", "Previous frame", "Left|A", "Navigate"),
    ActionSpec("nav.next10", "Ten frames forward (tracks them)", "Shift+Right|Shift+D", "Navigate"),
    ActionSpec("nav.prev10", "Ten frames back", "Shift+Left|Shift+A", "Navigate"),
    ActionSpec("nav.first", "First frame", "Home", "Navigate"),
    ActionSpec("nav.last", "Last frame", "End", "Navigate"),
    ActionSpec("nav.play", "Play / pause (tracks until a frame looks wrong)", "Space", "Navigate"),
    ActionSpec("nav.propagate", "Propagate to the end (again: stop)", "P", "Navigate"),
    ActionSpec("nav.propagate_back", "Propagate back to the start", "Shift+P", "Navigate"),
    ActionSpec(
        "nav.propagate_object", "Propagate the selected object to the end (again: stop)", "Ctrl+P", "Navigate"
    ),
    ActionSpec(
        "nav.propagate_object_back",
        "Propagate the selected object back to the start",
        "Ctrl+Shift+P",
        "Navigate",
    ),
    ActionSpec("nav.next_suspect", "Next suspect frame", "S", "Navigate"),
    ActionSpec("nav.prev_suspect", "Previous suspect frame", "Shift+S", "Navigate"),
    # Objects
    ActionSpec("obj.add", "New object", "N", "Objects"),
    ActionSpec("obj.rename", "Rename the selected object", "F2", "Objects"),
    ActionSpec("obj.recolor", "Recolour the selected object", "Shift+C", "Objects"),
    ActionSpec("obj.hide", "Hide / show the selected object", "H", "Objects"),
    ActionSpec("obj.delete", "Delete the selected object (undoable)", "Delete", "Objects"),
    *[ActionSpec(f"obj.select{i}", f"Select object {i}", str(i), "Objects") for i in range(1, 10)],
    # LIT-LoRA
    ActionSpec("lora.toggle", "LIT_LoRA on / off", "L", "LIT-LoRA"),
    ActionSpec("lora.accept1", "Accept candidate 1", "Q", "LIT-LoRA"),
    ActionSpec("lora.accept2", "Accept candidate 2", "W", "LIT-LoRA"),
    ActionSpec("lora.accept3", "Accept candidate 3", "R", "LIT-LoRA"),
    ActionSpec("lora.keep", "Keep SAM2's mask (dismiss the candidates)", "Return", "LIT-LoRA"),
    ActionSpec("lora.hide", "Hide the candidates", "Esc", "LIT-LoRA"),
    ActionSpec("lora.compare", "Compare SAM2's mask and the top candidate side by side", "C", "LIT-LoRA"),
    ActionSpec("lora.auto", "Auto-apply confident candidates", "U", "LIT-LoRA"),
    # Help
    ActionSpec("help.shortcuts", "Keyboard shortcuts", "F1", "Help"),
]

ACTIONS: dict[str, ActionSpec] = {s.id: s for s in _SPECS}


def split_keys(text: str) -> list[str]:
    """ "Right|D" -> ["Right", "D"] (empty parts dropped)."""
    return [k.strip() for k in str(text).split("|") if k.strip()]


def normalized(key: str) -> str:
    """A key sequence in Qt's portable text form, so "ctrl+z" and "Ctrl+Z" compare equal."""
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


class ShortcutMap:
    """The effective key of each action: the default unless the user remapped it in QSettings."""

    GROUP = "shortcuts"

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings or QSettings()

    def key(self, action_id: str) -> str:
        """The action's keys as text ("Right|D"); "" when the user removed them."""
        spec = ACTIONS[action_id]
        value = self._settings.value(f"{self.GROUP}/{action_id}", None)
        return spec.key if value is None else str(value)

    def sequences(self, action_id: str) -> list[QKeySequence]:
        return [QKeySequence(k) for k in split_keys(self.key(action_id))]

    def set_key(self, action_id: str, key: str) -> None:
        """Remap an action (an empty string removes its key); the default is not stored."""
        if action_id not in ACTIONS:
            raise KeyError(action_id)
        if [normalized(k) for k in split_keys(key)] == [normalized(k) for k in ACTIONS[action_id].keys]:
            self._settings.remove(f"{self.GROUP}/{action_id}")
        else:
            self._settings.setValue(f"{self.GROUP}/{action_id}", key)

    def reset(self) -> None:
        self._settings.remove(self.GROUP)

    def all_keys(self) -> dict[str, str]:
        return {aid: self.key(aid) for aid in ACTIONS}

    def conflicts(self, keys: dict[str, str] | None = None) -> list[tuple[str, list[str]]]:
        """[(key, [action ids])] for every key bound to more than one action in one context."""
        keys = self.all_keys() if keys is None else keys
        seen: dict[tuple[str, str], list[str]] = defaultdict(list)
        for aid, text in keys.items():
            for key in split_keys(text):
                k = normalized(key)
                if k and aid not in seen[(ACTIONS[aid].context, k)]:
                    seen[(ACTIONS[aid].context, k)].append(aid)
        return [(k, ids) for (_, k), ids in seen.items() if len(ids) > 1]
