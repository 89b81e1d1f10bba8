#!/usr/bin/env bash
# One shard of the release matrix, as CI runs it: ci/matrix-ci.sh K/N
# MATRIX_RELEASES: "table" (the releases of the checked-in table, default) or "pypi"
# (every release on PyPI: a release missing from the table fails the run).
# ci/matrix.py runs from the checkout; it needs only packaging, unipatch and GNU patch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c "import packaging, unipatch" 2>/dev/null || "$PY" -m pip install -q "packaging>=21" "unipatch>=1.0.1,<2"
exec "$PY" ci/matrix.py --releases "${MATRIX_RELEASES:-table}" --shard "${1:-1/1}" --check-only --bench
