"""Where an export is written: atomically, and never over what it was made from.

Every exporter writes into a hidden temporary sibling of the output and renames it into place only
when everything is written, so a cancel or an error never leaves a half-written dataset where a
training script might pick it up.

An export never replaces what it was made from: :func:`check_not_protected` refuses an output that is,
contains or lies inside the project folder (its saves, backup and autosave) or the project's video
(or frames folder); the GUI and the CLI call it with :func:`protected_paths` before exporting.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np


class ExportError(Exception):
    """An export cannot be done; the message is meant for the user."""


@dataclass
class ExportResult:
    """Where the export went, how many files it holds and what the user should know about it."""

    path: Path
    files: int
    warnings: list[str] = field(default_factory=list)


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, is_dir: bool, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; on success it replaces ``out``, on any failure it is removed.

    The temporary name keeps ``out``'s suffix because some writers (OpenCV's video writer) choose
    the container from it.
    """
    out = check_output(out, is_dir, overwrite)
    if is_dir and out.exists():
        check_replaceable_folder(out)
    parent = out.parent
    tmp = parent / f".{out.stem}.partial-{secrets.token_hex(4)}{out.suffix}"
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        if is_dir:
            _write_export_list(tmp)
        # again: minutes may have passed, and someone may have put files there (or made the output)
        check_output(out, is_dir, overwrite)
        if is_dir and out.exists():
            check_replaceable_folder(out)
        if out.exists():
            trash = parent / f".{out.name}.old-{secrets.token_hex(4)}"
            os.replace(out, trash)
            os.replace(tmp, out)
            _remove(trash)
        else:
            os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise


EXPORT_LIST = ".litlora-export.json"
"""In a folder an export wrote: the files it wrote, with their sizes and times. Replacing the folder
is allowed when it holds only those, unchanged (an earlier export, untouched): a folder with anything
else in it (a dataset, someone's documents, a project, a mask mended by hand) is never deleted."""

# what a file browser leaves in a folder it showed: no one's work
_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _files_in(folder: Path) -> dict[str, list[int]]:
    """Every file under ``folder`` (its export list and a file browser's litter aside): [size, mtime_ns]."""
    out = {}
    for p in folder.rglob("*"):
        if p.name == EXPORT_LIST or p.name in _LITTER or p.name.startswith("._") or not p.is_file():
            continue
        st = p.stat()
        out[p.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def _write_export_list(folder: Path) -> None:
    (folder / EXPORT_LIST).write_text(json.dumps({"files": _files_in(folder)}, indent=0), encoding="utf-8")


def check_replaceable_folder(out: Path) -> None:
    """Refuse to replace a folder unless it is empty, or an earlier export holding only what it wrote,
    unchanged since (its ``EXPORT_LIST``)."""
    try:
        here = _files_in(out)
    except OSError as exc:
        raise ExportError(f"{out} cannot be read to check what it holds: {exc.strerror or exc}.") from None
    if not here:
        return
    try:
        listed = json.loads((out / EXPORT_LIST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        listed = None
    listed = listed if isinstance(listed, dict) else {}
    others = [f for f, stamp in here.items() if listed.get(f) != stamp]
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise ExportError(
            f"{out} holds files that are not an earlier export's, unchanged ({shown}: your own files, "
            "edited ones, or an export of an older version); replacing it would delete them. Choose a "
            "new or empty folder."
        )


def check_output(out: str | os.PathLike, is_dir: bool, overwrite: bool = False) -> Path:
    """Fail before any work when ``out`` cannot be written (exists, or its folder does not)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(
            f"{out} already exists: choose another name, or let the export replace it "
            "(--overwrite; in the app, “Replace the output if it exists”)."
        )
    if out.exists() and out.is_dir() != is_dir:
        raise ExportError(f"{out} exists and is a {'folder' if out.is_dir() else 'file'}.")
    if not out.parent.is_dir():
        raise ExportError(f"The folder {out.parent} does not exist.")
    return out


def protected_paths(project: Any = None, *videos: str | os.PathLike | None) -> list[Path]:
    """What an export must never replace: ``project``'s folder (a ``core.annotations.project.Project``: its saves,
    backup, autosave and adapters) and its video or frames folder, plus any other ``videos``."""
    out: list[Path] = []
    if project is not None:
        out.append(Path(project.path))
        found = project.resolve_video_path()
        if found is not None:
            out.append(found)
        if project.video is not None:
            out += [Path(project.video.absolute), Path(project.path) / project.video.path]
    out += [Path(v) for v in videos if v]
    return out


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:  # case-insensitive file systems, and two spellings of one folder
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_protected(out: str | os.PathLike, protected: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output that is, contains or lies inside one of ``protected`` (symlinks and relative
    paths resolved): the export would replace it, or be written into it."""
    o = Path(out).resolve()
    for p in protected:
        if p is None:
            continue
        q = Path(p).resolve()
        if _same(o, q):
            how = "is"
        elif any(_same(a, q) for a in o.parents):
            how = "lies inside"
        elif any(_same(o, b) for b in q.parents):
            how = "contains"
        else:
            continue
        raise ExportError(
            f"Cannot export to {out}: it {how} {q}, part of the project or its video, which an export "
            "must never replace. Choose an output outside the project folder and the video."
        )


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8- or 16-bit PNG, or ExportError when it cannot be encoded."""
    # imencode + write: cv2.imwrite fails silently on some non-ASCII paths on Windows
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ExportError(f"Could not encode {path.name} as PNG.")
    path.write_bytes(buf.tobytes())
