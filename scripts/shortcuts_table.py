"""Print (or write into README.md) the keyboard-shortcut table, generated from the app's registry.

The README's table sits between ``<!-- shortcuts:start -->`` and ``<!-- shortcuts:end -->``; a test
fails when it no longer matches ``litlora_desktop/ui/shortcuts.py``:

    .venv/bin/python scripts/shortcuts_table.py            # print the table
    .venv/bin/python scripts/shortcuts_table.py --write    # update README.md in place
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.ui.shortcuts import ACTIONS  # noqa: E402

START, END = "<!-- shortcuts:start -->", "<!-- shortcuts:end -->"
README = ROOT / "README.md"
_SELECT = re.compile(r"obj\.select(\d)$")


def _keys(key: str) -> str:
    return " or ".join(f"`{k.strip()}`" for k in key.split("|") if k.strip()) or "—"


def table() -> str:
    """Markdown rows in registry order; the nine "select object N" actions share one row."""
    rows = ["| menu | action | key |", "| --- | --- | --- |"]
    selects = [a for a in ACTIONS.values() if _SELECT.match(a.id)]
    for spec in ACTIONS.values():
        if _SELECT.match(spec.id):
            if spec is selects[0]:
                keys = f"`{selects[0].key}` … `{selects[-1].key}`"
                rows.append(f"| {spec.group} | Select object {selects[0].key}–{selects[-1].key} | {keys} |")
            continue
        rows.append(f"| {spec.group} | {spec.label.replace('|', '/')} | {_keys(spec.key)} |")
    return "\n".join(rows)


def readme_block() -> str:
    return f"{START}\n{table()}\n{END}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="replace the table in README.md")
    args = p.parse_args(argv)
    if not args.write:
        print(table())
        return 0
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + readme_block() + tail, encoding="utf-8")
    print("README.md: shortcut table updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
