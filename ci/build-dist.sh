#!/usr/bin/env bash
# Build the release files the way release tooling and pip do: the sdist from this
# checkout, then the wheel from that sdist (never straight from the checkout, so a file
# the sdist forgets fails here, not on a user's machine). Prints the wheel's path.
#
#   ci/build-dist.sh OUTDIR        (PYTHON=... an interpreter that has `build`)
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import build' 2>/dev/null; then
    echo "$0: $PYTHON has no 'build' package: pip install build (make dev installs it)" >&2
    exit 2
fi
mkdir -p "$out"
# Build from a copy of the tracked files only: what a clean clone has, nothing left
# over in this checkout (build/, *.egg-info, caches), and nothing written into it.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
            if [ -e "$f" ]; then cp --parents -- "$f" "$src/"; fi  # tracked, deleted here: left out
        done)
else
    cp -a "$repo/." "$src/"
fi
log="$src.log"
if ! "$PYTHON" -m build --outdir "$out" "$src" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
ls "$out"/sglang_spec_patches-*.whl
