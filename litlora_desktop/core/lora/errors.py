"""The one error LIT-LoRA raises for a request it cannot honour (a bad mask, a damaged adapter folder).

Its own module because the engine, the adapter bank and the adapter files all raise it.
"""

from __future__ import annotations

__all__ = ["LitLoRAError"]


class LitLoRAError(Exception):
    """A LIT-LoRA request that cannot be honoured; the message is meant for the user."""
