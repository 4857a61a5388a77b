"""The formats annotations are exported to and imported from, one module each, and their registry.

Every exporter writes into a hidden temporary sibling of its output and renames it into place only
when complete (:mod:`.output`); every importer checks the whole input before it adds anything, as
one undo step (:mod:`.importing`). Both report progress and stop on a cancel (:mod:`.jobs`).
:mod:`.registry` is the table the command line and the dialogs read.
"""

from litlora_desktop.core.annotations.formats.importing import AnnotationImportError, ImportResult
from litlora_desktop.core.annotations.formats.jobs import ExportCancelled, Progress, ShouldCancel
from litlora_desktop.core.annotations.formats.output import (
    ExportError,
    ExportResult,
    check_not_protected,
    check_output,
    protected_paths,
)
from litlora_desktop.core.annotations.formats.registry import (
    FORMATS,
    Format,
    export,
    exporters,
    format_named,
    import_annotations,
    importers,
)

__all__ = [
    "FORMATS",
    "AnnotationImportError",
    "ExportCancelled",
    "ExportError",
    "ExportResult",
    "Format",
    "ImportResult",
    "Progress",
    "ShouldCancel",
    "check_not_protected",
    "check_output",
    "export",
    "exporters",
    "format_named",
    "import_annotations",
    "importers",
    "protected_paths",
]
