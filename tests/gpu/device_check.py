"""Kernel-level GPU checks for a lent GPU machine (run by ``ci/device-check.sh``).

``python device_check.py --device-dir .device --out DIR [--cpu-dry-run]``

That machine has PyTorch with CUDA, Triton, pytest and packaging, but no SGLang, no
FlashInfer and no network. ``device-check.sh --prepare`` has put into ``.device/`` the
SGLang wheels of the releases checked here, and wheels of unipatch and packaging (this
checkout's runtime dependencies), listed with their hashes in ``manifest.json``.

For each release, each kernel-level check of ``kernel_checks`` that the release is
affected by runs twice, in a fresh Python: on the release's code as shipped and as the
shim patches it. The SGLang code runs from the unpacked wheel, read by the scripts
(``real_code``) without importing SGLang, so nothing of SGLang's dependencies is needed;
the stand-ins are the scripts' own (named in each script). unipatch comes from its wheel
on PYTHONPATH.

Writes ``device-report.json`` and ``device-report.md`` into ``--out``. Exit status: 0 when
every check ran and showed what it must; 1 when one failed or did not run; 2 when
``.device`` is missing or damaged; 3 when no GPU is visible (nothing ran: never green).
``--cpu-dry-run`` runs the same checks on CPU under Triton's interpreter with fewer
replays, to prove the plumbing: its report says in its title that it was not a GPU run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(HERE), str(REPO)]

import kernel_checks  # noqa: E402

# The releases checked, and why each: the last release of each code family that a check covers.
RELEASES = {
    "0.4.10": "first release the shim supports (0.4.10 family of every fix)",
    "0.5.2": "the release slime pinned longest; every kernel-level check applies",
    "0.5.3rc0": "last release affected by draft-padding-positions",
    "0.5.12.post1": "last release affected by draft-kv-indices-topk (slime's pin)",
}
NO_GPU, BAD_DEVICE_DIR = 3, 2
GPU_BUDGET_S = 270  # the whole run, on the GPU; the lent machine allows 5 minutes for it
DRY_RUN_REPLAYS = 40  # the interpreter is slow; 40 replays still pass the row (replay ~23)


def environment(dry_run: bool) -> tuple[dict, str | None]:
    """(what this machine is, why no check can run here or None)."""
    env = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        import torch
    except ImportError as exc:
        return env, f"PyTorch is not importable ({exc})"
    env["torch"] = torch.__version__
    env["cuda"] = torch.version.cuda
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError as exc:
        return env, f"Triton is not importable ({exc})"
    if dry_run:
        env["gpu"] = "none: CPU dry run (Triton interpreter)"
        return env, None
    if not torch.cuda.is_available():
        env["gpu"] = "none visible"
        return env, "no CUDA GPU visible (torch.cuda.is_available() is False)"
    env["gpu"] = torch.cuda.get_device_name(0)
    env["gpu_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return env, None


def read_manifest(device_dir: Path) -> dict:
    """The manifest, every file in it present with its hash; ValueError naming what is wrong."""
    path = device_dir / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{path} not found: run `bash ci/device-check.sh --prepare` where PyPI is reachable, "
                         f"and carry {device_dir.name}/ to the GPU machine")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, digest in manifest["sha256"].items():
        wheel = device_dir / name
        if not wheel.is_file():
            raise ValueError(f"{wheel} listed in the manifest is missing")
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != digest:
            raise ValueError(f"{wheel} does not match its hash in the manifest")
    return manifest


def affected(root: Path, fix: str) -> bool:
    from sglang_spec_patches import engine

    decision = engine.plan(engine.SourceTree(root), disabled=()).decision(fix)
    return decision is not None and decision.state == engine.APPLIES


def run_one(check, version, root, patched, device, replays, env, deadline) -> dict:
    row = {"issue": check.issue, "fix": check.fix, "release": version, "patched": patched,
           "script": check.script, "what": check.what, "compared_with": check.origin}
    left = deadline - time.monotonic()
    if left < 5:
        return {**row, "passed": False, "problems": ["not run: the time budget was spent"], "seconds": 0}
    t0 = time.monotonic()
    cmd = [sys.executable, str(HERE / check.script), *check.argv(root, patched, device, replays)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=left)
    except subprocess.TimeoutExpired:
        return {**row, "passed": False, "problems": ["timed out"], "seconds": round(time.monotonic() - t0, 1)}
    out = next((json.loads(line) for line in reversed(proc.stdout.splitlines()) if line.startswith("{")), None)
    problems = ([f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}"] if proc.returncode else [])
    problems += check.problems(out, patched, replays) if out or not problems else []
    return {**row, "passed": not problems, "problems": problems, "result": out,
            "seconds": round(time.monotonic() - t0, 1)}


def numbers(row: dict) -> str:
    out = row.get("result") or {}
    keys = {"draft_replay.py": ["padded_replays", "violations", "max_excess", "first_past_row"],
            "verify_mask.py": ["raw_bs", "bs", "mask_numel", "mask_indptr_end", "short_by"],
            "draft_kv_indices.py": ["row_width", "last_row_needs", "past_buffer"]}[row["script"]]
    shown = []
    for k in keys:
        v = out.get(k)
        if isinstance(v, dict):  # the first record past the row: where it happened
            v = f"replay {v['replay']} ({v['kv_indptr_end']} > {v['row_width']})"
        shown.append(f"{k} {v}")
    return ", ".join(shown)


def markdown(report: dict) -> str:
    dry = report["cpu_dry_run"]
    title = ("# Device check: CPU DRY RUN - NOT A GPU RUN" if dry else "# Device check: kernel-level checks on a GPU")
    lines = [title, "", f"Date (UTC): {report['date']}", f"Verdict: **{report['verdict']}**", ""]
    if dry:
        lines += ["This run used Triton's interpreter on CPU tensors and "
                  f"{DRY_RUN_REPLAYS} draft replays: it proves the script's plumbing, not the GPU behaviour.", ""]
    lines += [f"- {k}: {v}" for k, v in report["environment"].items()]
    lines += [f"- wall time: {report['seconds']} s", ""]
    if report.get("reason"):
        lines += [f"Nothing ran: {report['reason']}", ""]
    if report["checks"]:
        lines += ["| issue | fix | release | code | result | numbers | seconds |", "|---|---|---|---|---|---|---|"]
        for r in report["checks"]:
            result = "pass" if r["passed"] else "FAIL: " + "; ".join(r["problems"]).replace("|", "/")[:300]
            lines.append(f"| #{r['issue']} | {r['fix']} | {r['release']} | {'patched' if r['patched'] else 'as shipped'} "
                         f"| {result} | {numbers(r)} | {r['seconds']} |")
        lines += ["", "What each check compares:"]
        for check in kernel_checks.ALL:
            lines.append(f"- #{check.issue} ({check.script}): {check.what}; against {check.origin}.")
    return "\n".join(lines) + "\n"


def write(out_dir: Path, report: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "device-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "device-report.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device-dir", default=str(REPO / ".device"))
    p.add_argument("--out", required=True)
    p.add_argument("--cpu-dry-run", action="store_true")
    p.add_argument("--releases", default=",".join(RELEASES), help="comma-separated, from: " + ", ".join(RELEASES))
    p.add_argument("--issues", default="", help="comma-separated issue numbers (default: every check)")
    p.add_argument("--budget", type=float, default=None, help="seconds for all checks (GPU default 270)")
    p.add_argument("--jobs", type=int, default=None, help="checks run at once (GPU default 4, CPU 2)")
    args = p.parse_args(argv)
    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), time.monotonic()
    out_dir, device_dir = Path(args.out), Path(args.device_dir)
    report = {"date": started, "cpu_dry_run": args.cpu_dry_run, "checks": [], "seconds": 0}

    env_info, reason = environment(args.cpu_dry_run)
    report["environment"] = env_info
    if reason:
        report.update(verdict="NOT RUN (no GPU)", reason=reason)
        write(out_dir, report)
        print(f"device-check: {reason}: nothing ran, so nothing is proven", file=sys.stderr)
        return NO_GPU
    try:
        manifest = read_manifest(device_dir)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        report.update(verdict="NOT RUN (.device)", reason=str(exc))
        write(out_dir, report)
        print(f"device-check: {exc}", file=sys.stderr)
        return BAD_DEVICE_DIR

    releases = [v for v in args.releases.split(",") if v]
    unknown = [v for v in releases if v not in manifest["releases"]]
    if unknown:
        print(f"device-check: no wheel in {device_dir} for {', '.join(unknown)}", file=sys.stderr)
        return BAD_DEVICE_DIR
    issues = {int(n) for n in args.issues.split(",") if n} or {c.issue for c in kernel_checks.ALL}
    device = "cpu" if args.cpu_dry_run else "cuda"
    replays = DRY_RUN_REPLAYS if args.cpu_dry_run else kernel_checks.REPLAYS
    budget = args.budget or (GPU_BUDGET_S if not args.cpu_dry_run else 1800)
    jobs = args.jobs or (2 if args.cpu_dry_run else 4)
    deps = [str(device_dir / manifest[name]) for name in ("unipatch", "packaging")]
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(deps + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if args.cpu_dry_run:
        child_env["TRITON_INTERPRET"] = "1"

    sys.path[:0] = deps  # this process plans too (which release each check applies to)
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory(prefix="device-check-") as tmp:
        runs = []
        for version in releases:
            root = Path(tmp) / version
            with zipfile.ZipFile(device_dir / manifest["releases"][version]) as zf:
                zf.extractall(root)
            for check in kernel_checks.ALL:
                if check.issue in issues and affected(root, check.fix):
                    runs += [(check, version, root, patched) for patched in (False, True)]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_one, c, v, r, patched, device, replays, child_env, deadline)
                       for c, v, r, patched in runs]
            report["checks"] = [f.result() for f in futures]

    report["seconds"] = round(time.monotonic() - t0, 1)
    failed = [r for r in report["checks"] if not r["passed"]]
    if not report["checks"]:
        report.update(verdict="FAIL: no check ran", reason="no selected check applies to the selected releases")
    elif failed:
        report["verdict"] = f"FAIL: {len(failed)} of {len(report['checks'])} checks"
    else:
        report["verdict"] = f"PASS: {len(report['checks'])} checks" + (" (CPU dry run, not a GPU run)" if args.cpu_dry_run else "")
    write(out_dir, report)
    return 0 if report["checks"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
