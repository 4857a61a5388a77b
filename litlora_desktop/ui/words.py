"""How the window says counts and names in its short texts (status bar, messages): one wording."""

from __future__ import annotations

from litlora_desktop.workers.engine_state import UNLEARNED_FAILED, UNLEARNED_NO_PROMPT, UNLEARNED_PROMPTED


def count(n: int, what: str) -> str:
    """``1 adapter``, ``3 adapters``, ``0 samples``."""
    return f"{n} {what}{'s' if n != 1 else ''}"


def short_name(name: str, limit: int = 20) -> str:
    """A user's name for something, cut to ``limit`` characters with an ellipsis: the status bar's
    fields share its width with the message the user reads."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def unlearned(why: str, loading: bool) -> str:
    """Why a correction taught LIT-LoRA nothing (an ``UNLEARNED_*`` reason), as a clause; ``loading``:
    the project's prompts are still on their way to SAM2."""
    words = {  # short: the status bar's fields leave a message about 60 characters at 1100 px
        UNLEARNED_PROMPTED: "it holds an accepted candidate",
        UNLEARNED_NO_PROMPT: "prompts still loading" if loading else "no prompt to track from",
        UNLEARNED_FAILED: "SAM2's pass failed (see the log)",
    }
    return words.get(why, why)


def adapters_not_loaded(why: str) -> str:
    """The notice for a project whose saved adapters could not be loaded into this session."""
    return (
        f"{why}\n\nThe project's masks are open and you can go on working; LIT-LoRA starts without the "
        "saved adapters. Their files are kept: the next save moves them into adapters/unloaded-<date>/ "
        "and writes this session's adapters beside them."
    )
