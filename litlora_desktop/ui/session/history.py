"""How much one undo or redo takes back, and the undo step automatic tracking is written into.

The store records everything, tracking included; steps whose label starts with ``AUTO_PREFIX`` are
automatic. Undo takes back automatic steps until it has taken back one user step (a click, a brush
stroke, an accept, an object edit); redo brings back one user step and the tracking that followed it.
A propagation runs inside one open group, so however many frames it tracks it is one automatic step;
a frame tracked on its own (a step, playback) is a step of its own.

Kept apart from the session because these rules are about the store's history alone: the session
decides *when* to undo (after stopping playback, say), this class decides *how much*.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from litlora_desktop.core.annotations.store import AnnotationStore

AUTO_PREFIX = "Track"


class UndoHistory:
    """The undo rules over one video's store, and the propagation group open on it."""

    def __init__(self) -> None:
        self._store: AnnotationStore | None = None
        self._auto: contextlib.ExitStack | None = None

    def attach(self, store: AnnotationStore | None) -> None:
        """A new video's store; a group still open on the old one is closed first."""
        self.close_auto()
        self._store = store

    def open_auto(self, first: int, last: int) -> None:
        """Open the one undo step a propagation over frames ``first``…``last`` is written into."""
        self.close_auto()
        if self._store is None:
            return
        stack = contextlib.ExitStack()
        stack.enter_context(self._store.group(f"{AUTO_PREFIX} frames {first}–{last}"))
        self._auto = stack

    def close_auto(self) -> None:
        if self._auto is not None:
            stack, self._auto = self._auto, None
            stack.close()

    def frame_group(self, frame: int) -> AbstractContextManager[None]:
        """The undo step a tracked frame is written into: the open propagation's, else its own."""
        if self._auto is not None or self._store is None:
            return contextlib.nullcontext()
        return self._store.group(f"{AUTO_PREFIX} frame {frame}")

    def undo(self) -> str | None:
        """Take back the automatic steps on top and one user step; returns its label (None: nothing)."""
        store = self._store
        if store is None:
            return None
        while store.can_undo and (store.undo_label or "").startswith(AUTO_PREFIX):
            store.undo()
        if not store.can_undo:
            return None
        label = store.undo_label
        store.undo()
        return f"{label}"

    def redo(self) -> str | None:
        """Bring back one user step and the tracking that followed it; returns its label."""
        store = self._store
        if store is None or not store.can_redo:
            return None
        label = store.redo_label
        store.redo()
        while store.can_redo and (store.redo_label or "").startswith(AUTO_PREFIX):
            store.redo()
        return f"{label}"

    def undo_text(self) -> str:
        """The label of the user step the next undo takes back (what the Edit menu shows)."""
        if self._store is None:
            return ""
        for step in reversed(self._store.snapshot().undo):
            if not step.label.startswith(AUTO_PREFIX):
                return step.label
        return self._store.undo_label or ""
