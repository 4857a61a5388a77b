"""Write resources/selftest/tiny_config.json: the tiny SAM2 config that ``--self-test`` builds a model from.

The config (not weights) ships with the app and the bundle, so the self-test needs no download and
the random model is rebuilt in a fraction of a second. It is ``tiny_config(64, init_std=0.2)``, the
tests' model with realistic logit scales; a test keeps the file in step with the code.

    .venv/bin/python scripts/make_selftest_config.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.core.sam2.models import tiny_config  # noqa: E402

OUT = ROOT / "resources" / "selftest" / "tiny_config.json"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tiny_config(64, init_std=0.2).to_json_file(str(OUT), use_diff=True)
    print(f"{OUT}: {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
