"""Shared pieces of the GPU regression suite: why a test skips, which SGLang it runs,
and running one engine workload with the shim off or on.

Every reason is a plain sentence that ends up in pytest's skip report. Nothing here
imports torch or SGLang at module level, so the suite collects anywhere.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sglang_spec_patches import engine, runtime

import spec_probe
import tiny_models

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "engine_driver.py"
SRC_ENV = "SGLANG_SPEC_PATCHES_SGLANG_SRC"  # an unpacked SGLang wheel (bare GPU box)
TIMEOUT_ENV = "SGLANG_SPEC_PATCHES_GPU_TIMEOUT"

# Upstream issue -> the fix that answers it (patches/<fix>/fix.json lists the same numbers).
FIX_FOR_ISSUE = {
    9888: "draft-padding-positions",
    9521: "draft-padding-positions",
    9481: "verify-mask-padding",
    9388: "draft-context-length",
    26340: "draft-kv-indices-topk",
}


# --- where SGLang is ----------------------------------------------------------------


def installed_sglang_root() -> Path | None:
    """The directory holding the installed ``sglang`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("sglang")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def source_root() -> tuple[Path | None, str]:
    """SGLang source for the kernel-level tests: ``$SGLANG_SPEC_PATCHES_SGLANG_SRC`` (an
    unpacked wheel), else the installed SGLang. Returns (root, reason if none)."""
    given = os.environ.get(SRC_ENV)
    if given:
        if (Path(given) / "sglang").is_dir():
            return Path(given), ""
        return None, f"{SRC_ENV}={given} does not contain an 'sglang' package"
    root = installed_sglang_root()
    if root is None:
        return None, (f"no SGLang: neither installed in this Python nor given as an unpacked wheel "
                      f"in {SRC_ENV} (ci/gpu-regress.sh --wheel does that)")
    return root, ""


# --- reasons --------------------------------------------------------------------------


def cuda_reason() -> str | None:
    try:
        import torch
    except ImportError:
        return "no CUDA: PyTorch is not installed in this Python"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible (torch.cuda.is_available() is False)"
    return None


def module_reason(name: str, why: str) -> str | None:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{name} is not importable in this Python: {why}"


def sanitizer_path() -> str | None:
    """compute-sanitizer from the CUDA toolkit (see ``sanitizer.find``)."""
    import sanitizer

    return sanitizer.find()


@functools.lru_cache(maxsize=1)
def sanitizer_state() -> dict:
    """Whether compute-sanitizer works here, probed once per test run (``sanitizer.probe``)."""
    import sanitizer

    return sanitizer.probe()


def fix_verdict(root: Path, issue: int) -> tuple[str, str | None]:
    """("run" | "skip" | "fail", reason) for this issue on the SGLang tree at ``root``,
    from the engine's plan: the same decision the shim makes at import time."""
    fix_id = FIX_FOR_ISSUE[issue]
    tree = engine.SourceTree(root)
    decision = engine.plan(tree, disabled=()).decision(fix_id)
    version = tree.version() or "(version unknown)"
    if decision is None:
        return "fail", f"fix {fix_id} for #{issue} is not in the catalog"
    if decision.state == engine.APPLIES:
        return "run", None
    if decision.state == engine.NOT_APPLICABLE:
        return "skip", f"SGLang {version} is not affected by #{issue} ({fix_id}: {decision.reason})"
    if decision.state == engine.ALREADY_FIXED:
        return "skip", (f"SGLang {version} at {root} has fix {fix_id} baked in on disk ({decision.reason}); "
                        f"the unpatched run needs a pristine install")
    return "fail", f"fix {fix_id} for #{issue} is declined for SGLang {version}: {decision.reason}"


def _obey(verdict: tuple[str, str | None]) -> None:
    kind, reason = verdict
    if kind == "skip":
        pytest.skip(reason)
    if kind == "fail":
        pytest.fail(reason)


def require_engine(issue: int) -> Path:
    """Skip (with the reason) unless the real engine can run this issue's workload here."""
    reason = cuda_reason()
    if reason:
        pytest.skip(reason)
    root = installed_sglang_root()
    if root is None:
        pytest.skip("SGLang is not installed in this Python (the engine tests run the installed SGLang; "
                    "the kernel-level tests can run from a wheel: ci/gpu-regress.sh --wheel)")
    _obey(fix_verdict(root, issue))
    reason = module_reason("flashinfer", "the bug needs SGLang's FlashInfer attention backend")
    if reason:
        pytest.skip(reason)
    return root


def require_kernels(issue: int, flashinfer: bool = False, sanitizer: bool = False) -> Path:
    """Skip (with the reason) unless the kernel-level test can run: CUDA, Triton, SGLang source."""
    reason = cuda_reason() or module_reason("triton", "the SGLang kernels under test are Triton kernels")
    if reason:
        pytest.skip(reason)
    root, reason = source_root()
    if root is None:
        pytest.skip(reason)
    _obey(fix_verdict(root, issue))
    if flashinfer:
        reason = module_reason("flashinfer", "this test feeds the mask to FlashInfer's plan")
        if reason:
            pytest.skip(reason)
    if sanitizer:
        state = sanitizer_state()
        if state["state"] != "works":  # never assumed: it refuses some devices and runtimes
            pytest.skip(f"compute-sanitizer {state['state']} here: {state['detail']}")
    return root


def run_script(script: str, args: list[str], env: dict | None = None, prefix: list[str] = (),
               timeout: int = 600) -> tuple[dict | None, subprocess.CompletedProcess]:
    """Run one of the kernel-level scripts in a fresh Python; (its JSON, the process)."""
    proc = subprocess.run([*prefix, sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    out = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            out = json.loads(line)
            break
    return out, proc


def check_kernel(check, patched: bool) -> None:
    """Run one kernel-level check (``kernel_checks``) on the GPU for the SGLang under test."""
    root = require_kernels(check.issue)
    out, proc = run_script(check.script, check.argv(root, patched, "cuda"))
    assert proc.returncode == 0 and out, proc.stderr[-4000:]
    problems = check.problems(out, patched)
    assert not problems, f"{problems}: {out}"


# --- the engine workload --------------------------------------------------------------


@dataclass
class EngineCase:
    """One engine configuration that drives SGLang down an issue's buggy path."""

    issue: int
    topk: int
    steps: int
    draft_tokens: int
    phases: list  # [[{"input_len": n, "max_new_tokens": m}, ...], ...]: one batch per phase
    cuda_graph_bs: list | None = field(default_factory=lambda: [1, 2, 4, 8])  # None: CUDA graphs off
    context_length: int | None = None
    target_max_pos: int = 2048
    draft_max_pos: int = 2048
    env: dict = field(default_factory=dict)

    def engine_kwargs(self, target: Path, draft: Path) -> dict:
        """ServerArgs fields (the same names in every release from 0.4.10 to 0.5.6.post2)."""
        kwargs = dict(
            model_path=str(target), load_format="dummy", skip_tokenizer_init=True, dtype="bfloat16",
            attention_backend="flashinfer", speculative_algorithm="EAGLE",
            speculative_draft_model_path=str(draft), speculative_num_steps=self.steps,
            speculative_eagle_topk=self.topk, speculative_num_draft_tokens=self.draft_tokens,
            max_running_requests=16, max_total_tokens=32768, disable_radix_cache=True,
            random_seed=0, log_level="info",
        )
        if self.cuda_graph_bs is None:
            kwargs["disable_cuda_graph"] = True
        else:
            kwargs.update(cuda_graph_bs=list(self.cuda_graph_bs), cuda_graph_max_bs=max(self.cuda_graph_bs))
        if self.context_length is not None:
            kwargs["context_length"] = self.context_length
        return kwargs

    def config(self, models_dir: Path) -> dict:
        target, draft = tiny_models.write_models(models_dir, self.target_max_pos, self.draft_max_pos)
        return {"engine": self.engine_kwargs(target, draft), "phases": self.phases,
                "vocab_size": tiny_models.VOCAB_SIZE}


@dataclass
class EngineRun:
    shim: str
    returncode: int | None  # None: killed at the timeout
    result: dict
    probe: spec_probe.Report
    shim_records: list
    log: Path

    @property
    def driver_pid(self):
        return self.result.get("driver_pid")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def describe(self) -> str:
        phases = [[(r["output_len"], r["finish"]) for r in p["requests"]] for p in self.result.get("phases", [])]
        return (f"\n--- engine run, shim {self.shim}: exit {self.returncode}, started {self.result.get('started')}, "
                f"error {self.result.get('error')}\n--- phases done (output_len, finish): {phases}"
                f"\n--- probe: {self.probe.summary()}\n--- log tail ({self.log}):\n{self.log_tail()}")

    def shim_modules(self, fix_id: str) -> list[str]:
        """Modules the shim patched with this fix in SGLang's own processes (not the driver)."""
        return sorted({name for rec in self.shim_records if rec.get("pid") != self.driver_pid
                       for name, entry in rec.get("modules", {}).items() if fix_id in entry.get("fixes", [])})

    def assert_probe_in_sglang(self, target: str) -> None:
        where = self.probe.attached(target, exclude_pids=[self.driver_pid])
        assert where, (f"the probe did not attach to {target} in any SGLang process, so this run proves "
                       f"nothing{self.describe()}")

    def assert_checked(self, check: str, padded: bool = False, where=None, what: str = "") -> list[dict]:
        """The probe made ``check`` in SGLang's processes (on a padded batch with ``padded``,
        with ``where(detail)`` true if given): a clean result means something only then."""
        made = self.probe.checks(check, padded=True if padded else None, exclude_pids=[self.driver_pid])
        made = [r for r in made if where is None or where(r["detail"])]
        assert made, (f"the probe made no {check} check{' on a padded batch' if padded else ''}{what} in SGLang's "
                      f"processes: the run never reached the bug's path, so it proves nothing{self.describe()}")
        return made

    def assert_shim_applied(self, fix_id: str) -> None:
        assert self.shim_modules(fix_id), (
            f"no SGLang process reports fix {fix_id} applied: is the sglang-spec-patches wheel installed "
            f"in this Python (its .pth arms the hook in every process)?{self.describe()}")

    def assert_clean(self) -> None:
        """No invariant broken anywhere, no probe error, every request generated in full."""
        assert not self.probe.violations(), f"invariants broken with the shim on{self.describe()}"
        assert not self.probe.errors(), f"the probe failed to check{self.describe()}"
        assert self.returncode == 0 and self.result.get("error") is None, f"engine run failed{self.describe()}"
        phases = self.result.get("phases", [])
        assert len(phases) == self.result.get("expected_phases", len(phases)), self.describe()
        for phase in phases:
            for r in phase["requests"]:
                complete = (r["finish"] == "length" and r["ids_in_vocab"]
                            and 0 < r["output_len"] == r["finish_length"] <= r["max_new_tokens"])
                assert complete, f"incomplete generation {r}{self.describe()}"


def run_engine(case: EngineCase, shim: str, workdir: Path, timeout: int | None = None) -> EngineRun:
    """Run the case's workload in a fresh engine, with the shim ``off`` or ``on``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path, result_path = workdir / "config.json", workdir / "result.json"
    config_path.write_text(json.dumps(case.config(workdir / "models"), indent=2), encoding="utf-8")
    probe_out, log_dir, log = workdir / "probe.jsonl", workdir / "shim-log", workdir / "engine.log"
    env = {k: v for k, v in os.environ.items() if k != runtime.DISABLE_ENV}
    env.update({runtime.MODE_ENV: shim, runtime.LOG_DIR_ENV: str(log_dir), spec_probe.OUT_ENV: str(probe_out),
                "PYTHONUNBUFFERED": "1", **case.env})
    timeout = timeout or int(os.environ.get(TIMEOUT_ENV, "1200"))
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(config_path), str(result_path)], cwd=workdir,
                                env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:  # the engine's own children live in the driver's session: end them all
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    try:
        result = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        result = {}
    result["expected_phases"] = len(case.phases)
    records = []
    for path in sorted(log_dir.glob("process-*.jsonl")):
        try:
            records.append(json.loads(path.read_text().splitlines()[-1]))
        except (OSError, IndexError, json.JSONDecodeError):
            pass
    return EngineRun(shim, rc, result, spec_probe.Report.read(probe_out), records, log)


def check_patched_engine_is_clean(issue: int, case: EngineCase, target: str, check: str, workdir: Path) -> None:
    """Shim on: the fix is applied inside SGLang's processes, the probe watched the spot
    the bug corrupts on padded batches, and generation is clean and complete."""
    require_engine(issue)
    run = run_engine(case, "on", workdir)
    run.assert_shim_applied(FIX_FOR_ISSUE[issue])
    run.assert_probe_in_sglang(target)
    run.assert_checked(check, padded=True)
    run.assert_clean()
