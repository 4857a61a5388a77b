"""constraints.txt, the tested versions dev.sh and the bundle install, agrees with what the project asks for."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"constraints.txt: not a NAME==VERSION pin: {line!r}"
        )
        # the pins are the CI's Python's: elsewhere pip takes releases that have wheels there
        assert req.marker is not None and req.marker.evaluate({"python_version": "3.11"}), line
        assert not req.marker.evaluate({"python_version": "3.10"}), line
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = Version(specs[0].version)
    return pins


def _requirements() -> list[Requirement]:
    """The app's requirements and those of the extras dev.sh installs (test, cluster)."""
    reqs = [Requirement(r) for r in importlib.metadata.requires("litlora-desktop") or []]
    wanted = []
    for req in reqs:
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("test", "cluster")):
            wanted.append(req)
    return wanted


def test_every_requirement_is_pinned_within_its_range():
    """A dependency added to pyproject.toml without a tested version, or a pin outside the declared
    range (pip would refuse to install the pair), fails here instead of on a fresh machine."""
    pins = _pins()
    reqs = _requirements()
    assert any(canonicalize_name(r.name) == "transformers" for r in reqs)  # the metadata was read
    for req in reqs:
        name = canonicalize_name(req.name)
        if name == "torch":
            assert name not in pins, "torch is pinned by dev.sh (LITLORA_TORCH_VERSION), not constraints.txt"
            continue
        assert name in pins, f"{req.name} is required but constraints.txt has no tested version of it"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_dev_sh_installed_the_pinned_versions():
    """dev.sh records in the venv's stamp which constraints it installed with; where that was
    constraints.txt, every pinned requirement is installed at its pin (a PIP_CONSTRAINT that pip
    ignored, or a later install that upgraded a package, fails here)."""
    stamp = Path(sys.prefix) / ".litlora-installed"
    recorded = stamp.read_text() if stamp.is_file() else ""
    if "constraints constraints.txt" not in recorded:
        pytest.skip("this environment was not installed by dev.sh with constraints.txt")
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        if name in pins:
            assert Version(importlib.metadata.version(req.name)) == pins[name], req.name


def test_the_meta_peer_installer_asks_for_versions_the_pins_allow():
    """dev.sh runs scripts/install_meta_sam2.sh with constraints.txt in force: a range there that
    excludes the pin (a pin bumped, or the script's range narrowed) makes pip refuse the install on
    a fresh machine, and with it CI."""
    import re

    script = (ROOT / "scripts" / "install_meta_sam2.sh").read_text().replace("\\\n", " ")
    commands = [line.split("pip install", 1)[1] for line in script.splitlines() if "pip install" in line]
    asked = [Requirement(r) for c in commands for r in re.findall(r'"([A-Za-z][^"$ ]*)"', c)]
    names = {canonicalize_name(r.name) for r in asked}
    assert {"sam2", "omegaconf", "hydra-core", "iopath", "pillow"} <= names, names  # the script was read
    pins = _pins()
    for req in asked:
        name = canonicalize_name(req.name)
        assert name in pins, f"install_meta_sam2.sh installs {req.name}, which constraints.txt does not pin"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside install_meta_sam2.sh's {req.specifier}"
        )
