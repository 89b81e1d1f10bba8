#!/usr/bin/env bash
# Kernel-level GPU checks for a lent GPU machine (one GPU, PyTorch with CUDA, Triton,
# pytest, packaging; no SGLang, no FlashInfer, no network).
#
#   bash ci/device-check.sh --prepare
#       here, where PyPI is reachable: put what the check needs under .device/ (git-ignored,
#       at most 60 MiB, about 6 MiB): of each SGLang release it checks, the files the checks
#       read (a zip cut from the wheel, with the wheel's file list), unipatch and packaging
#       wheels, and manifest.json with their hashes.
#   bash ci/device-check.sh [--out DIR] [--cpu-dry-run] [--releases A,B] [--issues N,name]
#                           [--no-sanitizer] [--require-fixes] [--budget S] [--jobs N]
#       there, offline, from the repository root with .device/ carried: the checks of
#       tests/gpu/kernel_checks.py (#9888, #9521, #9481's mask length, #26340, the draft
#       kv_indptr row spill; the spills again under compute-sanitizer where it works) on
#       each release's own code, as shipped and patched; writes DIR/device-report.md and
#       .json (DIR: --out, else $OUT, else .device/report), always. Exit 0 only when every
#       check that ran passed; 1 a check failed or none ran; 2 .device/ missing or damaged;
#       3 nothing could run here (no GPU, PyTorch or Triton). A check whose fix is not in
#       this checkout yet reads "awaiting-fix" (a failure with --require-fixes).
#       --cpu-dry-run runs the same checks on CPU (Triton interpreter, no sanitizer) to
#       prove the plumbing; its report says it was not a GPU run.
# Environment: PYTHON (default python3): --prepare needs pip, the run needs torch and triton.
set -euo pipefail

PY=${PYTHON:-python3}
OUT_DIR=${OUT:-}
PREPARE=0
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) PREPARE=1; shift ;;
    --out) OUT_DIR=$2; shift 2 ;;
    --cpu-dry-run|--no-sanitizer|--require-fixes) pass+=("$1"); shift ;;
    --releases|--issues|--budget|--jobs) pass+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "device-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$OUT_DIR" in ""|/*) ;; *) OUT_DIR="$PWD/$OUT_DIR" ;; esac
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
DEV=.device

if [ "$PREPARE" = 1 ]; then
  wheels=$(mktemp -d)
  trap 'rm -rf "$wheels"' EXIT
  releases=$("$PY" -c "import sys; sys.path.insert(0, 'tests/gpu'); import device_check; print(' '.join(device_check.RELEASES))")
  for v in $releases; do
    "$PY" -m pip download -q --no-deps --pre --only-binary=:all: --implementation cp --python-version 3.11 \
      --abi cp311 --platform manylinux_2_34_x86_64 --dest "$wheels" "sglang==$v"
  done
  "$PY" -m pip download -q --no-deps --only-binary=:all: --dest "$wheels" "unipatch>=1.0.1,<2" "packaging>=21"
  # Only what the checks read of each SGLang wheel is kept (device_folder.prepare).
  deps=$(ls "$wheels"/unipatch-*.whl "$wheels"/packaging-*.whl | tr '\n' ':')
  PYTHONPATH="$deps${PYTHONPATH:-}" "$PY" tests/gpu/device_check.py --prepare-from "$wheels" --device-dir "$DEV"
  du -sh "$DEV"
  exit 0
fi

[ -n "$OUT_DIR" ] || OUT_DIR="$REPO/$DEV/report"
exec "$PY" tests/gpu/device_check.py --device-dir "$DEV" --out "$OUT_DIR" "${pass[@]}"
