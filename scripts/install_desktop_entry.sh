#!/usr/bin/env bash
# Add LIT-LoRA Desktop to a Linux desktop's application menu (per user, no root):
#   scripts/install_desktop_entry.sh [PATH_TO_EXECUTABLE]
# Default executable: the bundle in dist/litlora-desktop/, else `litlora-desktop` from PATH.
# Installs resources/litlora-desktop.desktop with an absolute Exec line and the 256 px icon.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exe=${1:-}
if [ -z "$exe" ]; then
  if [ -x "$root/dist/litlora-desktop/litlora-desktop" ]; then
    exe="$root/dist/litlora-desktop/litlora-desktop"
  else
    exe=$(command -v litlora-desktop || true)
  fi
fi
[ -n "$exe" ] && [ -x "$exe" ] || { echo "no litlora-desktop executable found; pass its path" >&2; exit 1; }
exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
cp "$root/resources/icons/app.png" "$data/icons/hicolor/256x256/apps/litlora-desktop.png"
sed "s|^Exec=litlora-desktop|Exec=\"$exe\"|" "$root/resources/litlora-desktop.desktop" \
  > "$data/applications/litlora-desktop.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
echo "installed $data/applications/litlora-desktop.desktop -> $exe"
