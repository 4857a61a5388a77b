"""Where the app's shipped files are: the repository's ``resources/``, or the bundle's copy of it."""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_MODEL_DIR = Path("models") / "sam2-demo"


def resources_dir() -> Path:
    """The app's resources: inside the bundle when frozen, else the repository's ``resources/``."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) / "resources" if base else Path(__file__).resolve().parents[2] / "resources"


def demo_model_dir() -> Path:
    """The demo SAM2's ``save_pretrained`` folder (trained here on synthetic shapes; README)."""
    return resources_dir() / DEMO_MODEL_DIR
