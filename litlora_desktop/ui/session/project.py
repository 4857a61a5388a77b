"""What the window's project hands the session: the store to annotate into and its adapters folder.

Opening a project opens its video with the project's store instead of a new one; the store is kept
here until the video is open (``take_store``), and dropped when the video fails to open. A saved
store whose masks do not fit the video (another resolution) is not used: the video opens with a new,
empty store and ``store_mismatch`` says why; the window then keeps the project read-only. Imported
annotations arrive as a scratch store and are copied in as one undo step (``copy_import``).

Kept apart from the session because none of it is annotation: it is the hand-over between the
project on disk and the live session, and it must leave a project that does not fit untouched.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from litlora_desktop.core.annotations.records import ObjectInfo, default_color
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.sources import FrameSource


class SessionProject:
    """The store and adapters folder a project gives the next video; see the module docstring."""

    def __init__(self) -> None:
        self._next_store: AnnotationStore | None = None
        self.store_mismatch: str | None = None  # why the last store given to ``expect`` was not used
        self.adapters_folder: Path | None = None  # adapters to load into each new tracker

    def expect(self, store: AnnotationStore | None, adapters: Path | None) -> None:
        """The next video to open is annotated into ``store``, with the adapters in ``adapters``."""
        self._next_store = store
        self.adapters_folder = adapters

    def open_failed(self) -> None:
        """The video did not open: the store waiting for it is not used for a later one."""
        self._next_store = None

    def take_store(self, source: FrameSource) -> AnnotationStore | None:
        """The store waiting for ``source``, when there is one and it fits; None means a new store."""
        store, self._next_store = self._next_store, None
        self.store_mismatch = None
        if store is None:
            self.adapters_folder = None
            return None
        if store.height is None:
            store.height, store.width = int(source.height), int(source.width)
        if (store.height, store.width) != (int(source.height), int(source.width)):
            # the window tells the user; that store's project must stay untouched
            self.store_mismatch = (
                f"The project's masks are {store.width}×{store.height} but the video is "
                f"{source.width}×{source.height}."
            )
            self.adapters_folder = None
            return None
        store.num_frames = int(source.num_frames)
        return store


def copy_import(store: AnnotationStore, scratch: AnnotationStore, label: str) -> list[ObjectInfo]:
    """Copy every object of ``scratch`` (what an importer read) into ``store`` as one undo step;
    returns the new objects. Each gets a name and a colour of its own: a file's "object 1" in red
    next to the user's own red "object 1" could not be told apart in the list, the lanes or on the
    frame."""
    made = []
    names = {o.name for o in store.objects}
    colors = [o.color for o in store.objects]
    with store.group(label):
        for info in scratch.objects:
            generic = info.name in names and _GENERIC.fullmatch(info.name) is not None
            new = store.add_object(None if generic else _own_name(info.name, names), None, info.category)
            name = _own_name(new.name, names)  # the store's "object <id>" may be a user's name too
            color = _own_color(info.color, colors)
            if (name, color) != (new.name, new.color):
                new = store.update_object(new.id, name=name, color=color)
            names.add(new.name)
            colors.append(new.color)
            for f in scratch.frames_for_object(info.id):
                store.set_record(f, new.id, scratch.get_record(f, info.id))
            made.append(new)
    return made


_GENERIC = re.compile(r"object \d+")
_NEAR = 60  # colours closer than this (sum of channel differences) are hard to tell apart


def _own_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``… when an object already has it."""
    if name not in taken:
        return name
    k = 2
    while f"{name} ({k})" in taken:
        k += 1
    return f"{name} ({k})"


def _own_color(color: tuple[int, int, int], taken: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The file's colour unless an object has (nearly) it; else the first palette colour none has."""

    def free(c: tuple[int, int, int]) -> bool:
        return all(sum(abs(a - b) for a, b in zip(c, t, strict=True)) >= _NEAR for t in taken)

    if free(color):
        return color
    for k in itertools.count():
        if free(default_color(k)) or k > 10 * (len(taken) + 10):
            return default_color(k)
    raise AssertionError("unreachable")
