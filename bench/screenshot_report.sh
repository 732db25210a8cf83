#!/usr/bin/env bash
# Screenshot an HTML report with headless Chromium (Debian package `chromium`: apt-get install -y chromium).
# Usage: bench/screenshot_report.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# Without arguments: builds the demo report (bundled wave + its known labels) into build/ and screenshots it.
# Offline: every network-related feature of the browser is switched off; the report has no external resources.
set -euo pipefail
cd "$(dirname "$0")/.."
BROWSER=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$BROWSER" ]; then
  echo "chromium not found: apt-get install -y chromium (or set CHROMIUM=/path/to/browser)" >&2
  exit 3
fi
PY=${PYTHON:-.venv/bin/python}
if [ $# -ge 2 ]; then
  HTML=$1; PNG=$2; SIZE=${3:-1280x2400}
else
  mkdir -p build
  HTML=build/demo_report.html; PNG=build/demo_report.png; SIZE=1280x2400
  "$PY" -m api.cli report cx/data/demo/wave.csv --predictions cx/data/demo/predictions.jsonl \
      --config cx/data/demo/config.yaml --out "$HTML"
fi
W=${SIZE%x*}; H=${SIZE#*x}
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
"$BROWSER" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$PROFILE" \
  --screenshot="$(realpath -m "$PNG")" --window-size="$W,$H" "file://$(realpath "$HTML")" >/dev/null 2>&1
test -s "$PNG"
echo "$PNG"
