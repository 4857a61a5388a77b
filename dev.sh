#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv, installs everything, then runs the app or the tests.
#   ./dev.sh app [VIDEO_OR_FOLDER] [--model ID_OR_PATH] [--device cuda|mps|cpu]
#   ./dev.sh test [PYTEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")"
VENV=${LITLORA_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.litlora-installed"
  local torch_version=${LITLORA_TORCH_VERSION:-2.13.0}
  # The tested versions of every other package (constraints.txt, relative: every pip call runs from
  # here, and pip splits PIP_CONSTRAINT at spaces). LITLORA_CONSTRAINTS= (empty) takes the newest.
  # They were tested with the default torch: another torch brings its own sympy, networkx…, so it
  # takes the newest too unless LITLORA_CONSTRAINTS says otherwise.
  local default_constraints=constraints.txt
  if [ "$torch_version" != "2.13.0" ]; then
    default_constraints=
  fi
  local constraints=${LITLORA_CONSTRAINTS-$default_constraints}
  # what was installed, and with which pins: a change of either reinstalls
  local wanted="torch $torch_version; constraints ${constraints:-none}"
  if [ -n "$constraints" ]; then
    [ -f "$constraints" ] || { echo "dev.sh: no constraints file $constraints" >&2; exit 2; }
    wanted="$wanted $(cksum < "$constraints")"
    export PIP_CONSTRAINT="$constraints"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || [ pyproject.toml -nt "$stamp" ] \
    || [ scripts/install_meta_sam2.sh -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first and pinned, so nothing later pulls a different (multi-GB CUDA) build.
    "$VENV/bin/python" -m pip install -q "torch==$torch_version"
    # the tests also cover the [cluster] extra (Ray), which the app itself never imports
    "$VENV/bin/python" -m pip install -q -e ".[test,cluster]"
    # Meta's SAM2 (no torchvision) as a test peer: the parity test and benchmarks/peer_speed.py use it.
    bash scripts/install_meta_sam2.sh "$VENV"
    printf '%s' "$wanted" > "$stamp"
  fi
  unset PIP_CONSTRAINT
}

cmd=${1:-app}
shift || true
case "$cmd" in
  app)
    setup
    exec "$VENV/bin/litlora-desktop" "$@"
    ;;
  test)
    setup
    export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh app [args] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
