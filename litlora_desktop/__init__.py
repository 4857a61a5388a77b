"""LIT-LoRA Desktop: video object annotation with SAM2 that learns from each correction."""

__version__ = "0.1.0"
