"""Hostile video paths: names the decoder cannot take must be refused with a sentence, not a crash."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from tests.hostile.conftest import run_isolated

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="non-UTF-8 file names need a Linux file system"
)


def test_non_utf8_video_name_is_refused_not_a_segfault(tmp_path, video_file):
    bad = os.fsencode(tmp_path) + b"/bad\xff.mp4"
    shutil.copyfile(video_file, bad)
    code = (
        "import os\n"
        "from litlora_desktop.core.video.errors import VideoError\n"
        "from litlora_desktop.core.video.sources import VideoSource\n"
        f"path = os.fsdecode({bad!r})\n"
        "try:\n"
        "    VideoSource.open(path)\n"
        "except VideoError as exc:\n"
        "    print('REFUSED', str(exc).encode('utf-8').decode('utf-8'))\n"
        "else:\n"
        "    print('OPENED')\n"
        "from pathlib import Path\n"
        "from litlora_desktop.core.video.file_reader import FileReader\n"
        "try:\n"
        "    FileReader(Path(path))\n"  # the reader itself, as workers and tests use it
        "except VideoError:\n"
        "    print('READER REFUSED')\n"
    )
    r = run_isolated(code)
    assert r.returncode == 0, f"the open crashed (exit code {r.returncode}): {r.stderr[-500:]}"
    assert r.stdout.startswith("REFUSED"), r.stdout + r.stderr
    msg = r.stdout.splitlines()[0].removeprefix("REFUSED ").strip()
    assert "bad" in msg and "rename" in msg.lower(), msg
    assert "READER REFUSED" in r.stdout, r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_writing_a_video_under_a_non_utf8_name_is_refused_not_a_segfault(tmp_path):
    """The overlay export and the video writer hand their path to OpenCV's FFmpeg writer, which takes
    it as UTF-8 text, exactly as the reader does."""
    folder = os.fsencode(tmp_path) + b"/out\xff"
    os.mkdir(folder)
    code = (
        "import os\n"
        "import numpy as np\n"
        "from litlora_desktop.core.annotations.formats.output import ExportError\n"
        "from litlora_desktop.core.annotations.formats.overlay import export_overlay\n"
        "from litlora_desktop.core.annotations.store import AnnotationStore\n"
        "from litlora_desktop.core.video.errors import VideoError\n"
        "from litlora_desktop.core.video.sources import ArrayVideoSource\n"
        "from litlora_desktop.core.video.writing import write_video_file\n"
        f"folder = os.fsdecode({folder!r})\n"
        "src = ArrayVideoSource(np.zeros((3, 32, 48, 3), np.uint8), fps=10.0)\n"
        "store = AnnotationStore()\n"
        "store.height, store.width = 32, 48\n"
        "for name, call in (\n"
        "    ('OVERLAY', lambda: export_overlay(store, src, os.path.join(folder, 'o.mp4'))),\n"
        "    ('WRITER', lambda: write_video_file(src, os.path.join(folder, 'v.mp4'))),\n"
        "):\n"
        "    try:\n"
        "        call()\n"
        "    except (ExportError, VideoError) as exc:\n"
        "        print(name, 'REFUSED', str(exc).encode('utf-8', 'replace').decode())\n"
        "    else:\n"
        "        print(name, 'WROTE')\n"
    )
    r = run_isolated(code)
    assert r.returncode == 0, f"the write crashed (exit code {r.returncode}): {r.stderr[-500:]}"
    lines = r.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines] == [["OVERLAY", "REFUSED"], ["WRITER", "REFUSED"]], (
        r.stdout + r.stderr
    )
    assert all("rename" in ln.lower() for ln in lines), r.stdout
    assert os.listdir(folder) == [], "a refused write leaves nothing behind"
