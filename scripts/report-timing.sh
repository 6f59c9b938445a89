#!/usr/bin/env bash
# How long report.html takes to open: headless chromium loads the page N times (default 5)
# and this prints, for each load, the page's own measure of its start-up (performance.now()
# when its script has drawn everything and completed the first digit, counted from the start
# of navigation: parsing, decoding the weights and images, drawing), what one completion of a
# digit costs once warm (the page's #timing), and the wall-clock time of the whole chromium run
# beside that of an empty page (chromium's own start and exit).
#   scripts/report-timing.sh runs/latest/report.html [N]
# Needs chromium (scripts/setup.sh --browser). Numbers from a busy machine are noisy.
set -euo pipefail
page=${1:?usage: scripts/report-timing.sh REPORT.html [N]}
runs=${2:-5}
[ -f "$page" ] || { echo "report-timing: no such file $page" >&2; exit 1; }
browser=${PATCHRNN_CHROMIUM:-}
if [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
  done
fi
[ -n "$browser" ] || { echo "report-timing: no chromium (scripts/setup.sh --browser)" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
empty="$profile/empty.html"
echo '<!doctype html><title>empty</title>' > "$empty"
url() { echo "file://$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
load() {  # prints "<wall seconds> <dumped DOM>"
  local start end dom
  start=$(date +%s.%N)
  dom=$("$browser" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$profile/p" --dump-dom "$(url "$1")#timing" 2>/dev/null)
  end=$(date +%s.%N)
  echo "$(awk "BEGIN { printf \"%.2f\", $end - $start }") $dom"
}
echo "$(basename "$page"): $(($(wc -c < "$page") / 1024)) KiB, $runs loads"
for i in $(seq "$runs"); do
  read -r wall dom < <(load "$page" | tr '\n' ' '; echo)
  ready=$(grep -o 'data-ready-ms="[0-9.]*"' <<< "$dom" | grep -o '[0-9.]*' || echo "?")
  each=$(grep -o 'data-milliseconds-per-completion="[0-9.]*"' <<< "$dom" | grep -o '[0-9.]*' || echo "?")
  read -r blank _ < <(load "$empty" | tr '\n' ' '; echo)
  echo "  load $i: page ready after $ready ms, a completion $each ms; chromium run $wall s (empty page: $blank s)"
done
