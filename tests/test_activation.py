"""The shim reaches every SGLang process with no explicit import, through the wheel's
.pth file: a plain ``python -c`` and a ``multiprocessing`` spawn child (how SGLang starts
its schedulers) import the real module already fixed. ``off`` and per-fix disable work,
and a module imported before the hook is fixed per function.

Runs in the CPU SGLang environment (real torch/triton, stand-ins for GPU-only packages).
"""

import json
import textwrap

import pytest

from sglang_releases import run_in_release, unpack
from sglang_spec_patches import __version__

pytestmark = pytest.mark.slow

RELEASE = "0.5.2"  # affected by F1-F4
MODULE = "sglang.srt.speculative.eagle_draft_cuda_graph_runner"
FIXED_LINE = "self.positions.zero_()"

PROBE = textwrap.dedent(
    f"""
    import inspect, json, sys
    import {MODULE} as m
    src = inspect.getsource(m.EAGLEDraftCudaGraphRunner.replay)
    rep = sys.modules["sglang_spec_patches"].report() if "sglang_spec_patches" in sys.modules else None
    # What a traceback would print for the patched call: linecache at the code's line numbers.
    import dis, linecache
    fn = m.EAGLEDraftCudaGraphRunner.replay
    shown = [linecache.getline(fn.__code__.co_filename, i.positions.lineno).strip()
             for i in dis.get_instructions(fn) if i.argval == "zero_"]
    print(json.dumps({{"patched": {FIXED_LINE!r} in src, "traceback_lines": shown,
                      "shim_loaded": "sglang_spec_patches" in sys.modules,
                      "report": rep}}))
    """
)


def last_json(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def states(report):
    return {f["fix"]: f["state"] for f in report["fixes"]}


def test_plain_subprocess_gets_the_fix_without_importing_the_shim(cpu_env):
    out = last_json(run_in_release(RELEASE, PROBE))
    assert out["shim_loaded"], "the .pth did not arm the hook"
    assert out["patched"]
    assert {FIXED_LINE} <= set(out["traceback_lines"])  # tracebacks show the patched line
    assert states(out["report"])["draft-padding-positions"] == "applies"
    assert out["report"]["modules"][MODULE]["how"] == "import-hook"


def test_spawned_child_gets_the_fix_and_logs_it(cpu_env, tmp_path):
    # The child's target lives in a module so spawn can pickle it by reference.
    (tmp_path / "spawn_probe_child.py").write_text(textwrap.dedent(
        f"""
        def child(q):
            import inspect
            import {MODULE} as m
            q.put({FIXED_LINE!r} in inspect.getsource(m.EAGLEDraftCudaGraphRunner.replay))
        """
    ))
    code = textwrap.dedent(
        """
        import json, multiprocessing as mp, sys
        from spawn_probe_child import child
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start(); got = q.get(timeout=300); p.join()
        print(json.dumps({"child_patched": got, "child_pid": p.pid,
                          "parent_imported_sglang": "sglang.srt" in " ".join(sys.modules)}))
        """
    )
    log_dir = tmp_path / "log"
    out = last_json(run_in_release(RELEASE, code, env={"SGLANG_SPEC_PATCHES_LOG_DIR": str(log_dir),
                                                       "PYTHONPATH": str(tmp_path)}))
    assert out["child_patched"]
    assert not out["parent_imported_sglang"]  # the parent never touched SGLang: the child did it alone
    lines = (log_dir / f"process-{out['child_pid']}.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert states(record)["draft-padding-positions"] == "applies"
    assert MODULE in record["modules"]


def test_start_up_loads_one_small_module_and_the_hook_on_first_sglang_import(cpu_env):
    code = textwrap.dedent(
        f"""
        import json, sys
        def ours():
            return sorted(n for n in sys.modules if n.lstrip("_").startswith("sglang_spec_patches"))
        def finders():  # a module on sys.meta_path (our placeholder) by its name
            return [getattr(f, "__name__", None) or type(f).__name__ for f in sys.meta_path]
        at_start = {{"modules": ours(), "finders": finders()}}
        import sglang.srt.utils  # not a target: the hook arrives and plans, patches nothing yet
        at_sglang = {{"modules": ours(), "finders": finders()}}
        import inspect, {MODULE} as m
        print(json.dumps({{"at_start": at_start, "at_sglang": at_sglang, "finders": finders(),
                          "patched": {FIXED_LINE!r} in inspect.getsource(m.EAGLEDraftCudaGraphRunner.replay)}}))
        """
    )
    out = last_json(run_in_release(RELEASE, code))
    assert out["at_start"]["modules"] == ["_sglang_spec_patches_start"]  # not even the package at start
    start = out["at_start"]["finders"]
    assert "_sglang_spec_patches_start" in start and "SpecPatchFinder" not in start
    assert "sglang_spec_patches.hook" in out["at_sglang"]["modules"]
    # The hook took the placeholder's place: a finder a later start-up file put in front stays there.
    after = out["at_sglang"]["finders"]
    assert "_sglang_spec_patches_start" not in after
    assert after.index("SpecPatchFinder") == start.index("_sglang_spec_patches_start")
    assert out["patched"]


def test_off_leaves_sglang_untouched(cpu_env):
    out = last_json(run_in_release(RELEASE, PROBE, env={"SGLANG_SPEC_PATCHES": "off"}))
    assert not out["patched"]


def test_per_fix_disable(cpu_env):
    out = last_json(run_in_release(RELEASE, PROBE, env={"SGLANG_SPEC_PATCHES_DISABLE": "draft-padding-positions"}))
    assert not out["patched"]
    fixes = states(out["report"])
    assert fixes["draft-padding-positions"] == "disabled"
    assert fixes["spec-disable-padding"] == "applies"  # the others still apply


def test_module_imported_before_the_hook_is_patched_per_function(cpu_env):
    code = textwrap.dedent(
        f"""
        import inspect, json, os, sys
        import {MODULE} as m
        before = {FIXED_LINE!r} in inspect.getsource(m.EAGLEDraftCudaGraphRunner.replay)
        os.environ["SGLANG_SPEC_PATCHES"] = "on"
        import sglang_spec_patches
        sglang_spec_patches.activate()
        fn = m.EAGLEDraftCudaGraphRunner.replay
        print(json.dumps({{"before": before,
                          "after": {FIXED_LINE!r} in inspect.getsource(fn),
                          "code_has_zero": "zero_" in fn.__code__.co_names and "positions" in fn.__code__.co_names,
                          "entry": sglang_spec_patches.report()["modules"][{MODULE!r}]}}))
        """
    )
    out = last_json(run_in_release(RELEASE, code, env={"SGLANG_SPEC_PATCHES": "off"}))
    assert not out["before"]
    assert out["after"] and out["code_has_zero"]
    assert out["entry"]["how"] == "live"
    assert out["entry"]["functions"] == ["EAGLEDraftCudaGraphRunner.replay"]
    assert out["entry"]["missed"] == []


def test_no_bytecode_under_sglangs_cache_name_and_stale_pyc_ignored(cpu_env, tmp_path):
    import py_compile
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(unpack(RELEASE), tree)
    target = tree / "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
    # A stale, unpatched .pyc as an earlier unpatched run would have left it.
    stale = py_compile.compile(str(target), doraise=True)
    stale_bytes = open(stale, "rb").read()
    # Bytecode writing on (as in most images): the patched code goes to our own cache file.
    out = last_json(run_in_release(tree, PROBE, env={"PYTHONDONTWRITEBYTECODE": ""}))
    assert out["patched"]
    assert out["report"]["modules"][MODULE]["bytecode"] == "compiled, cache written"
    assert open(stale, "rb").read() == stale_bytes  # never rewritten with patched code
    ours = stale.replace(".pyc", f".sglang-spec-patches-{__version__}.pyc")
    assert sorted(p.name for p in target.parent.joinpath("__pycache__").glob("eagle_draft_cuda_graph_runner.*")) == \
        sorted(p.rsplit("/", 1)[1] for p in (stale, ours))
    again = last_json(run_in_release(tree, PROBE, env={"PYTHONDONTWRITEBYTECODE": ""}))
    assert again["patched"] and again["report"]["modules"][MODULE]["bytecode"] == "read from cache"
    assert again["report"]["plan"] == "read from cache"
    assert open(stale, "rb").read() == stale_bytes


def test_sglang_plugin_entry_point_fixes_an_already_imported_module(cpu_env):
    """SGLang >= 0.5.11 loads `sglang.srt.plugins` entry points in its own processes, after
    many modules are imported: our plugin fixes them per function."""
    module = "sglang.srt.layers.attention.flashinfer_backend"
    code = textwrap.dedent(
        f"""
        import inspect, json, os, sys
        import {module} as m
        before = "self.topk" in inspect.getsource(m.FlashInferMultiStepDraftBackend.init_cuda_graph_state)
        os.environ["SGLANG_SPEC_PATCHES"] = "on"
        from sglang.srt.plugins import load_plugins
        load_plugins()
        fn = m.FlashInferMultiStepDraftBackend.init_cuda_graph_state
        print(json.dumps({{"before": before, "after": "self.topk" in inspect.getsource(fn),
                          "entry": sys.modules["sglang_spec_patches"].report()["modules"].get({module!r})}}))
        """
    )
    out = last_json(run_in_release("0.5.12.post1", code, env={"SGLANG_SPEC_PATCHES": "off"}))
    assert not out["before"] and out["after"]
    assert out["entry"]["how"] == "live" and "draft-kv-indices-topk" in out["entry"]["fixes"]
    assert "FlashInferMultiStepDraftBackend.init_cuda_graph_state" in out["entry"]["functions"]


def test_start_files_name_the_placeholder_and_arming_is_idempotent(cpu_env):
    """The .pth line and PEP 829's .start entry (``module:callable``, which Pythons that
    read .start files call instead of the .pth line) both lead to the same placeholder,
    armed once however often either runs; off arms nothing."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    pth_line = (repo / "sglang_spec_patches.pth").read_text().strip()
    module, func = (repo / "sglang_spec_patches.start").read_text().strip().split(":")
    assert pth_line == f"import {module}"
    code = textwrap.dedent(
        f"""
        import importlib, json, os, sys
        def placeholders():
            return sum(getattr(f, "__name__", "") == {module!r} for f in sys.meta_path)
        at_start = placeholders()  # armed by the installed .pth already
        entry = getattr(importlib.import_module({module!r}), {func!r})
        entry(); entry()
        import sglang_spec_patches
        sglang_spec_patches.arm()
        print(json.dumps({{"at_start": at_start, "after": placeholders()}}))
        """
    )
    assert last_json(run_in_release(RELEASE, code)) == {"at_start": 1, "after": 1}
    off = "import sys; print(__import__('json').dumps({'finders': [getattr(f, '__name__', '') for f in sys.meta_path]}))"
    assert module not in last_json(run_in_release(RELEASE, off, env={"SGLANG_SPEC_PATCHES": "off"}))["finders"]
