"""The model side of the app: one ``EngineState`` (tracker, LIT-LoRA, video) driven by ``ModelThread``.

``EngineState`` (``engine_state.py``) is plain Python and runs only on the model thread. ``Engine`` is the GUI's handle on
it: every method queues a job and returns at once; results arrive as callbacks on the GUI thread.
The GUI never holds a tracker, so it cannot call one by mistake.

torch, transformers and the modules built on them (the tracker, LIT-LoRA, model loading) are imported
here only inside what runs on the model thread, never at module level: the window imports this module,
and importing torch on its way to the first paint kept the screen empty for seconds at start-up.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from litlora_desktop.core.model_ids import DEMO_MODEL, TINY_RANDOM
from litlora_desktop.core.video.sources import FrameSource, VideoSource
from litlora_desktop.workers.engine_state import APP_CORRECTIONS_AS_COND, EngineState, load_any_model
from litlora_desktop.workers.model_thread import Job, ModelThread, Priority
from litlora_desktop.workers.outcomes import ObjectUpdate, Prompt, TrackOutcome, sigmoid

if TYPE_CHECKING:
    from litlora_desktop.core.sam2.models import LoadedModel

__all__ = [
    "APP_CORRECTIONS_AS_COND",
    "DEMO_MODEL",
    "TINY_RANDOM",
    "Engine",
    "EngineState",
    "ObjectUpdate",
    "Prompt",
    "TrackOutcome",
    "sigmoid",
]


class LoadCancelled(Exception):
    """The user cancelled a model download (raised on the model thread, read on the GUI thread)."""


class Engine(QObject):
    """The GUI's asynchronous handle on ``EngineState``; one ``ModelThread`` runs every call."""

    model_loading = Signal(str)
    model_loaded = Signal(object)  # LoadedModel
    model_failed = Signal(str)  # user message ("" when the user cancelled)
    download_progress = Signal(int, int)
    video_opened = Signal(object)  # FrameSource
    video_failed = Signal(str, str)  # path, message
    error = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # The model thread is mostly Python between small torch kernels, so it holds the GIL often;
        # with the default 5 ms switch interval every Python->Qt->Python transition of a paint could
        # wait that long. 1 ms keeps the GUI's waits short at a small cost in model throughput.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.state = EngineState()
        self.thread = ModelThread(self)
        self.thread.busy_changed.connect(self.busy_changed)
        self.thread.start()
        self.model_ready = False
        self._load_job: Job | None = None
        self._closed = False

    # ---------------------------------------------------------------- plumbing
    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str = "",
        kind: str = "",
        background: bool = False,
        idle: bool = False,
        on_result: Callable[[Any], None] | None = None,
        on_yield: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_done: Callable[[], None] | None = None,
        pass_job: bool = False,
    ) -> Job:
        """Queue ``fn(*args)`` (or ``fn(*args, job)``) on the model thread: at once (interactive), in
        turn with the other ``background`` generators, or when nothing else waits (``idle``)."""

        def run(job: Job) -> Any:
            return fn(*args, job) if pass_job else fn(*args)

        job = Job(
            run,
            label=label or getattr(fn, "__name__", "job"),
            priority=Priority.IDLE if idle else Priority.BACKGROUND if background else Priority.INTERACTIVE,
            kind=kind,
            on_result=on_result,
            on_yield=on_yield,
            on_error=on_error or self._report,
            on_done=on_done,
        )
        return self.thread.submit(job)

    def _report(self, exc: BaseException) -> None:
        self.error.emit(str(exc) or exc.__class__.__name__)

    def pending(self, kind: str | None = None) -> int:
        return self.thread.pending(kind)

    def cancel(self, kind: str) -> None:
        self.thread.cancel_kind(kind)

    def shutdown(self) -> None:
        """Stop the model thread and free the tracker (blocks until the current step ends)."""
        if self._closed:
            return
        self._closed = True
        self.thread.stop()
        self.state.close()

    # ---------------------------------------------------------------- model and video
    def load_model(self, spec: str, device: str | None = None) -> Job:
        """Load (maybe download) a model on the model thread; the window stays live meanwhile."""
        if self._load_job is not None:
            self._load_job.cancel()
        cancel = threading.Event()

        def progress(done: int, total: int) -> None:
            if cancel.is_set():  # on the model thread, where the models module is loaded already
                from litlora_desktop.core.sam2.models import DownloadCancelled

                raise DownloadCancelled("Model download cancelled.")
            self.download_progress.emit(done, total)

        def run(job: Job) -> LoadedModel:
            if job.cancelled:
                cancel.set()
            from litlora_desktop.core.sam2.models import DownloadCancelled

            try:
                loaded = load_any_model(spec, device, progress)
            except DownloadCancelled as exc:  # told apart on the GUI thread, which never imports torch
                raise LoadCancelled(str(exc)) from exc
            self.state.set_model(loaded)
            return loaded

        def ok(loaded: LoadedModel) -> None:
            self.model_ready = True
            self.model_loaded.emit(loaded)

        def failed(exc: BaseException) -> None:
            msg = "" if isinstance(exc, LoadCancelled) else str(exc)
            self.model_failed.emit(msg)

        self.model_loading.emit(spec)
        job = Job(run, label=f"load {spec}", kind="load", on_result=ok, on_error=failed)
        orig_cancel = job.cancel

        def cancel_all() -> None:
            cancel.set()
            orig_cancel()

        job.cancel = cancel_all  # type: ignore[method-assign]
        self._load_job = job
        return self.thread.submit(job)

    def set_loaded_model(self, loaded: LoadedModel) -> Job:
        """Use a model the caller already has (tests, embedding)."""
        return self.call(
            self.state.set_model, loaded, label="set model", on_result=lambda _: self._set_ok(loaded)
        )

    def _set_ok(self, loaded: LoadedModel) -> None:
        self.model_ready = True
        self.model_loaded.emit(loaded)

    def open_video(self, path: str) -> Job:
        def run() -> FrameSource:
            src = VideoSource.open(path)
            if src.num_frames <= 0:
                raise ValueError(f"'{path}' holds no frames.")
            src.frame(0)  # fail now, with a message, rather than on the first paint
            self.state.set_source(src)
            return src

        return self.call(
            run,
            label=f"open {path}",
            kind="open",
            on_result=self.video_opened.emit,
            on_error=lambda exc: self.video_failed.emit(path, str(exc) or exc.__class__.__name__),
        )

    def set_source(self, source: FrameSource) -> Job:
        return self.call(
            self.state.set_source,
            source,
            label="set source",
            on_result=lambda _: self.video_opened.emit(source),
        )
