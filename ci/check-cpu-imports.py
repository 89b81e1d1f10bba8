#!/usr/bin/env python3
"""Check that real SGLang modules import in the CPU test environment.

For each release, each target module that the release has is imported in its
own subprocess (tests/sglang_releases.run_in_release) and a table is printed:
release, module, ok or the error's last line, seconds. Exits non-zero if one of
the REQUIRED modules fails on any release. Also reports where the Triton kernel
``generate_draft_decode_kv_indices`` (used by FlashInfer's multi-step draft
backend) is defined in each release.

Usage: ci/check-cpu-imports.py [RELEASE ...]   (env must be built first:
ci/make-cpu-env.sh; SGLANG_SPEC_PATCHES_CPU_ENV / _CACHE pick the locations)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import sglang_releases as rel  # noqa: E402

# One release per code family of the files the fixes touch.
DEFAULT_RELEASES = [
    "0.4.10", "0.4.10.post2", "0.5.0rc2", "0.5.1", "0.5.2", "0.5.3rc0",
    "0.5.3rc2", "0.5.5", "0.5.6", "0.5.7", "0.5.9", "0.5.10.post1", "0.5.11",
    "0.5.12.post1", "0.5.13", "0.5.14", "0.5.23",
]
REQUIRED = [
    "sglang.srt.speculative.eagle_draft_cuda_graph_runner",
    "sglang.srt.speculative.eagle_draft_extend_cuda_graph_runner",
    "sglang.srt.model_executor.cuda_graph_runner",
    "sglang.srt.speculative.eagle_utils",
    "sglang.srt.speculative.eagle_info",
    "sglang.srt.configs.model_config",
    "sglang.srt.server_args",
]
OPTIONAL = [
    "sglang.srt.model_executor.model_runner",
    "sglang.srt.speculative.eagle_worker",
    "sglang.srt.layers.attention.flashinfer_backend",
    "sglang.srt.layers.attention.triton_backend",
]
KERNEL = "generate_draft_decode_kv_indices"

# Runs in the release; times the import alone (interpreter start excluded).
IMPORT_CODE = """
import importlib, time
t = time.perf_counter()
m = importlib.import_module({mod!r})
print("IMPORT_S %.2f" % (time.perf_counter() - t))
print("HAS_KERNEL", hasattr(m, {kernel!r}))
"""


def kernel_locations(root: Path) -> list[str]:
    """Files of the release that define the kernel (a plain grep)."""
    hits = []
    for path in sorted((root / "sglang").rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if f"def {KERNEL}(" in text:
            hits.append(str(path.relative_to(root)))
    return hits


def check_module(root: Path, mod: str) -> tuple[str, float, float | None, bool]:
    start = time.perf_counter()
    try:
        proc = rel.run_in_release(root, IMPORT_CODE.format(mod=mod, kernel=KERNEL))
    except Exception as exc:  # timeout and the like: report, keep going
        return f"error: {type(exc).__name__}: {exc}", time.perf_counter() - start, None, False
    wall = time.perf_counter() - start
    import_s, has_kernel = None, False
    for line in proc.stdout.splitlines():
        if line.startswith("IMPORT_S "):
            import_s = float(line.split()[1])
        elif line.startswith("HAS_KERNEL "):
            has_kernel = line.split()[1] == "True"
    if proc.returncode == 0:
        return "ok", wall, import_s, has_kernel
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    # The exception line is the last one of the traceback.
    return "error: " + (lines[-1].strip() if lines else f"rc={proc.returncode}"), wall, import_s, False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("releases", nargs="*", default=DEFAULT_RELEASES)
    ap.add_argument("--required-only", action="store_true",
                    help="skip the optional modules (faster)")
    args = ap.parse_args()

    if rel.cpu_env_python() is None:
        print(f"CPU env not built at {rel.cpu_env_dir()}: run ci/make-cpu-env.sh",
              file=sys.stderr)
        return 2

    modules = REQUIRED + ([] if args.required_only else OPTIONAL)
    failures, kernels = [], []
    print(f"{'release':<13} {'module':<60} {'wall_s':>6} {'imp_s':>6}  result", flush=True)
    for version in args.releases:
        root = rel.unpack(version)
        for mod in modules:
            if not (root / (mod.replace(".", "/") + ".py")).is_file():
                print(f"{version:<13} {mod:<60} {'-':>6} {'-':>6}  absent", flush=True)
                continue
            result, wall, import_s, has_kernel = check_module(root, mod)
            imp = f"{import_s:6.1f}" if import_s is not None else f"{'-':>6}"
            print(f"{version:<13} {mod:<60} {wall:6.1f} {imp}  {result}", flush=True)
            if result != "ok" and mod in REQUIRED:
                failures.append((version, mod))
            if mod.endswith(".flashinfer_backend") and result == "ok":
                kernels.append((version, f"flashinfer_backend has {KERNEL}: {has_kernel}"))
        kernels.append((version, f"{KERNEL} defined in: "
                        + (", ".join(kernel_locations(root)) or "nowhere")))

    print(f"\nWhere {KERNEL} lives:")
    for version, note in kernels:
        print(f"  {version:<13} {note}")
    if failures:
        print(f"\nFAILED required imports: {len(failures)}", file=sys.stderr)
        for version, mod in failures:
            print(f"  {version} {mod}", file=sys.stderr)
        return 1
    print("\nall required imports ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
