"""Benchmark: what the shim costs. Prints numbers; asserts nothing (targets are read by people).

Every comparison is made of paired runs, alternating which side goes first, in one
process tree; it prints the median of the per-pair ratios (and each side's median), so
a machine busy with other work slows both sides of a pair alike.

1. Start-up: ``python -c pass`` in fresh venvs built alike, one with the wheel (its
   .pth runs in every process). Target: ratio <= 1.02. For scale, two venvs whose only
   extra is a .pth: one with ``import os`` (what site.py charges for any import line),
   one with ``import keyword`` (a tiny stdlib module: what importing any module costs).
2. Patched import: in the CPU SGLang environment, per release, the modules the fixes
   patch are imported again and again in one process (their dependencies stay loaded):
   by SGLang's own loader from SGLang's ``.pyc``, and by a fresh hook from our bytecode
   cache (target: within 10% of the ``.pyc``). A new process also reads the plan once
   (from its cache, checked against every file it read): shown in ms, and with it.
   Also shown: a fresh hook without its caches (plans and compiles: the first process
   after SGLang or the shim changed).
3. Patching: time one process spends deciding every fix and producing + compiling the
   patched text of every target module.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def timed_process(cmd: list[str]):
    def run() -> float:
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        return time.perf_counter() - start
    return run


def startup(pairs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = Path(tmp) / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(REPO)],
                       check=True)
        pythons = {}
        for name in ("bare", "armed", "floor", "one_module"):
            env_dir = Path(tmp) / name
            venv.create(env_dir, with_pip=True)
            pythons[name] = str(env_dir / "bin" / "python")
            subprocess.run([pythons[name], "-m", "pip", "install", "-q", "packaging", "unipatch"], check=True)
        subprocess.run([pythons["armed"], "-m", "pip", "install", "-q", "--no-deps", *map(str, wheel_dir.glob("*.whl"))],
                       check=True)
        # For scale: what any .pth import line costs (one importing nothing new), and what one
        # importing a module costs (a tiny stdlib one).
        for name, line in (("floor", "import os"), ("one_module", "import keyword")):
            site = subprocess.run([pythons[name], "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            Path(site, f"{name}.pth").write_text(line + "\n")
        check = subprocess.run([pythons["armed"], "-c", "import sys; f = sys.meta_path[0]; print(getattr(f, '__name__', f))"],
                               capture_output=True, text=True, check=True).stdout.strip()
        # All four in every round (order reversed every other round): they share the machine's moods.
        names = ("bare", "armed", "floor", "one_module")
        runs = {name: timed_process([pythons[name], "-c", "pass"]) for name in names}
        times = {name: [] for name in names}
        for i in range(pairs):
            for name in (names if i % 2 == 0 else names[::-1]):
                times[name].append(runs[name]())
        ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
        ratio = {name: statistics.median(b / a for a, b in zip(times["bare"], t)) for name, t in times.items()}
        print(f"start-up  python -c pass: bare {ms['bare']:.2f} ms, with our .pth {ms['armed']:.2f} ms, "
              f"ratio {ratio['armed']:.3f} (target <= 1.02; first finder: {check}; median of {pairs} rounds)\n"
              f"          for scale, a .pth whose line imports nothing new (`import os`): ratio {ratio['floor']:.3f};\n"
              f"          one that imports a tiny stdlib module (`import keyword`): ratio {ratio['one_module']:.3f}")


# Runs inside the CPU SGLang environment, the release on sys.path, the shim armed by its .pth.
IMPORT_PROBE = textwrap.dedent(
    """
    import gc, importlib, json, statistics, sys, time
    from sglang_spec_patches import engine, hook, runtime

    root, pairs = sys.argv[1], int(sys.argv[2])
    plan = engine.plan(engine.SourceTree(root), engine.load_fixes())
    names = [engine.module_name(rel) for rel in plan.texts]
    for name in names:
        importlib.import_module(name)  # the hook replaces its placeholder here
    real = hook.installed_finder()
    slot = sys.meta_path.index(real)  # start-up stand-ins stay in front of it
    sys.meta_path.remove(real)
    settings = runtime.Settings("on", frozenset(), None)

    decided, misses = None, []

    def load(how):
        for name in names:
            sys.modules.pop(name, None)
        finder = None
        if how != "pyc":  # a fresh finder, as in a new process: plans (or reads its plan cache)
            finder = hook.SpecPatchFinder(settings, use_plan_cache=how != "uncached")
            if how == "loader":  # the plan made already: only what the hook adds per module
                finder.state.plan = decided
            sys.meta_path.insert(slot, finder)
        if how == "uncached":
            from sglang_spec_patches import bytecode
            saved, bytecode.load = bytecode.load, lambda *a: None
        gc.collect()  # each side starts from the same heap, not the garbage of the one before
        start = time.perf_counter()
        for name in names:
            importlib.import_module(name)
        took = time.perf_counter() - start
        if how == "uncached":
            bytecode.load = saved
        if finder is not None:
            sys.meta_path.remove(finder)
            patched = all(type(sys.modules[n].__spec__.loader).__name__ == "PatchedSourceLoader" for n in names)
            if not patched or (how != "uncached" and not finder.state.plan.from_cache):
                misses.append(how)  # the shim was reinstalled or SGLang changed meanwhile
        return took

    for how in ("pyc", "cached", "pyc", "cached"):  # warm-up: writes SGLang's .pyc and our caches
        load(how)
    from sglang_spec_patches import plancache
    decided = plancache.load(str(root), frozenset())
    plan_ms = []
    for _ in range(pairs):
        start = time.perf_counter()
        plancache.load(str(root), frozenset())
        plan_ms.append(time.perf_counter() - start)
    misses.clear()
    order, rows = ("pyc", "loader", "cached", "uncached"), []
    for i in range(pairs):
        took = {how: load(how) for how in (order if i % 2 == 0 else order[::-1])}
        rows.append([took[how] for how in order])
    print(json.dumps({"modules": len(names), "rows": rows, "plan": statistics.median(plan_ms), "misses": len(misses)}))
    """
)


def patched_import(releases: list[str], pairs: int) -> None:
    from sglang_releases import cpu_env_python, run_in_release

    if cpu_env_python() is None:
        print("patched import: skipped, the CPU SGLang environment is not built (make cpu-env)")
        return
    subprocess.run(["bash", str(REPO / "ci" / "install-shim.sh"), str(cpu_env_python().parent.parent)], check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    for release in releases:
        from sglang_releases import unpack

        code = f"import sys; sys.argv = ['probe', {str(unpack(release))!r}, '{pairs}']\n" + IMPORT_PROBE
        # Both sides may write their bytecode (SGLang's .pyc, our cache) in the warm-up.
        proc = run_in_release(release, code, env={"PYTHONDONTWRITEBYTECODE": "", "SGLANG_SPEC_PATCHES": "on"})
        if proc.returncode != 0:
            print(f"patched import sglang {release}: FAILED\n{proc.stderr[-2000:]}")
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        rows = out["rows"]
        pyc, loader, cached, uncached = (statistics.median(col) * 1000 for col in zip(*rows))
        ratio = {i: statistics.median(row[i] / row[0] for row in rows) for i in (1, 2, 3)}
        print(f"import    sglang {release}, {out['modules']} patched modules (median of {pairs} pairs):\n"
              f"            from SGLang's .pyc {pyc:.1f} ms; through the hook {loader:.1f} ms, "
              f"ratio {ratio[1]:.3f} (target <= 1.10)\n"
              f"            + once per process, the plan read from its cache: {out['plan'] * 1000:.2f} ms "
              f"(with it: {cached:.1f} ms, ratio {ratio[2]:.3f})\n"
              f"            without our caches (plan decided, modules compiled): {uncached:.1f} ms, "
              f"ratio {ratio[3]:.2f}")
        if out["misses"]:
            print(f"            note: {out['misses']} timed imports missed the plan cache or left a module "
                  "unpatched (the shim or SGLang changed meanwhile)")


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
    parser.add_argument("--pairs", type=int, default=300, help="start-up rounds (each runs all four venvs)")
    parser.add_argument("--import-pairs", type=int, default=30, help="paired re-imports per release")
    parser.add_argument("--releases", nargs="*", default=["0.4.10", "0.5.2", "0.5.9", "0.5.12.post1"])
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # start-up is measured as users run Python
    startup(args.pairs)
    patched_import(args.releases, args.import_pairs)
    patch_time(args.releases, repeats=10)


if __name__ == "__main__":
    main()
