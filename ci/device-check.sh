#!/usr/bin/env bash
# Kernel-level GPU checks for a lent GPU machine (one GPU, PyTorch with CUDA, Triton,
# pytest, packaging; no SGLang, no FlashInfer, no network).
#
#   bash ci/device-check.sh --prepare
#       here, where PyPI is reachable: put what the check needs under .device/ (git-ignored,
#       at most 60 MiB): the SGLang wheels of the releases it checks, unipatch and
#       packaging wheels, and manifest.json with their hashes.
#   bash ci/device-check.sh [--out DIR] [--cpu-dry-run] [--releases A,B] [--issues N,M]
#       there, offline, from the repository root with .device/ carried: the checks of
#       tests/gpu/kernel_checks.py (#9888, #9521, #9481's mask length, #26340) on each
#       release's own code, as shipped and patched; writes DIR/device-report.md and .json
#       (DIR: --out, else $OUT, else .device/report). Exit 0 only when every check ran and
#       passed; 1 a check failed or did not run; 2 .device/ missing or damaged; 3 no GPU
#       (nothing ran). --cpu-dry-run runs the same checks on CPU (Triton interpreter) to
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
    --cpu-dry-run) pass+=(--cpu-dry-run); shift ;;
    --releases|--issues|--budget|--jobs) pass+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "device-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$OUT_DIR" in ""|/*) ;; *) OUT_DIR="$PWD/$OUT_DIR" ;; esac
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
DEV=.device
MAX_BYTES=$((60 * 1024 * 1024))

if [ "$PREPARE" = 1 ]; then
  rm -rf "$DEV.tmp"
  mkdir -p "$DEV.tmp"
  releases=$("$PY" -c "import sys; sys.path.insert(0, 'tests/gpu'); import device_check; print(' '.join(device_check.RELEASES))")
  for v in $releases; do
    "$PY" -m pip download -q --no-deps --pre --only-binary=:all: --implementation cp --python-version 3.11 \
      --abi cp311 --platform manylinux_2_34_x86_64 --dest "$DEV.tmp" "sglang==$v"
  done
  "$PY" -m pip download -q --no-deps --only-binary=:all: --dest "$DEV.tmp" "unipatch>=1.0.1,<2" "packaging>=21"
  "$PY" - "$DEV.tmp" <<'EOF'
import hashlib, json, sys
from pathlib import Path

d = Path(sys.argv[1])
wheels = sorted(p.name for p in d.glob("*.whl"))
one = lambda prefix: next(w for w in wheels if w.startswith(prefix + "-"))
releases = {w.split("-")[1]: w for w in wheels if w.startswith("sglang-")}
manifest = {"releases": releases, "unipatch": one("unipatch"), "packaging": one("packaging"),
            "sha256": {w: hashlib.sha256((d / w).read_bytes()).hexdigest() for w in wheels}}
(d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
EOF
  size=$(du -sb "$DEV.tmp" | cut -f1)
  if [ "$size" -gt "$MAX_BYTES" ]; then
    echo "device-check: $DEV would be $size bytes, over 60 MiB: nothing replaced" >&2
    rm -rf "$DEV.tmp"; exit 2
  fi
  rm -rf "$DEV"; mv "$DEV.tmp" "$DEV"
  echo "device-check: prepared $DEV ($((size / 1024)) KiB):"; ls -l "$DEV"
  exit 0
fi

[ -n "$OUT_DIR" ] || OUT_DIR="$REPO/$DEV/report"
exec "$PY" tests/gpu/device_check.py --device-dir "$DEV" --out "$OUT_DIR" "${pass[@]}"
