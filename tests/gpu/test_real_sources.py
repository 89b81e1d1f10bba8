"""The GPU suite against the real SGLang sources of the affected releases, without a GPU.

What the GPU run relies on is checked here from the release's own files:

* every ServerArgs field the engine cases pass exists (same names in every release);
* the end-of-context requests of test_issue_9388 pass the release's own request
  validation, and the scheduler's clip still lets the last verify write past the row;
* every method the probe wraps exists with the parameter names its check binds;
* the functions the kernel-level scripts take out of SGLang are found, compile, and use
  no module-level name the scripts do not supply - unpatched and as the shim patches them.
"""

import ast
import builtins
import types

import pytest

import real_code
import gpu_suite as suite
from sglang_releases import unpack
from sglang_spec_patches import engine

import test_issue_9388
import test_issue_9481
import test_issue_9521
import test_issue_9888

# Spread over the affected range, one per code family of the fixes.
RELEASES = ["0.4.10", "0.5.0rc2", "0.5.1", "0.5.2", "0.5.3rc0", "0.5.3rc2", "0.5.4.post2", "0.5.6.post2"]
CASES = [test_issue_9888.CASE, test_issue_9521.CASE, test_issue_9481.CASE,
         test_issue_9388.SHORT_DRAFT, test_issue_9388.END_OF_CONTEXT]
# What each probe target's check binds by name.
PROBE_PARAMS = {
    ("sglang/srt/layers/attention/flashinfer_backend.py", "FlashInferMultiStepDraftBackend", "common_template"):
        {"self", "forward_batch", "kv_indices_buffer"},
    ("sglang/srt/speculative/eagle_worker.py", "EAGLEWorker", "draft"): {"self", "batch"},
    ("sglang/srt/models/llama.py", "LlamaForCausalLM", "forward"): {"self", "positions"},
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py", "EAGLEDraftCudaGraphRunner", "replay"):
        {"self", "forward_batch"},
}
VERIFY_PARAMS = {"generate_attn_arg_prefill": {"self"}, "prepare_for_verify": {"self", "batch"}}
ISSUES = (9888, 9521, 9481, 9388, 26340)
FIRST_FIXED = {9888: "0.5.3rc2", 9521: "0.5.3rc2", 9481: "0.5.7", 9388: "0.5.3rc2", 26340: "0.5.13"}
# Where only #26340 is left (the 0.5.9, 0.5.10.post1 and 0.5.12.post1 images run just its test).
LATE_RELEASES = ["0.5.9", "0.5.10.post1", "0.5.12.post1"]


@pytest.fixture(scope="module", params=RELEASES)
def release(request):
    return request.param, unpack(request.param)


def _class(root, relpath, name):
    text = (root / relpath).read_text(encoding="utf-8")
    return next((n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name), None)


def _method(cls, name):
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _params(fn):
    return {a.arg for a in fn.args.args + fn.args.kwonlyargs}


def test_first_fixed_release_is_affected_by_none():
    assert affected(unpack("0.5.13")) == set()  # the suite then skips every test, with the reason


@pytest.mark.parametrize("version", LATE_RELEASES)
def test_late_releases_run_the_kernel_test_of_26340(version):
    assert affected(unpack(version)) == {26340}


def affected(root):
    return {n for n in ISSUES if suite.fix_verdict(root, n)[0] == "run"}


def test_verdicts_follow_the_releases(release):
    version, root = release
    from packaging.version import Version

    got = affected(root)
    assert got == {n for n, first in FIRST_FIXED.items() if Version(version) < Version(first)}
    for n in set(ISSUES) - got:
        kind, reason = suite.fix_verdict(root, n)
        assert kind == "skip" and reason.startswith(f"SGLang {version} is not affected by #{n}"), reason


def test_baked_release_is_skipped_with_the_reason(tmp_path):
    import shutil

    from sglang_spec_patches import bake

    shutil.copytree(unpack("0.5.2") / "sglang", tmp_path / "sglang")
    bake.write_plan(engine.plan(engine.SourceTree(tmp_path)))
    kind, reason = suite.fix_verdict(tmp_path, 9888)
    assert kind == "skip" and "baked in on disk" in reason and "pristine install" in reason


def test_engine_arguments_exist_in_server_args(release):
    _version, root = release
    assert affected(root), "every release listed here is affected by at least one issue"
    cls = _class(root, "sglang/srt/server_args.py", "ServerArgs")
    fields = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    for case in CASES:
        missing = set(case.engine_kwargs(root / "t", root / "d")) - fields
        assert not missing, f"ServerArgs lacks {missing}"
    assert _method(_class(root, "sglang/srt/entrypoints/engine.py", "Engine"), "generate") is not None


def test_probe_targets_exist_with_the_bound_parameters(release):
    _version, root = release
    issues = affected(root)
    assert issues, "every release listed here is affected by at least one issue"
    wanted = dict(PROBE_PARAMS)
    verify_file = next(p for p in real_code.LOCATIONS["EagleVerifyInput"]
                       if (root / p).is_file() and _class(root, p, "EagleVerifyInput"))
    for meth, params in VERIFY_PARAMS.items():
        wanted[(verify_file, "EagleVerifyInput", meth)] = params
    for (relpath, cls_name, meth), params in wanted.items():
        cls = _class(root, relpath, cls_name)
        fn = _method(cls, meth) if cls else None
        assert fn is not None, f"{relpath}: {cls_name}.{meth} missing"
        assert params <= _params(fn), f"{cls_name}.{meth}{_params(fn)} lacks {params - _params(fn)}"
    # verify-mask tells a padded batch by the rows of the tree: one retrive_index row per request.
    verify_fields = {n.target.id for n in _class(root, verify_file, "EagleVerifyInput").body
                     if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert "retrive_index" in verify_fields
    # draft-kv-indptr learns the live batch size from replay, before it pads batch_size.
    replay = _method(_class(root, "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
                            "EAGLEDraftCudaGraphRunner"), "replay")
    assert "raw_bs = forward_batch.batch_size" in ast.unparse(replay)
    # draft-kv-indptr tells capture from real batches by the call_fn common_template gets.
    backend = _class(root, "sglang/srt/layers/attention/flashinfer_backend.py", "FlashInferMultiStepDraftBackend")
    for meth in ("init_forward_metadata", "init_forward_metadata_capture_cuda_graph",
                 "init_forward_metadata_replay_cuda_graph"):
        fn = _method(backend, meth)
        nested = [n.name for n in ast.walk(fn) if isinstance(n, ast.FunctionDef) and n is not fn]
        assert nested == ["call_fn"], (meth, nested)
    eagle = _class(root, "sglang/srt/models/llama_eagle.py", "LlamaForCausalLMEagle")
    assert [b.id for b in eagle.bases] == ["LlamaForCausalLM"] and _method(eagle, "forward") is None
    # The probe module names cover where the classes live in this release.
    import spec_probe

    assert engine.module_name(verify_file) in spec_probe.TARGETS


def _free_names(fn: ast.FunctionDef) -> set[str]:
    """Module-level names a function reads (annotations excluded: they are never evaluated)."""
    skip = set()
    for node in ast.walk(fn):
        for ann in [getattr(node, "annotation", None), getattr(node, "returns", None)]:
            if ann is not None:
                skip.update(id(n) for n in ast.walk(ann))
    local = {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {n.name for n in ast.walk(fn) if isinstance(n, ast.FunctionDef)}
    loads = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in skip}
    return loads - local - set(dir(builtins))


# What draft_replay.py, verify_mask.py and draft_kv_indices.py load, and the names they supply to each.
HARNESS = [
    ("generate_draft_decode_kv_indices", None, {"tl", "triton"}, {9888, 26340}),
    ("next_power_of_2", None, set(), {9888, 26340}),
    ("FlashInferAttnBackend", ["get_cuda_graph_seq_len_fill_value"], set(), {9888, 9481}),
    ("FlashInferMultiStepDraftBackend", ["init_cuda_graph_state", "init_forward_metadata_replay_cuda_graph",
                                         "common_template"],
     {"torch", "next_power_of_2", "EagleDraftInput", "ForwardMode"}, {9888, 26340}),
    ("EAGLEDraftCudaGraphRunner", ["replay", "_postprocess_output_to_raw_bs"], {"torch", "bisect"}, {9888}),
    ("create_flashinfer_kv_indices_triton", None, {"tl", "triton"}, {9481}),
    ("EagleVerifyInput", ["generate_attn_arg_prefill"], {"torch", "create_flashinfer_kv_indices_triton"}, {9481}),
]


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_scripts_find_compile_and_supply_everything(release, patched):
    _version, root = release
    _check_harness(root, patched)


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
@pytest.mark.parametrize("version", LATE_RELEASES)
def test_kernel_script_of_26340_finds_compiles_and_supplies_everything(version, patched):
    _check_harness(unpack(version), patched)


def _check_harness(root, patched):
    issues = affected(root)
    sources = real_code.Sources(root, patched)
    checked = 0
    for name, methods, supplied, needed_for in HARNESS:
        if not issues & needed_for:
            continue
        relpath, text = sources.locate(name)
        for part in real_code.extract(text, name, methods):
            tree = ast.parse(part)
            compile(tree, relpath, "exec")
            fn = tree.body[0]
            free = _free_names(fn)
            assert free <= supplied, f"{relpath}: {fn.name} also needs {free - supplied}"
            checked += 1
    assert checked, "every release listed here is affected by an issue the kernel-level tests cover"
    runner = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
    if patched and 9888 in issues:
        assert "draft-padding-positions" in sources.fixes_applied(runner)
        assert "self.positions.zero_()" in "".join(real_code.extract(sources.text(runner), "EAGLEDraftCudaGraphRunner",
                                                                     ["replay"]))
    if not patched:
        assert sources.fixes_applied(runner) == []


# --- #9388's end-of-context numbers against the release's own request handling ---------


class StandInGenerateReqInput:
    """Stand-in for io_struct.GenerateReqInput: the fields _validate_one_request reads."""

    def __init__(self, input_ids, max_new_tokens):
        self.input_ids, self.sampling_params = input_ids, {"max_new_tokens": max_new_tokens}
        self.return_hidden_states, self.custom_logit_processor = False, None


class StandInEmbeddingReqInput:
    """Stand-in for io_struct.EmbeddingReqInput (only its type is checked)."""


def _validate(root, input_len, max_new_tokens, context_len):
    """The release's own TokenizerManager._validate_one_request, on one request."""
    import typing

    text = (root / "sglang/srt/managers/tokenizer_manager.py").read_text(encoding="utf-8")
    (source,) = real_code.extract(text, "TokenizerManager", ["_validate_one_request"])
    names = {"Union": typing.Union, "List": typing.List, "GenerateReqInput": StandInGenerateReqInput,
             "EmbeddingReqInput": StandInEmbeddingReqInput}
    exec(compile(source, "tokenizer_manager.py", "exec"), names)
    manager = types.SimpleNamespace(context_len=context_len, is_generation=True, server_args=types.SimpleNamespace(
        enable_return_hidden_states=False, enable_custom_logit_processor=False))
    obj = StandInGenerateReqInput([10] * input_len, max_new_tokens)
    names["_validate_one_request"](manager, obj, obj.input_ids)


@pytest.mark.parametrize("version", ["0.4.10", "0.5.0rc2"])  # the releases the test runs on
def test_end_of_context_request_is_accepted_and_writes_past_the_row(version):
    root = unpack(version)
    case, context = test_issue_9388.END_OF_CONTEXT, test_issue_9388.CONTEXT
    assert engine.plan(engine.SourceTree(root)).decision("draft-context-length").family == "0.4.10"
    (request,) = {(r["input_len"], r["max_new_tokens"]) for r in case.phases[0]}
    input_len, max_new = request
    _validate(root, input_len, max_new, context)  # accepted: raises nothing
    with pytest.raises(ValueError, match="Requested token count exceeds"):
        _validate(root, input_len, max_new + 1, context)  # the most it takes
    with pytest.raises(ValueError, match="Requested token count exceeds"):
        _validate(root, input_len, 1000, context)  # the number the suite asked for before
    # The scheduler then clips max_new_tokens to max_req_len - input - 1, with
    # max_req_len = context_len - 1 (the memory pool is far larger here).
    scheduler = (root / "sglang/srt/managers/scheduler.py").read_text(encoding="utf-8")
    worker = (root / "sglang/srt/managers/tp_worker.py").read_text(encoding="utf-8")
    assert "self.max_req_len - len(req.origin_input_ids) - 1," in scheduler
    assert "self.model_config.context_len - 1," in worker
    generated = min(max_new, (context - 1) - input_len - 1)
    last_verify_seq_len = input_len + generated - 1  # before the last token is accepted
    end = last_verify_seq_len + case.draft_tokens  # one past the last column verify writes
    assert end > test_issue_9388.OLD_ROW_WIDTH, (generated, end)
