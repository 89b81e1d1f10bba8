"""The GPU suite's own machinery, on any machine (no GPU, no torch, no SGLang needed).

* the engine driver arms the probe in the process SGLang spawns, the probe wraps the
  method when the module is imported there and records a broken invariant; the test
  side reads it back (with a stand-in ``sglang`` package: a stand-in Engine that starts
  one ``spawn`` child, as SGLang starts its scheduler, and a stand-in verify method that
  returns a mask too short for its indptrs);
* the skip reasons and the fix verdicts;
* the report written by ci/gpu-regress.sh;
* the whole GPU suite collects here and every test in it skips with a reason.
"""

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import gpu_report as report
from gpu_report import ALLOW_SKIPS_ENV as ALLOW_SKIPS
import spec_probe
import gpu_suite as suite

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

STANDIN_ENGINE = '''\
"""Stand-in for SGLang's offline Engine: one spawn child plays the scheduler."""
import multiprocessing as mp


def _scheduler(queue):
    from sglang.srt.speculative.eagle_utils import EagleVerifyInput

    EagleVerifyInput().generate_attn_arg_prefill([0, 1], [3, 4], 7, None)
    queue.put("done")


class Engine:
    def __init__(self, **kwargs):
        ctx = mp.get_context("spawn")
        self.queue = ctx.Queue()
        self.proc = ctx.Process(target=_scheduler, args=(self.queue,))
        self.proc.start()
        self.queue.get(timeout=120)

    def generate(self, input_ids, sampling_params):
        return [{"output_ids": [5] * p["max_new_tokens"],
                 "meta_info": {"finish_reason": {"type": "length", "length": p["max_new_tokens"]}}}
                for p in sampling_params]

    def shutdown(self):
        self.proc.join(60)
'''

STANDIN_VERIFY = '''\
"""Stand-in for SGLang's EagleVerifyInput: 2 requests, 2 draft tokens each, kv lengths
3 and 4, so FlashInfer would read 2*3 + 2*4 = 14 mask bits; the mask has 10."""


class StandInTensor(list):
    def tolist(self):
        return list(self)

    def numel(self):
        return len(self)


class EagleVerifyInput:
    def generate_attn_arg_prefill(self, req_pool_indices, paged_kernel_lens, paged_kernel_lens_sum, req_to_token):
        return StandInTensor(), StandInTensor([0, 3, 7]), StandInTensor([0, 2, 4]), StandInTensor([True] * 10)
'''


@pytest.fixture
def standin_sglang(tmp_path):
    root = tmp_path / "standin"
    for pkg in ("sglang", "sglang/srt", "sglang/srt/entrypoints", "sglang/srt/speculative"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "sglang/srt/entrypoints/engine.py").write_text(STANDIN_ENGINE)
    (root / "sglang/srt/speculative/eagle_utils.py").write_text(STANDIN_VERIFY)
    return root


def standin_case(root):
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    return suite.EngineCase(issue=9481, topk=1, steps=1, draft_tokens=2, env={"PYTHONPATH": path},
                            phases=[[{"input_len": 4, "max_new_tokens": 3}, {"input_len": 5, "max_new_tokens": 2}]])


def test_probe_arms_in_the_spawned_child_and_records_the_violation(standin_sglang, tmp_path):
    run = suite.run_engine(standin_case(standin_sglang), "off", tmp_path / "run", timeout=300)
    assert run.returncode == 0, run.describe()
    driver = run.driver_pid
    assert run.probe.armed_pids("driver") == {driver}
    children = run.probe.armed_pids("child")
    assert children and driver not in children, run.probe.records
    target = "EagleVerifyInput.generate_attn_arg_prefill"
    run.assert_probe_in_sglang(target)  # attached in the child, not only in the driver
    (bad,) = run.probe.violations("verify-mask")
    assert bad["pid"] in children and bad["target"] == target
    assert bad["detail"] == {"batch_size": 2, "mask_numel": 10, "mask_indptr_end": 14, "short_by": 4}
    # The test side sees a complete run whose invariant broke: not clean.
    assert [r["output_len"] for r in run.result["phases"][0]["requests"]] == [3, 2]
    with pytest.raises(AssertionError, match="invariants broken"):
        run.assert_clean()
    with pytest.raises(AssertionError, match="no SGLang process reports fix"):
        run.assert_shim_applied("verify-mask-padding")
    # The check was made in the child, but on no padded batch (the stand-in has no
    # retrive_index): a clean result of such a run would prove nothing, and says so.
    assert run.assert_checked("verify-mask")[0]["pid"] in children
    with pytest.raises(AssertionError, match="no verify-mask check on a padded batch"):
        run.assert_checked("verify-mask", padded=True)
    with pytest.raises(AssertionError, match="no draft-kv-indptr check"):
        run.assert_checked("draft-kv-indptr")


def test_probe_stays_out_when_not_asked(standin_sglang, tmp_path, monkeypatch):
    monkeypatch.delenv(spec_probe.OUT_ENV, raising=False)
    code = ("import sys, spec_probe; print(spec_probe.arm('driver'), "
            "any(isinstance(f, spec_probe.ProbeFinder) for f in sys.meta_path))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_probe_wraps_what_the_finders_after_it_load(standin_sglang, tmp_path, monkeypatch):
    """In-process: a module the probe does not target is left alone; a target is wrapped
    once; a check that cannot run is recorded as a probe error, never raised."""
    out = tmp_path / "probe.jsonl"
    code = textwrap.dedent(f"""
        import sys, spec_probe
        sys.path.insert(0, {str(standin_sglang)!r})
        spec_probe.arm("driver")
        spec_probe.arm("driver")  # idempotent
        import sglang.srt.entrypoints.engine as eng
        from sglang.srt.speculative.eagle_utils import EagleVerifyInput
        fn = EagleVerifyInput.generate_attn_arg_prefill
        assert fn.__spec_probe__ == "EagleVerifyInput.generate_attn_arg_prefill"
        assert not hasattr(eng.Engine.__init__, "__spec_probe__")
        fn(EagleVerifyInput(), None, None, 0, None)
    """)
    env = {**os.environ, spec_probe.OUT_ENV: str(out), "SGLANG_SPEC_PATCHES": "off"}
    subprocess.run([sys.executable, "-c", code], cwd=HERE, env=env, check=True)
    rep = spec_probe.Report.read(out)
    assert len(rep.armed_pids()) == 1 and len(rep.records) == 4  # armed, attached, checked, one violation
    assert rep.attached("EagleVerifyInput.generate_attn_arg_prefill")[0]["loader"] == "SourceFileLoader"

    # A check that raises becomes a probe-error record; the method still returns.
    def broken(args, result):
        raise RuntimeError("boom")

    monkeypatch.setenv(spec_probe.OUT_ENV, str(tmp_path / "errors.jsonl"))
    wrapped = spec_probe._wrap(lambda self, x: x + 1, "T.m", "after", broken)
    assert wrapped(None, 1) == 2
    (err,) = spec_probe.Report.read(tmp_path / "errors.jsonl").errors()
    assert err["error"] == "RuntimeError: boom"


def test_draft_check_ignores_capture_and_flags_stale_indptr(tmp_path, monkeypatch):
    class T(list):
        def tolist(self):
            return list(self)

        def sum(self):
            return sum(self)

        def __getitem__(self, item):
            got = list.__getitem__(self, item)
            return T(got) if isinstance(got, list) else got

    class Indptr:  # rows: steps; [:, n] -> the end of each step
        def __init__(self, ends):
            self.ends = ends

        def __getitem__(self, item):
            return T(self.ends)

    def capture_call_fn():
        pass

    capture_call_fn.__qualname__ = "FlashInferMultiStepDraftBackend.init_forward_metadata_capture_cuda_graph.<locals>.call_fn"
    monkeypatch.setenv(spec_probe.OUT_ENV, str(tmp_path / "p.jsonl"))
    backend = types.SimpleNamespace(topk=1, speculative_num_steps=3, kv_indptr=Indptr([90, 99, 0]))
    batch = types.SimpleNamespace(batch_size=8, seq_lens=T([10] * 5 + [1] * 3))
    buf = types.SimpleNamespace(shape=(3, 512))
    args = {"self": backend, "forward_batch": batch, "kv_indices_buffer": buf, "call_fn": capture_call_fn}
    spec_probe.check_draft_kv_indptr(args, None)
    assert not spec_probe.Report.read(tmp_path / "p.jsonl").records
    args["call_fn"] = lambda i, fb: None  # a real batch: written = 53 + 8 = 61 < 90
    spec_probe.check_draft_kv_indptr(args, None)
    (bad,) = spec_probe.Report.read(tmp_path / "p.jsonl").violations("draft-kv-indptr")
    assert bad["detail"] == {"batch_size": 8, "raw_bs": None, "topk": 1, "step": 0, "kv_indptr_end": 90, "written": 61,
                             "row_width": 512, "past_row": False}


def test_probe_counts_its_checks_on_padded_batches(tmp_path, monkeypatch):
    """A passing check writes no violation, so the probe records each check it made, and
    whether the batch was padded: the engine tests need padded checks > 0 to trust "clean"."""

    class T(list):
        def tolist(self):
            return list(self)

        def sum(self):
            return sum(self)

        def numel(self):
            return len(self)

        def __getitem__(self, item):
            got = list.__getitem__(self, item)
            return T(got) if isinstance(got, list) else got

    class Indptr:
        def __init__(self, ends):
            self.ends = ends

        def __getitem__(self, item):
            return T(self.ends)

    out = tmp_path / "p.jsonl"
    monkeypatch.setenv(spec_probe.OUT_ENV, str(out))
    backend = types.SimpleNamespace(topk=1, speculative_num_steps=3, kv_indptr=Indptr([10, 20, 0]))
    batch = types.SimpleNamespace(batch_size=8, seq_lens=T([10] * 5 + [1] * 3))
    args = {"self": backend, "forward_batch": batch, "kv_indices_buffer": types.SimpleNamespace(shape=(3, 512)),
            "call_fn": lambda i, fb: None}
    spec_probe.check_draft_kv_indptr(args, None)  # eager: no replay before it
    spec_probe.note_draft_replay({"forward_batch": types.SimpleNamespace(batch_size=5)}, None)
    spec_probe.check_draft_kv_indptr(args, None)  # replay padded 5 -> 8 (batch_size is 8 by now)
    spec_probe.note_draft_replay({"forward_batch": types.SimpleNamespace(batch_size=8)}, None)
    spec_probe.check_draft_kv_indptr(args, None)  # replay of a captured size
    rep = spec_probe.Report.read(out)
    assert not rep.violations()
    assert [(r["padded"], r["detail"]["raw_bs"]) for r in rep.checks("draft-kv-indptr")] == [
        (False, None), (True, 5), (False, 8)]
    assert len(rep.checks("draft-kv-indptr", padded=True)) == 1
    assert rep.checks("draft-kv-indptr", exclude_pids=[os.getpid()]) == []

    # Verify: the tree was built for retrive_index's rows; indptrs over more are padded.
    verify = types.SimpleNamespace(retrive_index=types.SimpleNamespace(shape=(1, 2)))
    result = (T(), T([0, 3, 7]), T([0, 2, 4]), T([True] * 14))
    spec_probe.check_verify_mask({"self": verify}, result)
    spec_probe.check_verify_mask({"self": types.SimpleNamespace(retrive_index=types.SimpleNamespace(shape=(2, 2)))},
                                 result)
    made = spec_probe.Report.read(out).checks("verify-mask")
    assert [(r["padded"], r["detail"]["raw_bs"], r["detail"]["batch_size"]) for r in made] == [
        (True, 1, 2), (False, 2, 2)]
    assert "checks made [unpadded, padded] {'draft-kv-indptr': [2, 1], 'verify-mask': [1, 1]}" in \
        spec_probe.Report.read(out).summary()


def test_probe_never_raises_into_sglang(tmp_path, monkeypatch):
    # Arming with an output path it cannot write: no exception, no records.
    monkeypatch.setenv(spec_probe.OUT_ENV, str(tmp_path / "no-such-dir" / "p.jsonl"))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    assert spec_probe.arm("child") is True
    spec_probe.violation("draft-rope", "T.m", max_position=1)  # a record it cannot write is dropped
    # A method it cannot wrap is left alone and recorded as a probe error.
    out = tmp_path / "p.jsonl"
    monkeypatch.setenv(spec_probe.OUT_ENV, str(out))

    def broken_wrap(*args):
        raise TypeError("no signature")

    monkeypatch.setattr(spec_probe, "_wrap", broken_wrap)
    module = types.SimpleNamespace(EagleVerifyInput=type("EagleVerifyInput", (), {
        "generate_attn_arg_prefill": lambda self: 1, "prepare_for_verify": lambda self, batch: 2}))
    assert spec_probe.attach(module, "sglang.srt.speculative.eagle_utils") == []
    assert module.EagleVerifyInput().generate_attn_arg_prefill() == 1
    errors = spec_probe.Report.read(out).errors()
    assert [e["error"] for e in errors] == ["attach: TypeError: no signature"] * 2


def test_mask_indptr_end_is_flashinfers_formula():
    class T(list):
        def tolist(self):
            return list(self)

    # qo lengths 16, 16; kv lengths 46, 57 (page size 1): 16*46 + 16*57
    assert spec_probe.mask_indptr_end(T([0, 16, 32]), T([0, 46, 103])) == 16 * 46 + 16 * 57


# --- skip reasons ---------------------------------------------------------------------


def test_cuda_reason_without_torch_and_without_a_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    assert suite.cuda_reason() == "no CUDA: PyTorch is not installed in this Python"
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert suite.cuda_reason() == "no CUDA GPU visible (torch.cuda.is_available() is False)"


def test_module_and_source_reasons(monkeypatch, tmp_path):
    assert suite.module_reason("surely_not_a_module_xyz", "why") == (
        "surely_not_a_module_xyz is not importable in this Python: why")
    assert suite.module_reason("json", "why") is None
    monkeypatch.setenv(suite.SRC_ENV, str(tmp_path))
    root, reason = suite.source_root()
    assert root is None and "does not contain an 'sglang' package" in reason
    (tmp_path / "sglang").mkdir()
    assert suite.source_root() == (tmp_path, "")


def test_require_engine_skips_without_cuda(monkeypatch):
    monkeypatch.setattr(suite, "cuda_reason", lambda: "no CUDA GPU visible (torch.cuda.is_available() is False)")
    with pytest.raises(pytest.skip.Exception, match="no CUDA GPU visible"):
        suite.require_engine(9888)
    monkeypatch.setattr(suite, "cuda_reason", lambda: None)
    monkeypatch.setattr(suite, "installed_sglang_root", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="SGLang is not installed in this Python"):
        suite.require_engine(9888)


def test_require_kernels_skips_without_source(monkeypatch):
    monkeypatch.setattr(suite, "cuda_reason", lambda: None)
    monkeypatch.setattr(suite, "module_reason", lambda name, why: None)
    monkeypatch.setattr(suite, "source_root", lambda: (None, "no SGLang: neither installed ..."))
    with pytest.raises(pytest.skip.Exception, match="no SGLang: neither installed"):
        suite.require_kernels(9481)


# --- the report -----------------------------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.gpu.test_issue_9888" name="test_patched_engine_is_clean" time="80"/>
<testcase classname="tests.gpu.test_issue_9481" name="test_kernel_flashinfer_reads_past_mask_under_compute_sanitizer[patched]" time="1">
<failure message="AssertionError: exit 86; out ...&#10;more lines">traceback</failure></testcase>
<testcase classname="tests.gpu.test_issue_9388" name="test_unpatched_short_draft_runs_past_its_rotary_cache" time="0">
<skipped type="pytest.skip" message="SGLang 0.5.3 is not affected by #9388 (draft-context-length: ...)">skip</skipped></testcase>
</testsuite></testsuites>
"""


def test_report_lists_every_test_with_its_outcome(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    rows = report.results(junit)
    assert [(r["test"], r["outcome"]) for r in rows] == [
        ("test_issue_9888::test_patched_engine_is_clean", "pass"),
        ("test_issue_9481::test_kernel_flashinfer_reads_past_mask_under_compute_sanitizer[patched]", "fail"),
        ("test_issue_9388::test_unpatched_short_draft_runs_past_its_rotary_cache", "skip"),
    ]
    assert rows[1]["detail"] == "AssertionError: exit 86; out ..."
    assert rows[2]["detail"].startswith("SGLang 0.5.3 is not affected by #9388")
    out = tmp_path / "report.md"
    env = {k: v for k, v in os.environ.items() if k != suite.SRC_ENV}
    proc = subprocess.run([sys.executable, str(HERE / "gpu_report.py"), "--junit", str(junit), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    # No SGLang here: which tests the run needed cannot be told, so it does not count.
    assert proc.returncode == 1 and "cannot tell which tests this run needed: no SGLang" in proc.stderr, proc.stderr
    text = out.read_text()
    assert "Result: 1 pass, 1 fail, 1 skip" in text
    assert "- SGLang: " in text and "- GPU: " in text
    assert "| `test_issue_9388::test_unpatched_short_draft_runs_past_its_rotary_cache` | skip | SGLang 0.5.3" in text


# --- the GPU suite on this machine -----------------------------------------------------


def _run_gpu_suite(tmp_path, **env):
    junit = tmp_path / "junit.xml"
    env = {**{k: v for k, v in os.environ.items() if k not in ("CI", ALLOW_SKIPS)}, "CUDA_VISIBLE_DEVICES": "", **env}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(HERE), "-m", "gpu", "-q", "-p", "no:cacheprovider",
                           "--junitxml", str(junit)], capture_output=True, text=True, cwd=REPO, env=env)
    return proc, report.results(junit)


def test_gpu_suite_collects_and_skips_with_reasons(tmp_path):
    """What `pytest -m gpu tests/gpu` does on a machine without a GPU (the GPU is hidden
    here, so this holds on a GPU machine too): every test skips, each with its reason."""
    proc, rows = _run_gpu_suite(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    per_issue = {n: [r for r in rows if f"test_issue_{n}::" in r["test"]] for n in (9888, 9521, 9481, 9388, 26340)}
    assert all(per_issue.values()), per_issue
    for r in rows:
        assert r["outcome"] == "skip" and r["detail"].startswith("no CUDA"), r
    assert json.dumps(rows)  # the report can carry them


def test_gpu_suite_under_ci_fails_when_it_skips_and_names_each_skip(tmp_path):
    proc, rows = _run_gpu_suite(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "GPU suite run does not count" in proc.stdout and "no test ran" in proc.stdout
    for r in rows:
        assert f"{r['test']} skipped: no CUDA" in proc.stdout, r["test"]
    proc, _ = _run_gpu_suite(tmp_path, CI="true", **{ALLOW_SKIPS: "1"})
    assert proc.returncode == 0, proc.stdout[-3000:]


# --- a run that does not count ----------------------------------------------------------


def _row(test, outcome, detail=""):
    return {"test": test, "outcome": outcome, "detail": detail}


def test_run_counts_only_when_every_test_the_release_needs_ran():
    not_affected = _row("t::b", "skip", "SGLang 0.5.9 is not affected by #9481 (verify-mask-padding: ...)")
    assert report.problems([_row("t::a", "pass"), not_affected]) == []
    assert report.problems([_row("t::a", "fail"), not_affected]) == []  # pytest's own status reports it
    assert report.problems([not_affected]) == ["no test ran: this run proves nothing"]
    assert report.problems([]) == ["no test ran: this run proves nothing"]
    missing = _row("t::c", "skip", "flashinfer is not importable in this Python: ...")
    assert report.problems([_row("t::a", "pass"), missing]) == [
        "t::c skipped: flashinfer is not importable in this Python: ..."]
    assert report.problems([_row("t::a", "pass"), missing], allow_skips=True) == []
    assert report.problems([missing], allow_skips=True) == []  # opted out: the caller's call
    baked = _row("t::d", "skip", "SGLang 0.5.2 at /x has fix draft-padding-positions baked in on disk (...)")
    assert report.problems([_row("t::a", "pass"), baked])


def test_expected_tests_are_the_gpu_suite():
    """The list of tests each release must run is the suite as collected: a test renamed
    or removed without the list changing fails here, and on a GPU run it would be missing."""
    proc = subprocess.run([sys.executable, "-m", "pytest", str(HERE), "-m", "gpu", "--collect-only", "-q",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=REPO)
    collected = {line.split("/")[-1].replace(".py::", "::") for line in proc.stdout.splitlines() if "::" in line}
    listed = {t for tests in report.EXPECTED.values() for t in tests}
    assert collected == listed, (collected - listed, listed - collected)


def test_run_does_not_count_when_a_test_the_release_needs_is_missing():
    expected = report.EXPECTED[26340]
    ran = [_row(expected[0], "pass")]  # [patched] renamed, deselected or not collected
    want = [f"{expected[1]} did not run: not collected, deselected or renamed"]
    assert report.problems(ran, expected=expected) == want
    assert report.problems(ran, allow_skips=True, expected=expected) == want  # skips may be allowed, absence not
    assert report.problems([_row(t, "pass") for t in expected], expected=expected) == []


def test_expected_tests_follow_the_release_and_the_mode():
    from sglang_releases import unpack

    kernel_0_5_2 = report.expected_tests(unpack("0.5.2"), kernel_only=True)
    assert {t.split("::")[0] for t in kernel_0_5_2} == {"test_issue_9888", "test_issue_9521", "test_issue_9481",
                                                         "test_issue_26340"}
    assert all("::test_kernel_" in t for t in kernel_0_5_2) and len(kernel_0_5_2) == 10
    assert len(report.expected_tests(unpack("0.5.2"), kernel_only=False)) == 20  # engine tests too
    assert report.expected_tests(unpack("0.5.12.post1"), kernel_only=False) == report.EXPECTED[26340]


def _gpu_regress(cwd, *args, **env):
    env = {**{k: v for k, v in os.environ.items() if k not in ("CI", ALLOW_SKIPS)}, "PYTHON": sys.executable,
           "CUDA_VISIBLE_DEVICES": "", **env}
    return subprocess.run(["bash", str(REPO / "ci" / "gpu-regress.sh"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_gpu_regress_fails_an_all_skipped_run_and_names_the_skips(tmp_path):
    """No CUDA here: every test skips. pytest says 0; the script must not."""
    proc = _gpu_regress(tmp_path, "--out", "report-dir")  # relative to where it was typed
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    text = (tmp_path / "report-dir" / "report.md").read_text()
    assert "Does not count" in text and "no test ran" in text
    for name in ("test_issue_9888::test_patched_engine_is_clean",
                 "test_issue_26340::test_kernel_draft_kv_indices_rows_hold_topk_prefixes[unpatched]"):
        assert f"gpu-report: {name} skipped: no CUDA" in out and f"- {name} skipped: no CUDA" in text
    proc = _gpu_regress(tmp_path, "--out", "report-dir", "--allow-skips")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Does not count (skips allowed with --allow-skips)" in (tmp_path / "report-dir" / "report.md").read_text()


# --- an installed shim that shadows the checkout ---------------------------------------


def _installed_copy(site):
    """A copy of this checkout laid out as the wheel installs it."""
    import shutil

    pkg = site / "sglang_spec_patches"
    shutil.copytree(REPO / "sglang_spec_patches", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_sglang_spec_patches_start.py", "sglang_spec_patches.pth", "sglang_spec_patches.start"):
        shutil.copyfile(REPO / name, site / name)
    for path in (REPO / "patches").glob("*/*"):
        if path.suffix in (".json", ".diff") or path.name == "fixed_when.py":
            (pkg / "patches" / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, pkg / "patches" / path.parent.name / path.name)
    return pkg


def test_shim_origin_tells_an_installed_copy_that_differs(tmp_path):
    import shim_origin

    pkg = _installed_copy(tmp_path / "site")
    assert shim_origin.compare(pkg, REPO) == []
    for name in shim_origin.START_FILES:  # the start-up files beside the package count too
        start = tmp_path / "site" / name
        original = start.read_bytes()
        start.write_bytes(original + b"\n")
        assert shim_origin.compare(pkg, REPO) == [f"../{name}"]
        start.unlink()
        assert shim_origin.compare(pkg, REPO) == [f"../{name}"]
        start.write_bytes(original)
    diff = next(pkg.glob("patches/*/*.diff"))
    diff.write_text(diff.read_text() + "\n")
    assert shim_origin.compare(pkg, REPO) == [f"patches/{diff.parent.name}/{diff.name}"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, str(HERE / "shim_origin.py"), str(REPO)], capture_output=True,
                          text=True, cwd="/", env=env)
    assert proc.returncode == shim_origin.DIFFERENT and diff.name in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, str(HERE / "shim_origin.py"), str(REPO)], capture_output=True,
                          text=True, cwd="/", env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == shim_origin.SAME, proc.stdout  # this checkout, installed editable


def test_gpu_regress_refuses_an_installed_shim_that_is_not_the_checkout(tmp_path):
    pkg = _installed_copy(tmp_path / "site")
    (pkg / "engine.py").write_text((pkg / "engine.py").read_text() + "\n# older copy\n")
    proc = _gpu_regress(tmp_path, "--out", "r", PYTHONPATH=str(tmp_path / "site"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "differs from this checkout (engine.py)" in proc.stdout and "--install-shim" in proc.stderr
    assert not (tmp_path / "r" / "junit.xml").exists()  # refused before any test ran


# --- what counts as compute-sanitizer's proof (#9481) ---------------------------------

SANITIZER_REPORT = """========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 1 bytes
=========     at segment_packbits_kernel+0x1b0
=========     Address 0x7f00000007f0 is out of bounds
========= ERROR SUMMARY: 3 errors
"""
CLEAN_REPORT = "========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n"


def test_only_the_sanitizers_own_evidence_proves_the_short_mask():
    from test_issue_9481 import SANITIZER_EXIT, sanitizer_problems

    short = {"short_by": 816, "plan_error": None}
    assert sanitizer_problems(False, SANITIZER_EXIT, short, SANITIZER_REPORT) == []
    # A plan that raised for its own reasons - wrong API, JIT failure - is no proof, whatever else happened.
    for error in ("TypeError: begin_forward() got an unexpected keyword argument 'custom_mask'",
                  "RuntimeError: JIT compilation failed"):
        raised = {"short_by": 816, "plan_error": error}
        assert sanitizer_problems(False, 1, raised, CLEAN_REPORT)
        assert sanitizer_problems(False, SANITIZER_EXIT, raised, SANITIZER_REPORT)
    assert sanitizer_problems(False, 0, short, CLEAN_REPORT)  # the read did not happen
    assert sanitizer_problems(False, SANITIZER_EXIT, short, "========= ERROR SUMMARY: 1 error\n")  # some other error
    assert sanitizer_problems(False, SANITIZER_EXIT, None, "Traceback ...")  # the sanitizer never ran it
    # Patched: exit 0, a full mask, and the sanitizer's clean summary.
    full = {"short_by": 0, "plan_error": None}
    assert sanitizer_problems(True, 0, full, CLEAN_REPORT) == []
    assert sanitizer_problems(True, 0, full, "no sanitizer here")
    assert sanitizer_problems(True, 0, {"short_by": 0, "plan_error": "RuntimeError: boom"}, CLEAN_REPORT)
    assert sanitizer_problems(True, SANITIZER_EXIT, full, SANITIZER_REPORT)


def test_a_cuda_error_after_the_sanitizers_read_still_proves_the_short_mask():
    """What the first GPU run would have hit: the sanitizer ends the kernel (or, with its
    default, the context) that read past the mask, so FlashInfer's plan raises a CUDA error
    on its next call. Beside the sanitizer's own evidence that is the bug; without it, no."""
    from test_issue_9481 import SANITIZER_EXIT, sanitizer_problems

    raised = {"short_by": 816, "plan_error": "AcceleratorError: CUDA error: unspecified launch failure"}
    assert sanitizer_problems(False, SANITIZER_EXIT, raised, SANITIZER_REPORT) == []
    assert sanitizer_problems(False, 1, raised, "Traceback ... CUDA error")  # no sanitizer evidence
    assert sanitizer_problems(False, SANITIZER_EXIT, raised, "========= ERROR SUMMARY: 1 error\n")  # not a read
    assert sanitizer_problems(True, SANITIZER_EXIT, raised, SANITIZER_REPORT)  # never with the fix


def test_sanitizer_runs_keep_the_context_and_judge_by_their_own_report():
    import sanitizer

    cmd = sanitizer.command("/cuda/bin/compute-sanitizer")
    flags = dict(zip(cmd[1::2], cmd[2::2]))
    assert flags["--destroy-on-device-error"] == "kernel" and flags["--tool"] == "memcheck"
    assert flags["--error-exitcode"] == str(sanitizer.EXIT)
    assert sanitizer.ENV == {"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"}
    write = SANITIZER_REPORT.replace("read of size 1", "write of size 4")
    assert sanitizer.problems("write", False, sanitizer.EXIT, write) == []
    assert sanitizer.problems("write", False, sanitizer.EXIT, SANITIZER_REPORT) == [
        "no invalid global write in the sanitizer's report"]
    assert sanitizer.problems("write", True, 0, CLEAN_REPORT) == []
    assert sanitizer.problems("write", True, sanitizer.EXIT, write) == [
        f"exit {sanitizer.EXIT}, expected 0", "the sanitizer reports 3 errors with the fix"]
    assert sanitizer.problems("write", True, 0, "Traceback: no sanitizer") == [
        "no compute-sanitizer summary in the output: the sanitizer did not run the script to its end"]


def test_sanitizer_probe_tells_works_refused_blind_and_absent():
    import sanitizer

    write = SANITIZER_REPORT.replace("read of size 1", "write of size 4")
    assert sanitizer.probe_verdict("/cs", sanitizer.EXIT, write)["state"] == sanitizer.WORKS
    refused = "========= Error: Target application terminated before first instrumented API call\n" \
              "========= Device not supported\n"
    got = sanitizer.probe_verdict("/cs", 255, refused)
    assert got["state"] == sanitizer.REFUSED and "Device not supported" in got["detail"]
    assert sanitizer.probe_verdict("/cs", 0, CLEAN_REPORT)["state"] == sanitizer.BLIND
    assert sanitizer.probe_verdict("/cs", None, "")["state"] == sanitizer.REFUSED  # timed out
    assert sanitizer.probe_verdict(None, None, "")["state"] == sanitizer.ABSENT


# --- device_check.py: every child's failure is a failed check, the report always written ---


def _fake_check(script, **kw):
    import kernel_checks

    return kernel_checks.KernelCheck(26340, "draft-kv-indices-topk", str(script), judge=kernel_checks.problems_26340,
                                     shown=("row_width",), **kw)


def test_device_check_reads_only_a_whole_json_object():
    import device_check

    assert device_check.last_json('log\n{"a": 1}\n') == ({"a": 1}, None)
    assert device_check.last_json("log only\n") == (None, "printed no JSON result")
    out, why = device_check.last_json('{"a": 1, "b":\n')
    assert out is None and why.startswith("printed an unreadable result")
    assert device_check.last_json("[1, 2]\n{") [0] is None


@pytest.mark.parametrize("body, expected", [
    ("print('{\"row_width\": 1')", "printed an unreadable result"),
    ("print('{\"kernel_copied_prefix\": true}')", "the result lacks what the check reads (KeyError"),
    ("import sys; print('Traceback: boom', file=sys.stderr); sys.exit(1)", "exit 1: Traceback: boom"),
    ("print('nothing')", "printed no JSON result"),
])
def test_device_check_turns_a_bad_child_into_a_failed_check(tmp_path, body, expected):
    import time

    import device_check

    script = tmp_path / "child.py"
    script.write_text(body + "\n")
    run = device_check.Run(_fake_check(script), "0.5.2", tmp_path, False)
    row = device_check.run_one(run, "cpu", 4, dict(os.environ), time.monotonic() + 60)
    assert row["outcome"] == "fail" and not row["passed"], row
    assert any(expected in p for p in row["problems"]), row["problems"]
    assert device_check.numbers(row) is not None  # the report can show it


def test_device_check_writes_its_report_whatever_stops_it(tmp_path, monkeypatch):
    import device_check

    def broken(dry_run):
        raise RuntimeError("torch import blew up")

    monkeypatch.setattr(device_check, "environment", broken)
    assert device_check.main(["--cpu-dry-run", "--out", str(tmp_path / "a")]) == 1
    report = json.loads((tmp_path / "a" / "device-report.json").read_text())
    assert report["verdict"] == "FAIL: the device check stopped: RuntimeError: torch import blew up"
    assert "FAIL: the device check stopped" in (tmp_path / "a" / "device-report.md").read_text()

    # A run that raises in this process (not in its child) becomes a failed row; the others stand.
    monkeypatch.setattr(device_check, "environment", lambda dry_run: ({"python": "3"}, None, None))
    monkeypatch.setattr(device_check.device_folder, "read_manifest", lambda d: {
        "releases": {"0.5.2": "x"}, "unipatch": "u", "packaging": "p"})
    monkeypatch.setattr(device_check.device_folder, "extract_source", lambda *a: None)
    monkeypatch.setattr(device_check.device_folder, "planned", lambda root: None)
    check = _fake_check(tmp_path / "none.py")
    monkeypatch.setattr(device_check.kernel_checks, "ALL", [check])
    monkeypatch.setattr(device_check, "runs_for", lambda c, v, root, plan: [
        device_check.Run(c, v, root, False), device_check.Run(c, v, root, True)])

    def run_one(run, *args):
        if run.patched:
            raise ZeroDivisionError("in the judge")
        return {**device_check.row_of(run), "outcome": "pass", "passed": True, "problems": [], "seconds": 1}

    monkeypatch.setattr(device_check, "run_one", run_one)
    assert device_check.main(["--cpu-dry-run", "--out", str(tmp_path / "b"), "--releases", "0.5.2"]) == 1
    report = json.loads((tmp_path / "b" / "device-report.json").read_text())
    assert [(r["patched"], r["outcome"]) for r in report["checks"]] == [(False, "pass"), (True, "fail")]
    assert report["checks"][1]["problems"] == [
        "the device check failed running it: ZeroDivisionError: in the judge"]
    assert report["verdict"] == "FAIL: 1 of 2 checks"


class _Plan:
    """Stand-in for an engine plan: one fix's decision, and the fixes applied per file."""

    def __init__(self, state, applied):
        self.state, self.applied = state, applied

    def decision(self, fix):
        return types.SimpleNamespace(state=self.state, reason="release carries the upstream fix: ...")

    def fixes_for(self, relpath):
        return self.applied.get(relpath, [])


def test_a_check_whose_fix_is_not_here_yet_says_so():
    import device_check
    import kernel_checks

    check = kernel_checks.ROWS_CAPTURE_BS
    target = check.target_file
    applies = _Plan("applies", {target: ["draft-kv-indptr-capture-bs"]})
    assert [r.patched for r in device_check.runs_for(check, "0.5.12.post1", Path("."), applies)] == [False, True]
    # 0.5.15.post1 before the fix's new families: the bug is known there, the fix is not in the plan.
    waiting = device_check.runs_for(check, "0.5.15.post1", Path("."), _Plan("not-applicable", {}))
    assert [(r.patched, bool(r.awaiting)) for r in waiting] == [(False, False), (True, True)]
    assert "draft-kv-indptr-capture-bs: not-applicable" in waiting[1].awaiting
    assert device_check.runs_for(check, "0.5.9", Path("."), _Plan("not-applicable", {})) == []
    # The Triton check names no fix: any fix of this checkout on triton_backend.py serves.
    triton = kernel_checks.ROWS_TRITON
    some_fix = _Plan("applies", {triton.target_file: ["triton-draft-kv-indptr"]})
    assert [r.awaiting for r in device_check.runs_for(triton, "0.5.15.post1", Path("."), some_fix)] == [None, None]
    row = device_check.run_one(waiting[1], "cpu", 4, {}, 0)
    assert row["outcome"] == "awaiting-fix" and row["problems"] == [waiting[1].awaiting]

    rows = [{"outcome": "pass"}, {"outcome": "awaiting-fix"}, {"outcome": "not-run"}]
    assert device_check.verdict({"checks": rows}, False, False) == (
        "PASS: 1 checks; 1 awaiting a fix not in this checkout; 1 sanitizer checks not run", 0)
    assert device_check.verdict({"checks": rows}, False, True)[1] == 1  # --require-fixes
    assert device_check.verdict({"checks": rows[1:]}, False, False)[1] == 1  # nothing passed


def test_a_refused_sanitizer_leaves_its_checks_not_run_and_named():
    import time

    import device_check
    import kernel_checks

    run = device_check.Run(kernel_checks.MEMCHECK_26340, "0.5.12.post1", Path("."), False)
    refused = {"state": "refused", "detail": "exit 255: Device not supported"}
    row = device_check.run_one(run, "cuda", 4, {}, time.monotonic() + 60, lambda: refused)
    assert row["outcome"] == "not-run" and row["problems"] == ["compute-sanitizer refused: exit 255: Device not supported"]
    assert kernel_checks.MEMCHECK_26340.argv(".", False, "cuda")[-1] == "--no-guard-band"


def test_a_kernel_the_sanitizer_ended_need_not_have_copied_its_prefix():
    """Unpatched under memcheck the kernel is ended at its first invalid write, so request
    0's programs may never run: only there is the copied prefix not required."""
    import kernel_checks

    out = {"kernel_copied_prefix": False, "guard_band": False, "past_buffer": None, "row_width": 32768,
           "last_row_needs": 48096, "fixes_in_file": ["draft-kv-indices-topk"]}
    assert kernel_checks.problems_26340(out, False) == []
    assert kernel_checks.problems_26340({**out, "guard_band": True, "past_buffer": 15328}, False) == [
        "the kernel did not copy request 0's req_to_token prefix"]
    assert "the kernel did not copy request 0's req_to_token prefix" in kernel_checks.problems_26340(
        {**out, "row_width": 131072}, True)
