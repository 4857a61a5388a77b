"""The project half of the annotation session: adopting a saved store, re-seeding the tracker from it,
LIT-LoRA adapters in and out of the project folder, and imported annotations.

A mixin of ``AnnotationSession`` (it shares its store, engine and signals). What the tracker is given
back when a project is reopened or annotations are imported: every object of the store, and one *mask
prompt* per frame whose record came from the user, from an accepted or auto-applied LoRA candidate, or
from an import (``_prompt_for``); frames SAM2 tracked are not prompts and are not re-seeded. Clicks are
not replayed: the stored mask is exactly what the user ended with, so it is the prompt.

A saved store whose masks do not fit the video (another resolution) is not used: the video opens with a
new, empty store and ``store_mismatch`` says why; the window then keeps the project read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litlora_desktop.core.annotations import AnnotationStore
from litlora_desktop.core.video import FrameSource
from litlora_desktop.workers.engine import lora_available

ADAPTER_META = "litlora.json"


class ProjectSessionMixin:
    """Needs the host's ``store``, ``engine``, ``model_ready``, ``_prompt_for`` and signals."""

    def _init_project(self) -> None:
        self._next_store: AnnotationStore | None = None
        self.store_mismatch: str | None = (
            None  # why the last store given to open_video_with_store was not used
        )
        self.adapters_folder: Path | None = None  # adapters to load into each new tracker
        self.seeded: dict[int, list[int]] = {}  # object -> frames given to the tracker as mask prompts

    # ------------------------------------------------------------------ opening
    def open_video_with_store(
        self, path: str, store: AnnotationStore | None, adapters: Path | None = None
    ) -> None:
        """Open a video and annotate it into ``store`` (a reopened project's) instead of a new one."""
        self._next_store = store
        self.adapters_folder = adapters
        self.open_video(path)

    def _take_next_store(self, source: FrameSource) -> AnnotationStore | None:
        store, self._next_store = self._next_store, None
        self.store_mismatch = None
        if store is None:
            self.adapters_folder = None
            return None
        if store.height is None:
            store.height, store.width = int(source.height), int(source.width)
        if (store.height, store.width) != (int(source.height), int(source.width)):
            # the host (the window's project) tells the user; that store's project must stay untouched
            self.store_mismatch = (
                f"The project's masks are {store.width}×{store.height} but the video is "
                f"{source.width}×{source.height}."
            )
            self.adapters_folder = None
            return None
        store.num_frames = int(source.num_frames)
        return store

    # ------------------------------------------------------------------ tracker
    def _seed_tracker(self) -> None:
        """Give a fresh tracker every object and the store's prompt frames; load saved adapters."""
        self.seeded = {}
        if self.store is None or not self.model_ready:
            return
        for info in self.store.objects:
            self._engine_add(info.id)
            self._seed_frames(info.id, self.store.frames_for_object(info.id))
        folder = self.adapters_folder
        if folder is not None and lora_available() and (folder / ADAPTER_META).is_file():
            st = self.engine.state

            def load() -> dict[int, list[str]]:
                return st.lora.load(folder) if st.lora is not None else {}

            self.engine.call(load, label="load adapters", on_result=self._adapters_loaded)

    def _seed_frames(self, oid: int, frames: list[int]) -> None:
        for f in frames:
            p = self._prompt_for(self.store.get_record(f, oid))
            if p.kind == "none":
                continue
            self._prompted.add((f, oid))
            self.seeded.setdefault(oid, []).append(f)
            self.engine.call(self.engine.state.sync_prompt, oid, f, p, kind="sync", label="seed prompt")

    def _adapters_loaded(self, loaded: dict[int, list[str]]) -> None:
        n = sum(len(v) for v in loaded.values())
        if n:
            self.message.emit(f"Loaded {n} LIT-LoRA adapter{'s' if n != 1 else ''} from the project.")
        self.refresh_counts()

    def save_adapters(self, folder: Path) -> bool:
        """On the model thread: write the adapters into ``folder``; False when there are none."""
        lora = self.engine.state.lora
        if lora is None or not any(lora.num_adapters(o) for o in self.engine.state.object_ids):
            return False
        lora.save(folder)
        return True

    # ------------------------------------------------------------------ import
    def commit_import(self, scratch: AnnotationStore, label: str) -> list[Any]:
        """Copy what an importer read into ``scratch`` into the store as one undo step; the imported
        masks become mask prompts of the tracker on their frames. Returns the new objects."""
        if self.store is None:
            return []
        self._stop_auto()
        made = []
        with self.store.group(label):
            for info in scratch.objects:
                new = self.store.add_object(info.name, info.color, info.category)
                for f in scratch.frames_for_object(info.id):
                    self.store.set_record(f, new.id, scratch.get_record(f, info.id))
                made.append(new)
        if self.model_ready:
            for new in made:
                self._seed_frames(new.id, self.store.frames_for_object(new.id))
        if made and not self.selected:
            self.select(made[0].id)
        self.history_changed.emit()
        return made
