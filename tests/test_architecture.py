"""House rules that a tool, not a convention, keeps: core, eval and training never import Qt; only
``cluster`` imports Ray."""

import subprocess
import sys


def test_core_eval_and_training_import_without_qt():
    code = (
        "import sys, pkgutil, importlib\n"
        "import litlora_desktop.core as c, litlora_desktop.eval as e, litlora_desktop.training as t\n"
        "import litlora_desktop.batch as b, litlora_desktop.cluster as r\n"
        "for pkg in (c, e, t, b, r):\n"
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


def _package_imports() -> dict[str, set[str]]:
    """Which package imports which, from every import statement (module level, in functions and
    under TYPE_CHECKING alike). A package is ``core.<sub>`` inside core, else the top-level name."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[1] / "litlora_desktop"

    def package(dotted: str) -> str:
        parts = dotted.split(".")[1:]
        return ".".join(parts[:2]) if parts[0] == "core" else parts[0]

    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        dotted = ".".join(("litlora_desktop", *path.relative_to(root).with_suffix("").parts))
        src = (
            package(dotted.removesuffix(".__init__"))
            if path.name != "__init__.py" or path.parent != root
            else ""
        )
        if not src:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("litlora_desktop.") and not name.split(".")[1].startswith("__"):
                    dst = package(name)
                    if dst in {"core", "core.__init__"} or dst == src:
                        continue
                    graph.setdefault(src, set()).add(dst)
    return graph


def test_packages_import_each_other_without_circles():
    graph = _package_imports()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in seen:
                visit(nxt, [*path, node])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])


def test_layers_only_import_downwards():
    """cli -> app -> ui -> workers -> core; cli -> batch -> workers; eval and training use core only;
    core uses nothing above."""
    graph = _package_imports()
    above_core = {
        "cli",
        "app",
        "ui",
        "workers",
        "eval",
        "training",
        "batch",
        "cluster",
        "selftest",
        "__main__",
    }
    for src, dsts in graph.items():
        if src.startswith("core"):
            assert not dsts & above_core, f"{src} imports {sorted(dsts & above_core)}"
        if src == "workers":
            assert not dsts & {"ui", "app", "cli"}, f"workers imports {sorted(dsts)}"
        if src in {"eval", "training", "cluster"}:
            assert not dsts & {"ui", "app", "cli", "workers", "batch"}, f"{src} imports {sorted(dsts)}"
        if src == "batch":  # headless tracking drives the app's EngineState (Qt-free, checked above)
            assert not dsts & {"ui", "app", "cli"}, f"batch imports {sorted(dsts)}"
        if src in {"app", "ui", "workers", "training", "selftest"}:  # the desktop app and the bundle
            assert "cluster" not in dsts, f"{src} imports the Ray package"


def test_only_the_cluster_package_imports_ray():
    """Ray is an optional extra: any other import of it would break the app and the bundle without it."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[1] / "litlora_desktop"
    found = []
    for path in root.rglob("*.py"):
        if path.parent.name == "cluster":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "ray"]
    assert not found, found


def _module_imports() -> dict[str, set[str]]:
    """Which module imports which module of the app (every import statement, as above)."""
    import ast
    from pathlib import Path

    root = Path(__file__).parents[1] / "litlora_desktop"
    files = {
        ".".join(("litlora_desktop", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:  # "from pkg import module" names a module, else the module itself
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d in files and d != mod}
    return graph


def test_modules_import_each_other_without_circles():
    """Inside a package too: two modules that need each other are one module, or share a third."""
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_source_file_is_over_500_lines():
    from pathlib import Path

    root = Path(__file__).parents[1] / "litlora_desktop"
    long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, f"split these along a real seam: {long}"
