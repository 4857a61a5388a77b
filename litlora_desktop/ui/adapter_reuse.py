"""File ▸ Use adapters from another project…: another video's LIT-LoRA adapters, with their samples,
for this video's objects.

Kept apart from the window and the session because it is a short job of its own across three threads:
the picked folder is read on a background thread (its ``litlora.json`` and, for the names, its
project's store, which grows with that project); the user then confirms which of that project's
objects teach which of this one's (matched by name; a small dialog when names differ), and the
adapters load on the model thread, every file checked first, so a bad folder changes nothing and says
why in one sentence. Confirmed, not undone: the question before loading says what will load, and
Cancel leaves everything as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMessageBox,
    QWidget,
)

from litlora_desktop.core.annotations.manifest import ADAPTERS_DIR
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.files import read_regular_file
from litlora_desktop.ui.words import count
from litlora_desktop.workers.background import BackgroundTask

if TYPE_CHECKING:
    from litlora_desktop.ui.session import AnnotationSession

ADAPTER_META = "litlora.json"


@dataclass
class SavedObject:
    """One object of the other project that has something to teach: its name, adapters and samples."""

    id: int
    name: str
    adapters: int
    samples: int

    def describe(self) -> str:
        a, s = self.adapters, self.samples
        return f"{self.name} ({a} adapter{'s' if a != 1 else ''}, {s} sample{'s' if s != 1 else ''})"


@dataclass
class OtherProject:
    """What the picked folder offers: its adapters folder and its objects with adapters or samples."""

    folder: Path
    adapters: Path
    objects: list[SavedObject] = field(default_factory=list)


def read_other_project(picked: Path) -> OtherProject:
    """The adapters a picked folder (a project, or its ``adapters`` folder) offers; ValueError with a
    sentence for the user when it offers none. Runs off the GUI thread: it reads the project's store
    for the objects' names."""
    picked = Path(picked)
    if (picked / ADAPTERS_DIR / ADAPTER_META).is_file():
        project, adapters = picked, picked / ADAPTERS_DIR
    elif (picked / ADAPTER_META).is_file():
        project, adapters = picked.parent, picked
    else:
        raise ValueError(
            f"{picked} holds no LIT-LoRA adapters: pick a project folder (*.litlora) that was saved with "
            "adapters, or its adapters folder."
        )
    try:
        meta = json.loads(read_regular_file(adapters / ADAPTER_META))
        objects = meta["objects"]
        if not isinstance(objects, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        raise ValueError(
            f"The adapter list {adapters / ADAPTER_META} is damaged: it cannot be read as a list of adapters."
        ) from None
    names: dict[int, str] = {}
    try:
        names = {o.id: o.name for o in Project.open(project).store.objects}
    except Exception:  # no readable project around the adapters: the objects are named by their ids
        names = {}
    out = OtherProject(project, adapters)
    for key, info in objects.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(info, dict)):
            continue
        ads, smp = info.get("adapters"), info.get("samples") if info.get("samples_file") else []
        n_ads = len(ads) if isinstance(ads, list) else 0
        n_smp = len(smp) if isinstance(smp, list) else 0
        if n_ads or n_smp:
            oid = int(key)
            out.objects.append(SavedObject(oid, names.get(oid, f"object {oid}"), n_ads, n_smp))
    if not out.objects:
        raise ValueError(f"{picked} holds no trained LIT-LoRA adapters or samples to use.")
    return out


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


class AdapterMapDialog(QDialog):
    """Which object here each object of the other project teaches; "(not used)" leaves it out."""

    def __init__(
        self, other: OtherProject, here: list[tuple[int, str]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("adapterMapDialog")
        self.setWindowTitle("Use adapters from another project")
        form = QFormLayout(self)
        intro = QLabel(
            f"The objects of {other.folder.name} have other names than this project's. Choose which "
            "object here each one's adapters and samples are for:",
            self,
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        self.boxes: dict[int, QComboBox] = {}
        for obj in other.objects:
            box = QComboBox(self)
            box.setObjectName(f"mapObject{obj.id}")
            box.addItem("(not used)", 0)
            for oid, name in here:
                box.addItem(name, oid)
            match = next((oid for oid, name in here if _same_name(name, obj.name)), 0)
            box.setCurrentIndex(box.findData(match))
            form.addRow(obj.describe(), box)
            self.boxes[obj.id] = box
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use adapters")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def mapping(self) -> dict[int, int]:
        """Saved object id -> object id here, for the objects that are used."""
        return {sid: int(box.currentData()) for sid, box in self.boxes.items() if int(box.currentData())}


class AdapterReuse(QObject):
    """File ▸ Use adapters from another project… (see the module docstring). ``dialog`` is the open
    mapping dialog, ``last_loaded`` what the last load reported (tests read them)."""

    status = Signal(str, int)  # a status-bar message and its duration in ms
    problem = Signal(str, str)  # title, text

    def __init__(self, session: AnnotationSession, project_path: Any, window: QWidget) -> None:
        """``project_path()``: the open project's folder (None: none), whose own adapters are refused."""
        super().__init__(window)
        self._session = session
        self._project_path = project_path
        self._window = window
        self._task: BackgroundTask | None = None
        self.dialog: AdapterMapDialog | None = None
        self.last_loaded: Any = None

    def choose(self) -> None:
        """Pick another project's folder, then match its objects and load (each step asks)."""
        if not self._ready():
            return
        mine = self._project_path()
        start = str(mine.parent) if mine is not None else ""
        folder = QFileDialog.getExistingDirectory(
            self._window, "Use adapters from another project (*.litlora)", start
        )
        if folder:
            self.start(Path(folder))

    def _ready(self) -> bool:
        s = self._session
        if s.store is None or not s.store.objects:
            self.status.emit("Open a video and add its objects first: adapters are for objects.", 6000)
            return False
        if not s.model_ready:
            self.status.emit("Adapters need a SAM2 model: load one in Settings ▸ Model.", 6000)
            return False
        return True

    def start(self, folder: Path) -> None:
        """Read what ``folder`` offers off the GUI thread, then ask how to use it."""
        if not self._ready() or self._task is not None:
            return
        mine = self._project_path()
        if mine is not None and _inside(Path(folder), mine):
            self.problem.emit(
                "Cannot use those adapters",
                f"{folder} is this project's own folder: its adapters are loaded already.",
            )
            return
        task = BackgroundTask(lambda _p, _c: read_other_project(folder), "adapters", self)
        task.succeeded.connect(self._offer)
        task.failed.connect(lambda exc: self.problem.emit("Cannot use those adapters", str(exc)))
        task.finished.connect(lambda: setattr(self, "_task", None))
        self._task = task.start()

    def _offer(self, other: OtherProject) -> None:
        s = self._session
        if s.store is None:
            return
        here = [(o.id, o.name) for o in s.store.objects]
        by_name = {}
        for obj in other.objects:
            match = [oid for oid, name in here if _same_name(name, obj.name)]
            if len(match) == 1:
                by_name[obj.id] = match[0]
        if len(by_name) == len(other.objects):
            pairs = "\n".join(f"• {o.describe()} → {dict(here)[by_name[o.id]]}" for o in other.objects)
            ans = QMessageBox.question(
                self._window,
                "Use adapters from another project",
                f"Load these adapters and samples from {other.folder.name} into this project's objects "
                f"of the same name?\n\n{pairs}\n\nThey add to the adapters these objects have; Cancel "
                "changes nothing.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Yes,
            )
            if ans == QMessageBox.StandardButton.Yes:
                self.load(other, by_name)
            return
        dlg = AdapterMapDialog(other, here, self._window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._mapped(other, dlg.mapping()))
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dlg
        dlg.open()

    def _mapped(self, other: OtherProject, mapping: dict[int, int]) -> None:
        if not mapping:
            self.status.emit("No adapters loaded: no object was chosen for them.", 6000)
            return
        self.load(other, mapping)

    def load(self, other: OtherProject, mapping: dict[int, int]) -> None:
        """On the model thread: the chosen objects' adapters and samples, every file checked first."""
        s = self._session
        st = s.engine.state
        names = {o.id: o.name for o in other.objects}

        def run() -> Any:
            if st.lora is None:
                raise ValueError("Adapters need a SAM2 model: load one in Settings ▸ Model.")
            return st.lora.restore(other.adapters, mapping, same_video=False, only=set(mapping))

        def done(report: Any) -> None:
            self.last_loaded = report
            n = sum(len(v) for v in report.adapters.values())
            k = sum(report.samples.values())
            here = {o.id: o.name for o in s.store.objects} if s.store is not None else {}
            pairs = ", ".join(f"{names[a]} → {here.get(b, b)}" for a, b in mapping.items())
            off = "" if s.lora_on else " Switch LIT_LoRA on (L) to see their candidates."
            self.status.emit(
                f"Loaded {count(n, 'adapter')} and {count(k, 'sample')} from "
                f"{other.folder.name} ({pairs}).{off}",
                10000,
            )
            s.lora.refresh_counts()
            s.lora.refresh_candidates(s.current)

        s.engine.call(
            run,
            label="use adapters",
            on_result=done,
            on_error=lambda exc: self.problem.emit("Cannot use those adapters", str(exc)),
        )


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it."""
    try:
        p, f = path.resolve(), folder.resolve()
    except OSError:
        return False
    return p == f or f in p.parents
