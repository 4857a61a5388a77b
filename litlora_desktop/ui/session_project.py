"""The project half of the annotation session: adopting a saved store, re-seeding the tracker from it,
LIT-LoRA adapters in and out of the project folder, and imported annotations.

A mixin of ``AnnotationSession`` (it shares its store, engine and signals). What the tracker is given
back when a project is reopened or annotations are imported: every object of the store, and one *mask
prompt* per frame whose record came from the user, from an accepted or auto-applied LoRA candidate, or
from an import (``_prompt_for``); frames SAM2 tracked are not prompts and are not re-seeded. Clicks are
not replayed: the stored mask is exactly what the user ended with, so it is the prompt.

Nothing here grows with the project on the GUI thread: it lists which records to give (no decoding),
and a background job on the model thread decodes and applies them, nearest the shown frame first, in
short steps a click slots in between (``workers/seeding.py``).

A saved store whose masks do not fit the video (another resolution) is not used: the video opens with a
new, empty store and ``store_mismatch`` says why; the window then keeps the project read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.sources import FrameSource
from litlora_desktop.workers.seeding import Seed, SeedQueue, apply_seeds, run_seeds

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
        self._seeds = SeedQueue()  # prompts the model thread has yet to give the tracker
        self._seed_job: Any = None

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
        self._reset_seeds()
        if self.store is None or not self.model_ready:
            return
        masks = self.store.snapshot().masks
        seeds: list[Seed] = []
        for info in self.store.objects:
            self._engine_add(info.id)
            seeds += self._seeds_for(info.id, masks.get(info.id, {}))
        self._queue_seeds(seeds)
        folder = self.adapters_folder
        if folder is not None and (folder / ADAPTER_META).is_file():
            st = self.engine.state

            def load() -> dict[int, list[str]]:
                return st.lora.load(folder) if st.lora is not None else {}

            self.engine.call(load, label="load adapters", on_result=self._adapters_loaded)

    def _seeds_for(self, oid: int, records: dict[int, Any]) -> list[Seed]:
        """The prompts (frame, object, record) the store's records of one object stand for; no decoding
        here: the model thread decodes a record when it gives it to the tracker."""
        out: list[Seed] = []
        for f in sorted(records):
            rec = records[f]
            if rec is None or rec.provenance.kind == "sam2":
                continue
            p = self.prompt_by_record.get(rec)
            self._prompted.add((f, oid))
            self.seeded.setdefault(oid, []).append(f)
            out.append((f, oid, p if p is not None else rec))
        return out

    def _reset_seeds(self) -> None:
        """A new tracker (video or model): seeds queued for the old one are dropped."""
        self.engine.cancel("seed")
        self._seed_job = None
        self._seeds = SeedQueue()

    def _queue_seeds(self, seeds: list[Seed]) -> None:
        """Hand seeds to the background seeding job (started when none runs)."""
        if not seeds or not self.model_ready:
            return
        self._seeds.put(seeds, center=self.current)
        self._start_seeding()

    def _start_seeding(self) -> None:
        if self._seed_job is not None or not len(self._seeds):
            return
        queue, holder = self._seeds, []
        self._seed_job = self.engine.call(
            run_seeds,
            self.engine.state,
            queue,
            pass_job=True,
            background=True,
            kind="seed",
            label="seed prompts",
            on_done=lambda: self._seeding_done(queue, holder[0]),
        )
        holder.append(self._seed_job)

    def _seeding_done(self, queue: SeedQueue, job: Any) -> None:
        if queue is not self._seeds or job is not self._seed_job:
            return  # a new tracker since: its own job runs
        self._seed_job = None
        if not job.cancelled:
            self._start_seeding()  # seeds put while the job was ending

    def _resume_seeding(self) -> None:
        """A new video or model did not come: the tracker that stays gets the rest of its seeds."""
        job = self._seed_job
        if job is not None and job.cancelled:
            self._seed_job = None
        self._start_seeding()

    def _seed_first(self, frames: list[int]) -> None:
        """Frames about to be tracked: their queued seeds go to the tracker before the tracking."""
        if not len(self._seeds):
            return
        urgent = self._seeds.take_frames(frames)
        if urgent:
            self.engine.call(apply_seeds, self.engine.state, urgent, kind="sync", label="seed prompts")

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
            masks = self.store.snapshot().masks
            self._queue_seeds([s for new in made for s in self._seeds_for(new.id, masks.get(new.id, {}))])
        if made and not self.selected:
            self.select(made[0].id)
        self.history_changed.emit()
        return made
