"""Real SGLang releases for tests: fetch, unpack, and run code against one.

A release is never installed. Its wheel is unzipped once (with its dist-info)
and put on PYTHONPATH of a subprocess that uses the CPU test environment built
by ``ci/make-cpu-env.sh`` (torch, triton, pure-Python deps, stand-ins; no
sglang). One environment thus serves every release, the way an editable
install would. Plain functions, no pytest, so CI scripts can use them too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CACHE_DIR = Path(
    os.environ.get("SGLANG_SPEC_PATCHES_CACHE", "~/.cache/sglang-spec-patches")
).expanduser()

# Later releases ship cp311 manylinux wheels; earlier ones are py3-none-any.
_PIP_TARGET = [
    "--only-binary=:all:",
    "--implementation", "cp",
    "--python-version", "3.11",
    "--abi", "cp311",
    "--platform", "manylinux_2_34_x86_64",
]

# Environment every release runs under: no GPU, no torch.compile, Triton's
# CPU interpreter for the real Triton kernels.
RELEASE_ENV = {
    "SGLANG_ENABLE_TORCH_COMPILE": "0",
    "TRITON_INTERPRET": "1",
    "CUDA_VISIBLE_DEVICES": "",
}

# Written last by ci/make-cpu-env.sh: its presence means the build finished.
ENV_MARKER = ".sglang-spec-patches-env"


def _cached_wheel(wheels: Path, version: str) -> Path | None:
    found = sorted(wheels.glob(f"sglang-{version}-*.whl"))
    return found[0] if found else None


def fetch_wheel(version: str) -> Path:
    """Path of the wheel of sglang==version, downloaded once into the cache."""
    wheels = CACHE_DIR / "wheels"
    cached = _cached_wheel(wheels, version)
    if cached:
        return cached
    wheels.mkdir(parents=True, exist_ok=True)
    # Download into a private temp dir, then rename: a crashed or parallel run
    # never leaves a half-written wheel under the final name.
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=wheels))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--pre",
             *_PIP_TARGET, "--dest", str(tmp), f"sglang=={version}"],
            check=True, stdout=subprocess.DEVNULL,
        )
        got = _cached_wheel(tmp, version)
        if got is None:
            raise RuntimeError(f"pip downloaded no wheel for sglang=={version}")
        final = wheels / got.name
        os.replace(got, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(version: str) -> Path:
    """Directory holding the unzipped wheel (``sglang/`` and its dist-info)."""
    src = CACHE_DIR / "src"
    dest = src / version
    if (dest / "sglang").is_dir():
        return dest
    wheel = fetch_wheel(version)
    src.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=src))
    try:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, dest)
        except OSError:
            # Another run finished first; its copy is as good as ours.
            if not (dest / "sglang").is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def cpu_env_dir() -> Path:
    return Path(
        os.environ.get("SGLANG_SPEC_PATCHES_CPU_ENV", CACHE_DIR / "cpu-env")
    ).expanduser()


def cpu_env_python() -> Path | None:
    """The CPU environment's python, or None when it has not been built."""
    venv = cpu_env_dir()
    python = venv / "bin" / "python"
    if (venv / ENV_MARKER).is_file() and python.exists():
        return python
    return None


def run_in_release(
    version_or_root: str | os.PathLike,
    code: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in the CPU environment against one release.

    ``version_or_root`` is a release number (fetched and unpacked as needed) or
    a directory that contains ``sglang/`` (e.g. a patched copy). ``env`` adds
    variables; a ``PYTHONPATH`` in it is appended after the release root.
    """
    python = cpu_env_python()
    if python is None:
        raise RuntimeError(
            f"CPU test environment not built at {cpu_env_dir()}: "
            "run ci/make-cpu-env.sh first"
        )
    if isinstance(version_or_root, os.PathLike) or os.sep in str(version_or_root):
        root = Path(version_or_root)
        if not (root / "sglang").is_dir():
            raise FileNotFoundError(f"no sglang/ package under {root}")
    else:
        root = unpack(str(version_or_root))
    run_env = dict(os.environ)
    run_env.pop("PYTHONHOME", None)
    run_env.update(RELEASE_ENV)
    extra = dict(env or {})
    paths = [str(root)]
    if extra.get("PYTHONPATH"):
        paths.append(extra.pop("PYTHONPATH"))
    run_env.update(extra)
    run_env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run(
        [str(python), "-c", code],
        env=run_env, cwd=root, capture_output=True, text=True, timeout=timeout,
    )


def run_harness(version_or_root, script, mode: str, args=(), disable: str = "",
                timeout: float = 900) -> list[dict]:
    """Run a fix's reproduce script as ``__main__`` against one release, with the shim
    in ``mode`` ("off" = the release's own code, "on" = patched by the import hook) and
    ``disable`` as SGLANG_SPEC_PATCHES_DISABLE. Returns the JSON lines it printed."""
    code = (f"import runpy, sys; sys.argv = [{str(script)!r}, *{list(args)!r}]; "
            f"runpy.run_path({str(script)!r}, run_name='__main__')")
    proc = run_in_release(version_or_root, code, timeout=timeout,
                          env={"SGLANG_SPEC_PATCHES": mode, "SGLANG_SPEC_PATCHES_DISABLE": disable})
    if proc.returncode != 0:
        raise AssertionError(f"{Path(script).name} failed ({mode}):\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
