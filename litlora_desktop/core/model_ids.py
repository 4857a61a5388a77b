"""The names of the SAM2 models the app offers, without importing torch or transformers.

The window, its settings and the command line need these names before a model is loaded; importing
them from ``core/sam2/models.py`` pulled in torch and transformers (seconds) on the way to the first
paint. ``core/sam2/models.py`` re-exports them from here.
"""

from __future__ import annotations

DEFAULT_MODEL_ID = "facebook/sam2.1-hiera-tiny"
DEMO_MODEL = "demo"
"""The small SAM2 this repository trains on synthetic shapes and ships: works offline, knows shapes only."""
TINY_RANDOM = "tiny-random"
"""Developer model id: a tiny randomly initialised SAM2 (no download; masks are meaningless)."""
DEMO_LABEL = "Demo SAM2 (synthetic shapes, offline)"
MODEL_CHOICES: dict[str, str] = {
    "SAM2.1 tiny": "facebook/sam2.1-hiera-tiny",
    "SAM2.1 small": "facebook/sam2.1-hiera-small",
    "SAM2.1 base-plus": "facebook/sam2.1-hiera-base-plus",
    "SAM2.1 large": "facebook/sam2.1-hiera-large",
    DEMO_LABEL: DEMO_MODEL,
}
