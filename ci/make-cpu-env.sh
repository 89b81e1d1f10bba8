#!/usr/bin/env bash
# Build the CPU test environment in which real SGLang modules import, no GPU.
#
#   ci/make-cpu-env.sh VENV_DIR        (PYTHON=python3.11 to pick the interpreter)
#
# The venv holds CPU torch, triton (its interpreter runs SGLang's Triton kernels
# on CPU with TRITON_INTERPRET=1), numpy, the pure-Python deps of
# ci/cpu-env-requirements.txt and, via a .pth file, the stand-ins for GPU-only
# packages in tests/standins. It holds no sglang: a test puts an unpacked
# release on PYTHONPATH (tests/sglang_releases.py), so one venv serves all.
#
# Idempotent: a marker file holds a hash of the inputs (pins, requirements,
# Python version); with the same inputs a rerun only refreshes the .pth file.
# Changed inputs rebuild the venv from scratch.
set -euo pipefail

# torch 2.13 is the CPU wheel (pip finds it locally); triton 3.7.1 is what torch
# 2.13 pins for its CUDA builds; numpy < 2.3 keeps Triton's interpreter working
# on older triton releases too.
PINS="torch==2.13.0 triton==3.7.1 numpy==2.2.6"

if [ $# -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
VENV=$1
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQS="$HERE/cpu-env-requirements.txt"
STANDINS=$(cd "$HERE/../tests/standins" && pwd)
MARKER="$VENV/.sglang-spec-patches-env"   # same name in tests/sglang_releases.py
PTH_NAME=sglang_spec_patches_standins.pth
# Start-up stand-ins (tests/standins/_standin_*.py) that every interpreter of
# the venv imports: each fills in one name that is missing on CPU.
STARTUP="_standin_torch_cpu_amx, _standin_sglang_fast_topk, _standin_sglang_triton_kernel_cache"

pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$pyver" != "3.11" ]; then
    echo "need Python 3.11 (the torch wheel is cp311), $PYTHON is $pyver" >&2
    exit 2
fi
hash=$( { echo "$PINS"; echo "python $pyver"; cat "$REQS"; } | sha256sum | cut -d' ' -f1)

write_pth() {
    # Stand-ins of this checkout on sys.path, plus the start-up stand-ins that
    # fill in names missing on CPU. Rewritten on every run (cheap), so the venv
    # follows the checkout that last ran this script.
    local site
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    printf '%s\nimport %s\n' "$STANDINS" "$STARTUP" > "$site/$PTH_NAME"
}

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$hash" ] && [ -x "$VENV/bin/python" ]; then
    write_pth
    echo "CPU env up to date: $VENV"
    exit 0
fi

if [ -e "$VENV" ]; then
    # Only ever delete something that is a venv (or an empty directory).
    if [ -f "$VENV/pyvenv.cfg" ] || [ -z "$(ls -A "$VENV" 2>/dev/null)" ]; then
        rm -rf "$VENV"
    else
        echo "$VENV exists and is not a venv; refusing to replace it" >&2
        exit 2
    fi
fi

start=$(date +%s)
"$PYTHON" -m venv "$VENV"
# One resolver run, so no requirement can move the pinned torch/triton/numpy.
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --no-input --progress-bar off -q $PINS -r "$REQS"
write_pth

# Fail here, not in a test, if a GPU torch slipped in or a stand-in is broken.
"$VENV/bin/python" - <<'EOF'
import numpy, torch, triton
assert torch.version.cuda is None, f"expected the CPU torch build, got {torch.__version__}"
assert hasattr(torch._C._cpu, "_is_amx_tile_supported")
import sgl_kernel, torchvision.transforms, vllm._custom_ops  # stand-ins
print(f"torch {torch.__version__}, triton {triton.__version__}, numpy {numpy.__version__}")
EOF

echo "$hash" > "$MARKER"   # last: its presence means the build finished
echo "CPU env built in $(( $(date +%s) - start ))s: $VENV ($(du -sh "$VENV" | cut -f1))"
