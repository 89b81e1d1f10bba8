"""Kernel-level GPU checks for a lent GPU machine (run by ``ci/device-check.sh``).

``python device_check.py --device-dir .device --out DIR [--cpu-dry-run] [--issues ...]``
``python device_check.py --prepare-from WHEELS --device-dir .device`` (``--prepare``)

That machine has PyTorch with CUDA, Triton and the CUDA toolkit, but no SGLang, no
FlashInfer and no network. ``device-check.sh --prepare`` has put into ``.device/``, per
release checked here, a zip of the files the checks read of its SGLang wheel (with the
wheel's file list, so a read of a file left behind is an error: ``device_folder``), and wheels
of unipatch and packaging (this checkout's runtime dependencies), listed with their hashes
in ``manifest.json``.

For each release, each kernel-level check of ``kernel_checks`` that applies there runs
twice, in a fresh Python: on the release's code as shipped and as the shim patches it
(the engine's plan of the release: every fix of this checkout that applies). A check for
a bug known on a release where this checkout has no fix yet reads "awaiting-fix" on its
patched side. The SGLang code runs from the unpacked files, read by the scripts
(``real_code``) without importing SGLang, so nothing of SGLang's dependencies is needed;
the stand-ins are the scripts' own (named in each script). unipatch comes from its wheel
on PYTHONPATH. compute-sanitizer is probed once (``sanitizer.probe``); the sanitizer
checks run only where it found the planted write, else they read "not-run", with why.

Writes ``device-report.json`` and ``device-report.md`` into ``--out``, always, whatever
stops the run. Exit status: 0 when every check that ran showed what it must; 1 when one
failed or none ran; 2 when ``.device`` is missing or damaged; 3 when nothing could run
(no GPU, no PyTorch or no Triton: the verdict names which; never green).
``--cpu-dry-run`` runs the same checks on CPU under Triton's interpreter with fewer
replays and no sanitizer, to prove the plumbing: its report says in its title that it was
not a GPU run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(HERE), str(REPO)]

import device_folder  # noqa: E402
import kernel_checks  # noqa: E402
import sanitizer  # noqa: E402

# The releases checked, and why each: the last release of each code family that a check covers.
RELEASES = {
    "0.4.10": "first release the shim supports (0.4.10 family of every fix)",
    "0.5.2": "the release slime pinned longest; every older kernel-level check applies",
    "0.5.3rc0": "last release affected by draft-padding-positions",
    "0.5.12.post1": "last release affected by draft-kv-indices-topk (slime's pin); draft kv_indptr row spill",
    "0.5.15.post1": "slime's and Relax's pin: draft kv_indptr row spill (FlashInfer, Triton), with memcheck",
    "0.5.16": "miles' base: draft kv_indptr row spill (FlashInfer, Triton)",
}
NOTHING_RAN, BAD_DEVICE_DIR = 3, 2  # 3: no GPU, no PyTorch or no Triton (the report names which)
NO_GPU = NOTHING_RAN
# The whole run on the GPU: about 30 cold child processes, 4 at a time, each importing
# torch and compiling Triton kernels, the sanitizer ones slower. The lent machine's
# command limit is 540 s (README), which leaves room for start-up and the report.
GPU_BUDGET_S = 420
PASS, FAIL, AWAITING, NOT_RUN = "pass", "fail", "awaiting-fix", "not-run"
DRY_RUN_REPLAYS = 40  # the interpreter is slow; 40 replays still pass the row (replay ~23)
DRY_RUN_BUDGET_S = 3600  # only against a hang: a shared 2-core box takes 15-25 minutes


def environment(dry_run: bool) -> tuple[dict, str | None, str | None]:
    """(what this machine is, the verdict when no check can run here, why) - the verdict
    names what is missing: PyTorch, Triton or a GPU."""
    env = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        import torch
    except ImportError as exc:
        return env, "NOT RUN (no PyTorch)", f"PyTorch is not importable ({exc})"
    env["torch"] = torch.__version__
    env["cuda"] = torch.version.cuda
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError as exc:
        return env, "NOT RUN (no Triton)", f"Triton is not importable ({exc})"
    if dry_run:
        env["gpu"] = "none: CPU dry run (Triton interpreter)"
        return env, None, None
    if not torch.cuda.is_available():
        env["gpu"] = "none visible"
        return env, "NOT RUN (no GPU)", "no CUDA GPU visible (torch.cuda.is_available() is False)"
    env["gpu"] = torch.cuda.get_device_name(0)
    env["gpu_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return env, None, None


@dataclass
class Run:
    """One run of one check on one release: its script, or a named reason it has no result."""

    check: object
    version: str
    root: Path
    patched: bool
    awaiting: str | None = None  # the patched side waits for a fix this checkout lacks: why


def runs_for(check, version: str, root: Path, plan) -> list[Run]:
    """The runs of ``check`` on one release, from the engine's plan of that release."""
    from sglang_spec_patches import engine

    if check.only_releases and version not in check.only_releases:
        return []
    decision = plan.decision(check.fix) if check.fix else None
    applies = decision is not None and decision.state == engine.APPLIES
    if not applies and version not in check.bug_in:
        return []  # the release is not affected (or the bug is not known there)
    fixes = plan.fixes_for(check.target_file) if check.target_file else ([check.fix] if applies else [])
    if check.fix_in_plan(fixes):
        return [Run(check, version, root, False), Run(check, version, root, True)]
    why = (f"no fix of this checkout applies to {check.target_file or 'the file'} on {version}"
           + (f" ({check.fix}: {decision.state}: {decision.reason})" if decision else "")
           + "; the bug is known there, so its fix is expected from work not merged here")
    return [Run(check, version, root, False), Run(check, version, root, True, awaiting=why)]


def last_json(stdout: str) -> tuple[dict | None, str | None]:
    """(the JSON object a script printed last, why there is none)."""
    line = next((line for line in reversed(stdout.splitlines()) if line.startswith("{")), None)
    if line is None:
        return None, "printed no JSON result"
    try:
        out = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"printed an unreadable result ({exc}): {line[:200]}"
    return (out, None) if isinstance(out, dict) else (None, f"printed {type(out).__name__}, not an object")


def judge(check, out, patched, replays) -> list[str]:
    """The check's verdict; a result that lacks what the verdict reads is a failure, never a crash."""
    try:
        return check.problems(out, patched, replays)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"the result lacks what the check reads ({type(exc).__name__}: {exc}): {json.dumps(out)[:300]}"]


def row_of(run: Run) -> dict:
    c = run.check
    return {"issue": c.issue, "check": c.name, "fix": c.fix or f"(any fix of {c.target_file})",
            "release": run.version, "patched": run.patched, "script": c.script, "sanitizer": c.sanitizer,
            "what": c.what, "compared_with": c.origin}


def run_one(run: Run, device, replays, env, deadline, sanitizer_state=None) -> dict:
    """Run one check's script in a fresh Python (under compute-sanitizer for a sanitizer
    check) and judge it. Every way it can go wrong ends as a row, never as an exception."""
    check, row = run.check, row_of(run)
    if run.awaiting:
        return {**row, "outcome": AWAITING, "passed": False, "problems": [run.awaiting], "seconds": 0}
    prefix = []
    if check.sanitizer:
        state = sanitizer_state() if sanitizer_state else {"state": "not probed", "detail": "no probe"}
        if state["state"] != sanitizer.WORKS:
            return {**row, "outcome": NOT_RUN, "passed": False, "seconds": 0,
                    "problems": [f"compute-sanitizer {state['state']}: {state['detail']}"]}
        prefix = sanitizer.command(state["path"])
        env = {**env, **sanitizer.ENV}
    left = deadline - time.monotonic()
    if left < 5:
        return {**row, "outcome": FAIL, "passed": False, "problems": ["not run: the time budget was spent"],
                "seconds": 0}
    t0 = time.monotonic()
    cmd = [*prefix, sys.executable, str(HERE / check.script), *check.argv(run.root, run.patched, device, replays)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=left)
    except subprocess.TimeoutExpired:
        return {**row, "outcome": FAIL, "passed": False, "problems": ["timed out"],
                "seconds": round(time.monotonic() - t0, 1)}
    except OSError as exc:
        return {**row, "outcome": FAIL, "passed": False, "problems": [f"could not start: {exc}"], "seconds": 0}
    out, unreadable = last_json(proc.stdout)
    if check.sanitizer:  # the sanitizer's exit status is the evidence, not a failure of the script
        problems = sanitizer.problems(check.sanitizer, run.patched, proc.returncode, proc.stdout + proc.stderr)
        if out is None:
            problems.append(f"{check.script} {unreadable}: {proc.stderr.strip()[-800:]}")
    else:
        problems = [f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}"] if proc.returncode else []
        if out is None and not problems:
            problems.append(f"{check.script} {unreadable}")
    if out is not None:
        problems += judge(check, out, run.patched, replays)
    result = {**row, "outcome": FAIL if problems else PASS, "passed": not problems, "problems": problems,
              "result": out, "seconds": round(time.monotonic() - t0, 1)}
    if check.sanitizer:
        result["sanitizer_evidence"] = sanitizer.evidence(proc.stdout + proc.stderr)
    return result


def crashed(run: Run, exc: BaseException) -> dict:
    """A failed row for a check whose run raised in this process (the report still gets written)."""
    return {**row_of(run), "outcome": FAIL, "passed": False, "seconds": 0,
            "problems": [f"the device check failed running it: {type(exc).__name__}: {exc}"]}


def numbers(row: dict) -> str:
    out = row.get("result") or {}
    if not out:
        return ""
    check = next((c for c in kernel_checks.ALL if c.name == row.get("check") and c.script == row.get("script")), None)
    shown = []
    for k in (check.shown if check else ()):
        v = out.get(k)
        if isinstance(v, dict) and {"replay", "kv_indptr_end", "row_width"} <= set(v):  # where it passed the row
            v = f"replay {v['replay']} ({v['kv_indptr_end']} > {v['row_width']})"
        shown.append(f"{k} {v}")
    seen = row.get("sanitizer_evidence")
    if seen:
        shown.append(f"sanitizer: {seen['errors']} errors, {seen['invalid_writes']} invalid writes, "
                     f"{seen['invalid_reads']} invalid reads")
    return ", ".join(shown)


def markdown(report: dict) -> str:
    dry = report["cpu_dry_run"]
    title = ("# Device check: CPU DRY RUN - NOT A GPU RUN" if dry else "# Device check: kernel-level checks on a GPU")
    lines = [title, "", f"Date (UTC): {report['date']}", f"Verdict: **{report['verdict']}**", ""]
    if dry:
        lines += ["This run used Triton's interpreter on CPU tensors and "
                  f"{DRY_RUN_REPLAYS} draft replays: it proves the script's plumbing, not the GPU behaviour.", ""]
    lines += [f"- {k}: {v}" for k, v in report.get("environment", {}).items()]
    san = report.get("sanitizer")
    if san:
        lines.append(f"- compute-sanitizer: {san['state']} ({san['detail']})")
    lines += [f"- wall time: {report['seconds']} s", ""]
    if report.get("reason"):
        lines += [f"Nothing ran: {report['reason']}" if not report["checks"] else f"Note: {report['reason']}", ""]
    if report["checks"]:
        lines += ["| check | fix | release | code | result | numbers | seconds |", "|---|---|---|---|---|---|---|"]
        for r in report["checks"]:
            outcome = r.get("outcome", PASS if r["passed"] else FAIL)
            result = "pass" if outcome == PASS else f"{outcome.upper()}: " + "; ".join(r["problems"])
            code = ("patched" if r["patched"] else "as shipped") + (" (memcheck)" if r.get("sanitizer") else "")
            lines.append(f"| {r.get('check', r['issue'])} | {r['fix']} | {r['release']} | {code} "
                         f"| {result.replace('|', '/')[:400]} | {numbers(r)} | {r['seconds']} |")
        lines += ["", "What each check compares:"]
        for check in kernel_checks.ALL:
            lines.append(f"- {check.name} ({check.script}{', memcheck' if check.sanitizer else ''}): "
                         f"{check.what}; against {check.origin}.")
    return "\n".join(lines) + "\n"


def write(out_dir: Path, report: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "device-report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "device-report.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def verdict(report: dict, dry_run: bool, require_fixes: bool) -> tuple[str, int]:
    """(the verdict line, the exit status) of a run that got as far as running checks."""
    rows = report["checks"]
    count = {k: sum(r.get("outcome") == k for r in rows) for k in (PASS, FAIL, AWAITING, NOT_RUN)}
    failed = count[FAIL] + (count[AWAITING] if require_fixes else 0)
    extra = [f"{count[AWAITING]} awaiting a fix not in this checkout" if count[AWAITING] else "",
             f"{count[NOT_RUN]} sanitizer checks not run" if count[NOT_RUN] else ""]
    extra = "; ".join(e for e in extra if e)
    if not count[PASS] and not count[FAIL]:
        return "FAIL: no check ran" + (f" ({extra})" if extra else ""), 1
    if failed:
        return f"FAIL: {failed} of {len(rows)} checks" + (f" ({extra})" if extra else ""), 1
    return (f"PASS: {count[PASS]} checks" + (f"; {extra}" if extra else "")
            + (" (CPU dry run, not a GPU run)" if dry_run else "")), 0


def parse_issues(text: str) -> set:
    return {int(n) if n.isdigit() else n for n in text.split(",") if n}


def prepare_main(wheel_dir: Path, device_dir: Path) -> int:
    wheels = {}
    for version in RELEASES:
        found = sorted(wheel_dir.glob(f"sglang-{version}-*.whl"))
        if not found:
            print(f"device-check: no wheel of sglang {version} in {wheel_dir}", file=sys.stderr)
            return BAD_DEVICE_DIR
        wheels[version] = found[0]
    deps = [next(iter(sorted(wheel_dir.glob(f"{name}-*.whl"))), None) for name in ("unipatch", "packaging")]
    if None in deps:
        print(f"device-check: no unipatch or packaging wheel in {wheel_dir}", file=sys.stderr)
        return BAD_DEVICE_DIR
    try:
        manifest = device_folder.prepare(wheels, deps, device_dir)
    except ValueError as exc:
        print(f"device-check: {exc}", file=sys.stderr)
        return BAD_DEVICE_DIR
    print(f"device-check: prepared {device_dir} ({manifest['bytes'] // 1024} KiB):")
    for version, src in manifest["sources"].items():
        print(f"  {version}: {src['files']} of {src['of']} files of {src['wheel']}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device-dir", default=str(REPO / ".device"))
    p.add_argument("--out", help="where the report goes (required unless --prepare-from)")
    p.add_argument("--cpu-dry-run", action="store_true")
    p.add_argument("--releases", default=",".join(RELEASES), help="comma-separated, from: " + ", ".join(RELEASES))
    p.add_argument("--issues", default="", help="comma-separated checks: issue numbers or names "
                   "(" + ", ".join(sorted({c.name.lstrip('#') for c in kernel_checks.ALL})) + "); default every check")
    p.add_argument("--no-sanitizer", action="store_true", help="skip the compute-sanitizer checks")
    p.add_argument("--require-fixes", action="store_true",
                   help="a check awaiting a fix this checkout lacks fails the run (after the fixes are merged)")
    p.add_argument("--budget", type=float, default=None, help=f"seconds for all checks (GPU default {GPU_BUDGET_S})")
    p.add_argument("--jobs", type=int, default=None, help="checks run at once (GPU default 4, CPU 2)")
    p.add_argument("--prepare-from", metavar="DIR", help="fill --device-dir from the wheels in DIR (no checks run)")
    args = p.parse_args(argv)
    if args.prepare_from:
        return prepare_main(Path(args.prepare_from), Path(args.device_dir))
    if not args.out:
        p.error("--out is required")
    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), time.monotonic()
    out_dir, device_dir = Path(args.out), Path(args.device_dir)
    report = {"date": started, "cpu_dry_run": args.cpu_dry_run, "checks": [], "seconds": 0,
              "verdict": "FAIL: the device check stopped before it decided", "environment": {}}
    try:
        return _main(args, report, device_dir, t0)
    except BaseException as exc:  # whatever happened, the report is written and says so
        report["verdict"] = f"FAIL: the device check stopped: {type(exc).__name__}: {exc}"
        report["reason"] = report["verdict"]
        print(f"device-check: {report['verdict']}", file=sys.stderr)
        return 1 if not isinstance(exc, KeyboardInterrupt) else 130
    finally:
        report["seconds"] = round(time.monotonic() - t0, 1)
        write(out_dir, report)


def _main(args, report: dict, device_dir: Path, t0: float) -> int:
    env_info, not_run, reason = environment(args.cpu_dry_run)
    report["environment"] = env_info
    if not_run:
        report.update(verdict=not_run, reason=reason)
        print(f"device-check: {reason}: nothing ran, so nothing is proven", file=sys.stderr)
        return NOTHING_RAN
    try:
        manifest = device_folder.read_manifest(device_dir)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        report.update(verdict="NOT RUN (.device)", reason=str(exc))
        print(f"device-check: {exc}", file=sys.stderr)
        return BAD_DEVICE_DIR

    releases = [v for v in args.releases.split(",") if v]
    unknown = [v for v in releases if v not in manifest["releases"]]
    if unknown:
        reason = f"no source in {device_dir} for {', '.join(unknown)}"
        report.update(verdict="NOT RUN (.device)", reason=reason)
        print(f"device-check: {reason}", file=sys.stderr)
        return BAD_DEVICE_DIR
    wanted = parse_issues(args.issues) or {c.issue for c in kernel_checks.ALL}
    checks = [c for c in kernel_checks.ALL if c.issue in wanted and not (c.sanitizer and args.no_sanitizer)]
    device = "cpu" if args.cpu_dry_run else "cuda"
    replays = DRY_RUN_REPLAYS if args.cpu_dry_run else kernel_checks.REPLAYS
    budget = args.budget or (GPU_BUDGET_S if not args.cpu_dry_run else DRY_RUN_BUDGET_S)
    jobs = args.jobs or (2 if args.cpu_dry_run else 4)
    deps = [str(device_dir / manifest[name]) for name in ("unipatch", "packaging")]
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(deps + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if args.cpu_dry_run:
        child_env["TRITON_INTERPRET"] = "1"

    sys.path[:0] = deps  # this process plans too (which release each check applies to)
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory(prefix="device-check-") as tmp, ThreadPoolExecutor(max_workers=jobs) as pool:
        if any(c.sanitizer for c in checks) and not args.cpu_dry_run:
            probe = pool.submit(sanitizer.probe, child_env)  # first, while the others queue
        else:
            reason = "CPU dry run: no GPU for compute-sanitizer" if args.cpu_dry_run else "no sanitizer check selected"
            probe = None
            report["sanitizer"] = {"state": "not probed", "detail": reason}

        def sanitizer_state():
            state = probe.result() if probe else report["sanitizer"]
            report["sanitizer"] = state
            return state

        runs = []
        for version in releases:
            root = Path(tmp) / version
            try:
                device_folder.extract_source(device_dir, manifest, version, root)
                plan = device_folder.planned(root)
                runs += [r for c in checks for r in runs_for(c, version, root, plan)]
            except Exception as exc:  # one release's source is unusable: its checks fail, named
                runs += [Run(c, version, root, patched) for c in checks for patched in (False, True)
                         if not c.only_releases or version in c.only_releases]
                report.setdefault("release_errors", {})[version] = f"{type(exc).__name__}: {exc}"
        # The sanitizer checks go last: by then the probe has answered.
        runs.sort(key=lambda r: bool(r.check.sanitizer))
        futures = []
        for run in runs:
            error = report.get("release_errors", {}).get(run.version)
            if error:
                futures.append((run, None, error))
            else:
                futures.append((run, pool.submit(run_one, run, device, replays, child_env, deadline,
                                                 sanitizer_state if run.check.sanitizer else None), None))
        for run, future, error in futures:
            if error:
                report["checks"].append({**crashed(run, RuntimeError(f"release {run.version}: {error}"))})
                continue
            try:
                report["checks"].append(future.result())
            except Exception as exc:
                report["checks"].append(crashed(run, exc))
        if probe:
            sanitizer_state()

    report["verdict"], status = verdict(report, args.cpu_dry_run, args.require_fixes)
    if not report["checks"]:
        report["reason"] = "no selected check applies to the selected releases"
    return status


if __name__ == "__main__":
    sys.exit(main())
