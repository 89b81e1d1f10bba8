#!/usr/bin/env bash
# GPU regression suite for upstream #9888, #9521, #9481 and #9388: each bug reproduced on
# the real SGLang with the shim off, and shown gone with it on. Writes a short markdown
# report (release, GPU, every test pass / fail / skip with its reason).
#
#   ci/gpu-regress.sh [--out DIR] [--install-shim] [--wheels DIR]
#       SGLang image with one GPU: the whole suite (engine runs and kernel-level tests)
#       for the installed SGLang. --install-shim installs this checkout's wheel first
#       (the patched engine runs need its .pth in this Python).
#   ci/gpu-regress.sh --wheel sglang-X-py3-none-any.whl [--out DIR] [--wheels DIR]
#       bare GPU box (PyTorch, Triton, CUDA toolkit with compute-sanitizer; no SGLang,
#       no network): the kernel-level tests only, on the wheel's unpacked source.
#
# --wheels DIR: a folder of wheels to install the test tools from, offline, when this
# Python lacks them (pytest, unipatch, packaging); on a bare box also flashinfer-python
# and nvidia-cuda-sanitizer-api-cu12 if the folder has them (the sanitizer test needs both).
# Environment: PYTHON (default python3), SGLANG_SPEC_PATCHES_GPU_TIMEOUT (seconds per
# engine run, default 1200).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
OUT=gpu-regress
WHEEL=""
WHEELS=""
INSTALL_SHIM=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --wheel) WHEEL=$2; shift 2 ;;
    --wheels) WHEELS=$2; shift 2 ;;
    --install-shim) INSTALL_SHIM=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu-regress: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"

if ! "$PY" -c "import pytest, packaging, unipatch" 2>/dev/null; then
  if [ -n "$WHEELS" ]; then
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" pytest packaging unipatch
  else
    echo "gpu-regress: this Python lacks pytest, packaging or unipatch; pass --wheels DIR with their wheels" >&2
    exit 2
  fi
fi

select=(-m gpu)
mode="installed SGLang: engine runs and kernel-level tests"
if [ -n "$WHEEL" ]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  "$PY" -m zipfile -e "$WHEEL" "$src"
  export SGLANG_SPEC_PATCHES_SGLANG_SRC="$src"
  if [ -n "$WHEELS" ]; then  # optional, for the sanitizer test: FlashInfer and compute-sanitizer
    for pkg in flashinfer-python nvidia-cuda-sanitizer-api-cu12; do
      "$PY" -m pip install -q --no-index --find-links "$WHEELS" "$pkg" 2>/dev/null || echo "gpu-regress: $pkg not installed from $WHEELS"
    done
  fi
  select+=(-k kernel)
  mode="bare GPU box: kernel-level tests on $(basename "$WHEEL")"
else
  if [ "$INSTALL_SHIM" = 1 ]; then
    "$PY" -m pip install -q --no-deps --force-reinstall .
  fi
  if ! "$PY" -c "import site, sys, os; sys.exit(not any(os.path.isfile(os.path.join(d, 'sglang_spec_patches.pth')) for d in site.getsitepackages() + [site.getusersitepackages()]))"; then
    echo "gpu-regress: warning: sglang_spec_patches.pth is not installed in this Python; the patched engine runs will fail (use --install-shim)" >&2
  fi
fi

set +e
"$PY" -m pytest tests/gpu "${select[@]}" -p no:cacheprovider -rA --junitxml "$OUT/junit.xml" 2>&1 | tee "$OUT/pytest.log"
rc=${PIPESTATUS[0]}
set -e
"$PY" tests/gpu/gpu_report.py --junit "$OUT/junit.xml" --out "$OUT/report.md" --mode "$mode"
echo
cat "$OUT/report.md"
exit "$rc"
