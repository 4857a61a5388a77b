"""Which SAM2 model the session has: none, one loading, or one loaded; and what to tell the user
when a click needs a model that is not there.

Kept apart from the session because the model's state comes from the engine's signals alone (loading,
loaded, failed) and is read everywhere; the session only reacts when a model arrives (a new tracker
to seed) or fails to (the old tracker stays and gets the rest of its seeds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from litlora_desktop.workers.engine import Engine

if TYPE_CHECKING:
    from litlora_desktop.core.sam2.models import LoadedModel


class ModelSlot(QObject):
    """The session's SAM2 model; see the module docstring."""

    arrived = Signal(object)  # LoadedModel: it is in, with a new tracker
    failed = Signal()  # loading failed or was cancelled: the model that was in (if any) stays
    problem = Signal(str, str)  # title, text
    message = Signal(str)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine = engine
        self.loaded: LoadedModel | None = None
        self.loading = False
        engine.model_loading.connect(self._on_loading)
        engine.model_loaded.connect(self._on_loaded)
        engine.model_failed.connect(self._on_failed)

    @property
    def ready(self) -> bool:
        return self.loaded is not None

    def load(self, spec: str, device: str | None = None) -> Any:
        """Start loading a model (returns the job, cancellable); ``arrived`` or ``failed`` follows."""
        return self._engine.load_model(spec, device)

    def use(self, loaded: LoadedModel) -> None:
        """Use a model loaded elsewhere (a test's, the self-test's)."""
        self._engine.set_loaded_model(loaded)

    def _on_loading(self, _spec: str) -> None:
        self.loading = True

    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.loading = False
        self.arrived.emit(loaded)

    def _on_failed(self, msg: str) -> None:
        self.loading = False
        self.failed.emit()
        if msg:
            self.problem.emit("No SAM2 model", msg)
        else:
            self.message.emit("Model download cancelled.")

    def can_prompt(self) -> bool:
        """Whether SAM2 can take a click now; if not, the user is told why."""
        if not self.ready and self.loading:
            self.message.emit("The SAM2 model is still loading: click again in a moment.")
            return False
        if not self.ready:
            self.problem.emit(
                "No SAM2 model",
                "Clicks need a SAM2 model and none is loaded. Open Settings ▸ Model (Ctrl+,) to pick one, "
                "or start with --model pointing to a local model folder or a Meta .pt checkpoint.",
            )
            return False
        return True
