#!/usr/bin/env bash
# GPU regression suite for upstream #9888, #9521, #9481, #9388 and #26340: each bug
# reproduced on the real SGLang with the shim off, and shown gone with it on. Writes a
# short markdown report (release, GPU, every test pass / fail / skip with its reason).
#
#   ci/gpu-regress.sh [--out DIR] [--install-shim] [--wheels DIR] [--allow-skips]
#       SGLang image with one GPU: the whole suite (engine runs and kernel-level tests)
#       for the installed SGLang. The engine runs use the installed shim (its .pth arms
#       the hook in SGLang's processes); --install-shim installs this checkout's first.
#       An installed copy that differs from this checkout is refused without it.
#   ci/gpu-regress.sh --wheel sglang-X-py3-none-any.whl [--out DIR] [--wheels DIR] [--allow-skips]
#       bare GPU box (PyTorch, Triton, CUDA toolkit with compute-sanitizer; no SGLang,
#       no network): the kernel-level tests only, on the wheel's unpacked source.
#
# Exit status: pytest's when a test failed; otherwise 1 when the run does not count -
# no test ran, a test the release must run is missing from the results (renamed,
# deselected, not collected: tests/gpu/gpu_report.py EXPECTED), or a test skipped for a
# reason other than "this release is not affected" (no CUDA, no FlashInfer, no SGLang ...):
# each is named. --allow-skips accepts those skips (still listed), never a missing test.
# --wheels DIR: a folder of wheels to install the test tools from, offline, when this
# Python lacks them (pytest, unipatch, packaging); on a bare box also flashinfer-python
# (the sanitizer test needs it). FlashInfer 0.2.9rc2 and 0.3.1, which 0.4.10 .. 0.5.3 pin,
# exist on PyPI as sdists only: build their wheels beforehand (README, GPU section).
# Environment: PYTHON (default python3), SGLANG_SPEC_PATCHES_GPU_TIMEOUT (seconds per
# engine run, default 1200).
set -euo pipefail

PY=${PYTHON:-python3}
OUT=gpu-regress
WHEEL=""
WHEELS=""
INSTALL_SHIM=0
ALLOW_SKIPS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --wheel) WHEEL=$2; shift 2 ;;
    --wheels) WHEELS=$2; shift 2 ;;
    --install-shim) INSTALL_SHIM=1; shift ;;
    --allow-skips) ALLOW_SKIPS=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu-regress: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Paths given on the command line are relative to where it was typed, not to the checkout.
absolute() { case "$1" in ""|/*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
OUT=$(absolute "$OUT"); WHEEL=$(absolute "$WHEEL"); WHEELS=$(absolute "$WHEELS")
if [ -n "$WHEEL" ] && [ ! -f "$WHEEL" ]; then echo "gpu-regress: no such wheel: $WHEEL" >&2; exit 2; fi
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then echo "gpu-regress: no such folder: $WHEELS" >&2; exit 2; fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
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
kernel_only=()
mode="installed SGLang: engine runs and kernel-level tests"
if [ -n "$WHEEL" ]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  "$PY" -m zipfile -e "$WHEEL" "$src"
  export SGLANG_SPEC_PATCHES_SGLANG_SRC="$src"
  if [ -n "$WHEELS" ]; then  # for the sanitizer test; pip's own error is shown
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" flashinfer-python \
      || echo "gpu-regress: flashinfer-python not installed from $WHEELS (pip's error above); the sanitizer test will skip" >&2
  fi
  select+=(-k kernel)
  kernel_only=(--kernel-only)
  mode="bare GPU box: kernel-level tests on $(basename "$WHEEL")"
else
  if [ "$INSTALL_SHIM" = 1 ]; then
    "$PY" -m pip install -q --no-deps --force-reinstall .
  fi
  # From outside the checkout, as SGLang's processes see it (their cwd is not the checkout).
  set +e
  origin=$(cd / && "$PY" "$REPO/tests/gpu/shim_origin.py" "$REPO")
  origin_rc=$?
  set -e
  echo "gpu-regress: $origin"
  case "$origin_rc" in
    0) ;;
    3) echo "gpu-regress: the engine runs would test the installed copy's diffs, not this checkout's: rerun with --install-shim" >&2
       exit 2 ;;
    *) echo "gpu-regress: warning: the patched engine runs will fail without the installed shim (use --install-shim)" >&2 ;;
  esac
  mode="$mode; shim: $origin"
fi

allow=()
if [ "$ALLOW_SKIPS" = 1 ]; then
  allow=(--allow-skips)
  export SGLANG_SPEC_PATCHES_GPU_ALLOW_SKIPS=1
fi
set +e
"$PY" -m pytest tests/gpu "${select[@]}" -p no:cacheprovider -rA --junitxml "$OUT/junit.xml" 2>&1 | tee "$OUT/pytest.log"
rc=${PIPESTATUS[0]}
"$PY" tests/gpu/gpu_report.py --junit "$OUT/junit.xml" --out "$OUT/report.md" --mode "$mode" "${allow[@]}" "${kernel_only[@]}"
counts=$?
set -e
echo
cat "$OUT/report.md"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$counts"
