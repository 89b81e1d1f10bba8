"""Benchmark: what the shim costs. Prints numbers; asserts nothing (targets are read by people).

1. Start-up: ``python -c pass`` in a fresh venv, bare and with the wheel installed
   (the .pth runs in every process): median wall time and the ratio.
2. Patching: for each release given, the time one process spends deciding every fix and
   producing + compiling the patched text of every target module (what the hook does on
   first SGLang import), median over repeats.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def median_run(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        wheel_dir = Path(tmp) / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(REPO)],
                       check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "packaging", "unipatch"], check=True)
        bare = median_run([python, "-c", "pass"], runs)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", *map(str, wheel_dir.glob("*.whl"))],
                       check=True)
        armed = median_run([python, "-c", "pass"], runs)
        check = subprocess.run([python, "-c", "import sys; print('sglang_spec_patches' in sys.modules)"],
                               capture_output=True, text=True, check=True).stdout.strip()
        print(f"start-up  python -c pass: bare {bare * 1000:.1f} ms, with .pth {armed * 1000:.1f} ms, "
              f"ratio {armed / bare:.2f} (hook armed: {check}; median of {runs})")


def patch_time(releases: list[str], repeats: int) -> None:
    from sglang_releases import unpack
    from sglang_spec_patches import engine

    for release in releases:
        root = unpack(release)
        times, n_files = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            fixes = engine.load_fixes()
            plan = engine.plan(engine.SourceTree(root), fixes)
            for rel, text in plan.texts.items():
                compile(text, rel, "exec", dont_inherit=True)
            times.append(time.perf_counter() - start)
            n_files = len(plan.texts)
        applied = sum(d.state == engine.APPLIES for d in plan.decisions)
        print(f"patch     sglang {release}: {applied} fixes, {n_files} modules planned+patched+compiled "
              f"in {statistics.median(times) * 1000:.1f} ms (median of {repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--releases", nargs="*", default=["0.4.10", "0.5.2", "0.5.9", "0.5.12.post1"])
    args = parser.parse_args()
    startup(args.runs)
    patch_time(args.releases, repeats=10)


if __name__ == "__main__":
    main()
