#!/usr/bin/env bash
# Build the one-folder app bundle (dist/litlora-desktop/) and prove it runs:
#   scripts/build_bundle.sh [--no-selftest]
# Uses .venv (LITLORA_VENV to change), installs PyInstaller into it if missing, builds with
# build_app.spec, runs the bundle's `--self-test` headless, and prints build time and bundle size.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LITLORA_VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no $PY: run ./dev.sh test (or ./dev.sh app) once first" >&2; exit 1; }
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  # the version the bundle was tested with, unless the venv took the newest releases (dev.sh)
  constraints=${LITLORA_CONSTRAINTS-constraints.txt}
  "$PY" -m pip install -q ${constraints:+-c "$constraints"} "pyinstaller>=6.10"
fi
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}  # the spec renders nothing, but imports Qt
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller build_app.spec
end=$(date +%s)
app=dist/litlora-desktop
exe="$app/litlora-desktop"
[ -x "$exe" ] || exe="$app/litlora-desktop.exe"
size_mb=$(du -sm "$app" | cut -f1)
files=$(find "$app" -type f | wc -l)
echo "bundle: $app, ${size_mb} MiB in ${files} files; build took $((end - start)) s"
if [ "${1:-}" != "--no-selftest" ]; then
  t0=$(date +%s)
  "$exe" --self-test --device cpu
  echo "bundle self-test passed in $(($(date +%s) - t0)) s"
fi
