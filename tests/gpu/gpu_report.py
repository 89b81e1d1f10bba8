"""Short markdown report of a GPU suite run: ``python gpu_report.py --junit X.xml --out report.md``.

Lists the SGLang release (and where it came from), the GPU and the versions that matter,
and every test of ``tests/gpu`` with pass / fail / skip and the reason or first line of
the failure. Reads pytest's JUnit XML; needs nothing but the standard library and this
checkout (torch and flashinfer are only asked for their versions, if importable).

Exit status 1 when the run does not count (see ``problems``): nothing ran, a test the
release must run is missing from the results (renamed, deselected, not collected: see
``EXPECTED``), or a test skipped for a reason other than "this release is not affected"
(no CUDA, no FlashInfer, no SGLang, a baked install ...). ``--allow-skips`` accepts the
skips (the report still lists them), never a missing test.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

# Every skip reason that comes from the release itself (fix_verdict and the tests) says this.
NOT_AFFECTED = "is not affected by"
ALLOW_SKIPS_ENV = "SGLANG_SPEC_PATCHES_GPU_ALLOW_SKIPS"  # set by ci/gpu-regress.sh --allow-skips

# Every test a release affected by the issue must run (as JUnit names it: module::test[id]).
# A test renamed, deselected or no longer collected is then missing from the results and
# the run does not count; test_suite_plumbing checks this list against the suite.
_ENGINE = ("test_unpatched_engine_plans_kv_indptr_past_what_was_written", "test_patched_engine_is_clean")
_BOTH = ("[unpatched]", "[patched]")
EXPECTED = {
    9888: [f"test_issue_9888::{t}" for t in _ENGINE]
    + [f"test_issue_9888::test_kernel_real_replay_feeds_generate_draft_decode_kv_indices{p}" for p in _BOTH],
    9521: [f"test_issue_9521::{t}" for t in _ENGINE]
    + [f"test_issue_9521::test_kernel_real_replay_tree_layout{p}" for p in _BOTH],
    9481: ["test_issue_9481::test_unpatched_engine_hands_flashinfer_a_short_mask",
           "test_issue_9481::test_patched_engine_is_clean"]
    + [f"test_issue_9481::test_kernel_verify_metadata_mask_length{p}" for p in _BOTH]
    + [f"test_issue_9481::test_kernel_flashinfer_reads_past_mask_under_compute_sanitizer{p}" for p in _BOTH],
    9388: [f"test_issue_9388::{t}" for t in (
        "test_unpatched_short_draft_runs_past_its_rotary_cache", "test_patched_short_draft_is_clean",
        "test_unpatched_end_of_context_writes_past_req_to_token_row", "test_patched_end_of_context_is_clean")],
    26340: [f"test_issue_26340::test_kernel_draft_kv_indices_rows_hold_topk_prefixes{p}" for p in _BOTH],
}


def expected_tests(root, kernel_only: bool) -> list[str]:
    """The tests the SGLang at ``root`` must run: those of every issue it is affected by
    (the engine's plan decides, as for the skips), kernel-level ones only on a bare box."""
    import gpu_suite as suite

    wanted = []
    for issue, tests in EXPECTED.items():
        if suite.fix_verdict(root, issue)[0] != "skip":
            wanted += [t for t in tests if not kernel_only or "::test_kernel_" in t]
    return wanted


def missing(rows: list[dict], expected: list[str]) -> list[str]:
    seen = {r["test"] for r in rows}
    return [f"{t} did not run: not collected, deselected or renamed" for t in expected if t not in seen]


def results(junit_path) -> list[dict]:
    """One entry per test case: {"test", "outcome", "detail"}."""
    out = []
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome, detail = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "fail" if child.tag == "failure" else "error"
                detail = (child.get("message") or child.text or "").strip()
            elif child.tag == "skipped":
                outcome = "skip"
                detail = (child.get("message") or "").strip()
        first = detail.splitlines()[0] if detail else ""
        out.append({"test": f"{module}::{case.get('name')}", "outcome": outcome,
                    "detail": first[:300] + ("..." if len(first) > 300 else "")})
    return out


def problems(rows: list[dict], allow_skips: bool = False, expected: list[str] = ()) -> list[str]:
    """Why a run of the GPU suite does not count; empty when it does. The tests expected
    for a release (``expected_tests``) must each be in the results, and every test must
    have run (pass or fail) unless the release is not affected by it."""
    absent = missing(rows, list(expected))
    if allow_skips:  # the caller opted out of the skips; the report still lists every skip
        return absent
    ran = [r for r in rows if r["outcome"] in ("pass", "fail", "error")]
    out = [] if ran else ["no test ran: this run proves nothing"]
    return out + absent + [f"{r['test']} skipped: {r['detail']}" for r in rows
                           if r["outcome"] == "skip" and NOT_AFFECTED not in r["detail"]]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict:
    import gpu_suite as suite
    from sglang_spec_patches import __version__, engine

    root, reason = suite.source_root()
    if root is None:
        sglang = f"none ({reason})"
    else:
        origin = "unpacked wheel" if os.environ.get(suite.SRC_ENV) else "installed"
        sglang = f"{engine.SourceTree(root).version() or 'version unknown'} ({origin}, {root})"
    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
        else:
            gpu = f"none visible (torch {torch.__version__})"
    except ImportError:
        gpu = "none (PyTorch not installed)"
    return {"SGLang": sglang, "GPU": gpu, "triton": _version("triton"), "flashinfer": _version("flashinfer-python"),
            "sglang-spec-patches": __version__,
            "compute-sanitizer": suite.sanitizer_path() or "not found"}


def markdown(rows: list[dict], env: dict, mode: str, allow_skips: bool = False, expected: list[str] = ()) -> str:
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("pass", "fail", "error", "skip")}
    lines = ["# GPU regression suite (#9888, #9521, #9481, #9388, #26340)", "", f"Mode: {mode}", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += ["", "Result: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) if rows else "Result: no tests ran"]
    found = problems(rows, expected=expected)
    if found:
        lines += ["", "Does not count" + (" (skips allowed with --allow-skips)" if allow_skips else "") + ":"]
        lines += [f"- {p}" for p in found]
    lines += ["", "| test | result | detail |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['test']}` | {r['outcome']} | {r['detail'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--junit", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", default="installed SGLang: engine and kernel-level tests")
    p.add_argument("--allow-skips", action="store_true", help="skips for lack of CUDA, FlashInfer ... do not fail")
    p.add_argument("--kernel-only", action="store_true", help="the run selected the kernel-level tests (bare box)")
    args = p.parse_args(argv)
    import gpu_suite as suite

    rows = results(args.junit) if Path(args.junit).is_file() else []
    root, reason = suite.source_root()
    expected = expected_tests(root, args.kernel_only) if root is not None else []
    Path(args.out).write_text(markdown(rows, environment(), args.mode, args.allow_skips, expected), encoding="utf-8")
    found = problems(rows, args.allow_skips, expected)
    if root is None and not args.allow_skips:
        found.append(f"cannot tell which tests this run needed: {reason}")
    for line in found:
        print(f"gpu-report: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
