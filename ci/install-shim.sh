#!/usr/bin/env bash
# Install this checkout, as a wheel (so its .pth is in site-packages, as for a user), into
# the CPU SGLang environment. Usage: ci/install-shim.sh ENV_DIR
set -euo pipefail
env_dir=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
python3 -m pip wheel -q --no-deps -w "$wheel_dir" "$repo"
"$env_dir/bin/python" -m pip install -q packaging 'unipatch>=1.0.1,<2'
"$env_dir/bin/python" -m pip install -q --no-deps --force-reinstall "$wheel_dir"/sglang_spec_patches-*.whl
