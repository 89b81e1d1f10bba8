#!/usr/bin/env bash
# Build a venv laid out the way users install SGLang, for tests/test_layouts.py.
#
#   ci/make-layout-env.sh pip     DIR   pip install --no-deps sglang==$SGLANG into a venv
#   ci/make-layout-env.sh slime   DIR   slime's layout: SGLang editable from the release's
#                                       sdist (--no-deps --no-build-isolation), plus Ray
#
# The shim itself is not installed here: a test session installs this checkout's wheel
# (ci/install-shim.sh), as the CPU environment's fixture does. SGLang's own dependencies
# come from the CPU environment (ci/make-cpu-env.sh, built first) through a .pth line,
# with its stand-ins for GPU-only packages, so the real patched modules import.
#
# Idempotent: a marker holds a hash of the inputs (this script, the CPU environment's
# marker, the SGLang and Ray pins); the same inputs only refresh the .pth file.
set -euo pipefail

SGLANG=${SGLANG:-0.5.2}
RAY=ray==2.60.0
SETUPTOOLS=setuptools==84.2.1   # has bdist_wheel itself (PEP 660 editable without `wheel`)

if [ $# -ne 2 ] || { [ "$1" != pip ] && [ "$1" != slime ]; }; then
    echo "usage: $0 pip|slime DIR" >&2
    exit 2
fi
KIND=$1
DIR=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SGLANG_SPEC_PATCHES_CACHE:-$HOME/.cache/sglang-spec-patches}
CPU_ENV=${SGLANG_SPEC_PATCHES_CPU_ENV:-$CACHE/cpu-env}
CPU_MARKER="$CPU_ENV/.sglang-spec-patches-env"
MARKER="$DIR/.sglang-spec-patches-layout"
PTH_NAME=sglang_spec_patches_standins.pth   # sorts after the shim's own .pth, as in the CPU env

if [ ! -f "$CPU_MARKER" ]; then
    echo "CPU environment not built at $CPU_ENV: run ci/make-cpu-env.sh first" >&2
    exit 2
fi
hash=$( { cat "${BASH_SOURCE[0]}" "$CPU_MARKER"; echo "$KIND $SGLANG"; } | sha256sum | cut -d' ' -f1)

write_pth() {
    # The CPU environment's packages (appended to sys.path: its own .pth files are not
    # run) and its stand-ins, exactly as its own .pth loads them.
    local site cpu_site
    site=$("$DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cpu_site=$("$CPU_ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    { echo "$cpu_site"; cat "$cpu_site/$PTH_NAME"; } > "$site/$PTH_NAME"
}

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9   # two test sessions at once: the second waits, then finds it built

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$hash" ] && [ -x "$DIR/bin/python" ]; then
    write_pth
    echo "layout env up to date: $DIR"
    exit 0
fi
if [ -e "$DIR" ]; then
    if [ -f "$DIR/pyvenv.cfg" ] || [ -z "$(ls -A "$DIR" 2>/dev/null)" ]; then
        rm -rf "$DIR"
    else
        echo "$DIR exists and is not a venv; refusing to replace it" >&2
        exit 2
    fi
fi

start=$(date +%s)
"$CPU_ENV/bin/python" -m venv "$DIR"
write_pth
pip=("$DIR/bin/python" -m pip install --no-input --progress-bar off -q)
case $KIND in
pip)
    "${pip[@]}" --no-deps --find-links "$CACHE/wheels" "sglang==$SGLANG"
    ;;
slime)
    "${pip[@]}" "$SETUPTOOLS" "$RAY"
    sdists="$CACHE/sdists"
    mkdir -p "$sdists"
    if [ ! -f "$sdists/sglang-$SGLANG.tar.gz" ]; then
        tmp=$(mktemp -d "$sdists/.download-XXXXXX")
        "$DIR/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
            -d "$tmp" "sglang==$SGLANG"
        mv "$tmp/sglang-$SGLANG.tar.gz" "$sdists/"
        rm -rf "$tmp"
    fi
    mkdir -p "$DIR/src"
    tar -xzf "$sdists/sglang-$SGLANG.tar.gz" -C "$DIR/src"
    "${pip[@]}" --no-deps --no-build-isolation -e "$DIR/src/sglang-$SGLANG"
    ;;
esac
echo "$hash" > "$MARKER"   # last: its presence means the build finished
echo "layout env '$KIND' built in $(( $(date +%s) - start ))s: $DIR ($(du -sh "$DIR" | cut -f1))"
