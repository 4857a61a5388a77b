"""The one table of annotation formats: what each is called, what the user is told about it, and
the functions that export and import it.

The command line, the export and import dialogs and :func:`export` / :func:`import_annotations`
all look formats up here, so adding a format is one module and one entry in this table.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litlora_desktop.core.annotations.formats import coco, cvat, davis, mots, overlay, png, yolo
from litlora_desktop.core.annotations.formats.importing import AnnotationImportError, ImportResult
from litlora_desktop.core.annotations.formats.output import ExportError, ExportResult
from litlora_desktop.core.annotations.store import AnnotationStore

_EXACT = "Lossless: masks are written exactly."
_ONE_LABEL = "One label per pixel: where masks overlap, the later object in the list wins."


@dataclass(frozen=True)
class Format:
    """One annotation format: how the user knows it, and the functions that write and read it."""

    name: str  # the key: ``--format`` on the command line, what the dialogs hand back
    label: str  # the export dialog's entry
    note: str  # what the export dialog says about the format
    folder: bool  # the annotations are a folder (else one file with ``suffix``), both ways
    suffix: str  # the file's suffix; "" for a folder
    exporter: Callable[..., ExportResult] | None
    needs_video: bool = False  # the exporter draws the frames: ``exporter(store, source, out, ...)``
    import_label: str | None = None  # the import dialog's entry
    import_filter: str = ""  # the import file dialog's filter; "" for a folder
    importer: Callable[..., ImportResult] | None = None


_TABLE = (
    Format(
        "coco", "COCO instance segmentation, RLE (.json)", _EXACT, False, ".json", coco.export_coco,
        import_label="COCO RLE JSON", import_filter="COCO JSON (*.json)", importer=coco.import_coco,
    ),
    Format(
        "davis", "DAVIS / YouTube-VOS palette PNGs (folder)", _ONE_LABEL, True, "", davis.export_davis,
        import_label="DAVIS / YouTube-VOS palette PNG folder", importer=davis.import_davis,
    ),
    Format("png", "One PNG mask per object and frame (folder)", _EXACT, True, "", png.export_png),
    Format("mots", "MOTS challenge (folder)", _ONE_LABEL, True, "", mots.export_mots),
    Format(
        "yolo", "YOLO segmentation polygons — lossy (folder)", "Lossy: " + yolo.YOLO_LOSSY_WARNING,
        True, "", yolo.export_yolo,
    ),
    Format(
        "cvat", "CVAT for video 1.1 (.xml)", _EXACT, False, ".xml", cvat.export_cvat,
        import_label="CVAT video XML", import_filter="CVAT XML (*.xml)", importer=cvat.import_cvat,
    ),
    Format(
        "overlay", "Overlay video (.mp4)",
        "A video for reviewing: the masks drawn over the frames (not re-importable).",
        False, ".mp4", overlay.export_overlay, needs_video=True,
    ),
)  # fmt: skip
_BY_NAME = {f.name: f for f in _TABLE}
_IMPORT_ORDER = ("davis", "coco", "cvat")  # the import dialog's order: a folder of PNGs first

FORMATS = tuple(f.name for f in _TABLE if f.exporter is not None)


def format_named(name: str) -> Format:
    """The format called ``name``; KeyError when there is none."""
    return _BY_NAME[name]


def exporters() -> tuple[Format, ...]:
    """The formats that can be exported, in the order of :data:`FORMATS`."""
    return tuple(_BY_NAME[n] for n in FORMATS)


def importers() -> tuple[Format, ...]:
    """The formats that can be imported, in the import dialog's order."""
    return tuple(_BY_NAME[n] for n in _IMPORT_ORDER if _BY_NAME[n].importer is not None)


def export(
    fmt: str, store: AnnotationStore, out: str | os.PathLike, source: Any = None, **kwargs: Any
) -> ExportResult:
    """Run the exporter for ``fmt`` (one of :data:`FORMATS`); ``source`` is needed for ``overlay``."""
    spec = _BY_NAME.get(fmt)
    if spec is not None and spec.needs_video and spec.exporter is not None:
        if source is None:
            raise ExportError("The overlay video needs the project's video.")
        return spec.exporter(store, source, out, **kwargs)
    if spec is None or spec.exporter is None:
        raise ExportError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if source is not None and "num_frames" not in kwargs:
        kwargs["num_frames"] = int(source.num_frames)
    name = getattr(source, "name", None)
    if name:  # formats that name the video (COCO's images, CVAT's task) take its name
        params = inspect.signature(spec.exporter).parameters
        for key in ("video_name", "task_name"):
            if key in params and key not in kwargs:
                kwargs[key] = str(name)
    return spec.exporter(store, out, **kwargs)


def import_annotations(
    store: AnnotationStore, path: str | os.PathLike, fmt: str | None = None, **kwargs: Any
) -> ImportResult:
    """Import by format name (``davis``, ``coco``, ``cvat``) or guess it: folder, ``.json``, ``.xml``."""
    p = Path(path)
    if fmt is None:
        fmt = _guess_import_format(p)
    spec = _BY_NAME.get(fmt) if fmt is not None else None
    if spec is None or spec.importer is None:
        raise AnnotationImportError(
            f"Cannot tell the format of {p.name}: choose DAVIS (folder), COCO or CVAT."
        )
    return spec.importer(store, p, **kwargs)


def _guess_import_format(p: Path) -> str | None:
    """The importable format a folder or a file's suffix says, None when it says none."""
    is_dir = p.is_dir()
    for f in importers():
        if f.folder if is_dir else (not f.folder and f.suffix == p.suffix.lower()):
            return f.name
    return None
