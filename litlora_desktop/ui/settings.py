"""Typed access to the app's QSettings: one place that knows every key and its default."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

from litlora_desktop.core.model_ids import DEFAULT_MODEL_ID

DEFAULTS: dict[str, Any] = {
    "model/source": DEFAULT_MODEL_ID,
    "model/device": "auto",
    "view/opacity": 0.5,
    "view/outline": False,
    "view/masks": True,
    "edit/no_overlap": False,
    "brush/size": 12,
    "track/suspect_threshold": 0.5,  # object presence probability below this = suspect
    "track/disagree_iou": 0.5,  # a confident candidate overlapping SAM2 less than this = suspect
    "lora/auto_apply": False,
    "lora/auto_threshold": 0.9,
    "recent/files": [],
}

MAX_RECENT = 10
# The lowest auto-apply threshold offered: a user who trusts the adapters on a hard video may let
# almost every candidate through (0.5 was the floor, which took that choice away).
AUTO_THRESHOLD_MIN = 0.05


def _coerce(value: Any, default: Any) -> Any:
    """QSettings gives back strings on some back ends; bring a value back to its default's type."""
    if value is None:
        return default
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            return default
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            return default
    if isinstance(default, list):
        if isinstance(value, str):
            return [value] if value else []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else default
    return str(value)


class AppSettings:
    """Reads and writes the keys in ``DEFAULTS``, typed; the QSettings object is shared."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qs = qsettings or QSettings()

    def get(self, key: str) -> Any:
        return _coerce(self.qs.value(key, None), DEFAULTS[key])

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self.qs.setValue(key, value)

    def recent_files(self) -> list[str]:
        return self.get("recent/files")

    def add_recent(self, path: str) -> list[str]:
        """Put a path first in the recent list (no duplicates, at most ``MAX_RECENT``)."""
        files = [p for p in self.recent_files() if p != path]
        files.insert(0, path)
        files = files[:MAX_RECENT]
        self.set("recent/files", files)
        return files

    def remove_recent(self, path: str) -> None:
        self.set("recent/files", [p for p in self.recent_files() if p != path])

    def sync(self) -> None:
        self.qs.sync()
