#!/usr/bin/env bash
# Install this checkout, as a wheel (so its .pth is in site-packages, as for a user), into
# a venv. Usage: ci/install-shim.sh ENV_DIR [WHEEL]
# Without WHEEL the wheel is built the way a release is: sdist first, then the wheel from
# the sdist (ci/build-dist.sh).
set -euo pipefail
env_dir=$1
wheel=${2:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$wheel" ]; then
    wheel_dir=$(mktemp -d)
    trap 'rm -rf "$wheel_dir"' EXIT
    wheel=$(bash "$repo/ci/build-dist.sh" "$wheel_dir")
fi
"$env_dir/bin/python" -m pip install -q packaging 'unipatch>=1.0.1,<2'
"$env_dir/bin/python" -m pip install -q --no-deps --force-reinstall "$wheel"
