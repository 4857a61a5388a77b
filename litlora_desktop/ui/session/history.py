"""How much one undo or redo takes back, and the undo step tracking is written into.

The store records everything, tracking included; steps whose label starts with ``AUTO_PREFIX`` are
automatic. Undo takes back automatic steps until it has taken back one user step (a click, a brush
stroke, an accept, an object edit, a propagation); redo brings back one user step and the tracking
that followed it. A frame tracked on its own (a step, playback) is an automatic step of its own, taken
back with the edit before it. An explicit propagation (P, Shift+P) is a user step of its own,
"Propagate 40 frames": however many frames it tracks, one Ctrl+Z takes back the propagation and
nothing more, so a long run is never thrown away together with the click before it.

Kept apart from the session because these rules are about the store's history alone: the session
decides *when* to undo (after stopping playback, say), this class decides *how much*.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from litlora_desktop.core.annotations.store import AnnotationStore

AUTO_PREFIX = "Track"
PROPAGATE = "Propagate"


class UndoHistory:
    """The undo rules over one video's store, and the propagation group open on it."""

    def __init__(self) -> None:
        self._store: AnnotationStore | None = None
        self._propagation: contextlib.ExitStack | None = None
        self._frames: set[int] = set()  # frames the open propagation wrote
        self._reverse = False
        self._object_name = ""  # the one object the open propagation tracks ("": all)

    def attach(self, store: AnnotationStore | None) -> None:
        """A new video's store; a group still open on the old one is closed first."""
        self.close_propagation()
        self._store = store

    def open_propagation(self, reverse: bool, object_name: str = "") -> None:
        """Open the one undo step a propagation is written into (a user step: see the docstring);
        ``object_name``: the one object it tracks, named in the step ("Propagate cat 40 frames")."""
        self.close_propagation()
        if self._store is None:
            return
        stack = contextlib.ExitStack()
        stack.enter_context(self._store.group(PROPAGATE))
        self._propagation, self._frames, self._reverse = stack, set(), reverse
        self._object_name = object_name

    def close_propagation(self) -> None:
        """End the propagation's step, named after the frames it tracked ("Propagate back 3 frames")."""
        if self._propagation is not None:
            stack, self._propagation = self._propagation, None
            n = len(self._frames)
            way = " back" if self._reverse else ""
            what = f" {self._object_name}" if self._object_name else ""
            if self._store is not None:
                self._store.relabel_group(f"{PROPAGATE}{what}{way} {n} frame{'' if n == 1 else 's'}")
            stack.close()

    def frame_group(self, frame: int) -> AbstractContextManager[None]:
        """The undo step a tracked frame is written into: the open propagation's, else its own."""
        if self._propagation is not None:
            self._frames.add(frame)
            return contextlib.nullcontext()
        if self._store is None:
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
