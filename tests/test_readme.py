"""The README's keyboard-shortcut table is generated from the registry and must stay current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("shortcuts_table", ROOT / "scripts" / "shortcuts_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_shortcut_table_matches_the_registry():
    mod = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert mod.readme_block() in readme, "run: python scripts/shortcuts_table.py --write"


def test_table_lists_every_action_once():
    from litlora_desktop.ui.shortcuts import ACTIONS

    rows = _script().table().splitlines()[2:]
    selects = [a for a in ACTIONS if a.startswith("obj.select")]
    assert len(rows) == len(ACTIONS) - len(selects) + 1
    assert any("`Ctrl+Z`" in r and "Undo" in r for r in rows)
    assert any("`Right` or `D`" in r for r in rows)  # alternatives of one action share its row
