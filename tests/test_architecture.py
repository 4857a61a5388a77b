"""House rules that a tool, not a convention, keeps: core, eval and training never import Qt."""

import subprocess
import sys


def test_core_eval_and_training_import_without_qt():
    code = (
        "import sys, pkgutil, importlib\n"
        "import litlora_desktop.core as c, litlora_desktop.eval as e, litlora_desktop.training as t\n"
        "for pkg in (c, e, t):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'superqt', 'qtpy', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt modules imported by core/eval/training: {out.stdout.strip()}"


def test_no_torchvision_dependency():
    from pathlib import Path

    import tomllib

    data = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = [d for group in data["project"]["optional-dependencies"].values() for d in group]
    deps = " ".join(data["project"]["dependencies"] + extras)
    assert "torchvision" not in deps.lower()
