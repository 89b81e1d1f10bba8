# Shared fixtures; also makes tests/ helpers importable from the fix folders' own tests.
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests"))

import sglang_releases  # noqa: E402


def _need_env_or_skip(reason: str):
    # In CI the environment is built by .ci/run: its absence is a failure, not a skip.
    if os.environ.get("CI") or os.environ.get("SGLANG_SPEC_PATCHES_REQUIRE_CPU_ENV"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shim_wheel(tmp_path_factory) -> Path:
    """This checkout built as a release is: the sdist, then the wheel from the sdist
    (``ci/build-dist.sh``). Every test that installs the shim installs this wheel."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(["bash", str(REPO / "ci" / "build-dist.sh"), str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def cpu_env(shim_wheel):
    """The CPU SGLang environment with this checkout's wheel installed, as a user would.

    Real torch (CPU), real triton, SGLang's pure-Python deps and the named stand-ins
    for GPU-only packages (tests/standins). SGLang itself comes from PYTHONPATH per test.
    """
    python = sglang_releases.cpu_env_python()
    if python is None:
        _need_env_or_skip("CPU SGLang environment not built: run `ci/make-cpu-env.sh` first")
    subprocess.run(["bash", str(REPO / "ci" / "install-shim.sh"), str(python.parent.parent), str(shim_wheel)], check=True)
    return python
