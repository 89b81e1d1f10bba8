"""The GPU suite's probe and tiny models against real SGLang releases, in the CPU
SGLang environment (real torch and Triton, stand-ins for GPU-only packages).

* The probe arms itself in a ``spawn`` child (as SGLang's scheduler is started) through
  the main script, attaches to every method it checks in the real SGLang modules - the
  shim's patched modules when the shim is on - and records the short verify mask
  unpatched, nothing patched. The verify call runs the real ``generate_attn_arg_prefill``
  and its Triton kernel on CPU (``CudaOnCpu`` stand-in for the CUDA device).
* The tiny model configs are valid for the release's real ``ModelConfig``, and the
  short-draft configuration of test_issue_9388 gives the draft a rotary cache shorter
  than its context unpatched, the full context patched.
"""

import json
import textwrap
from pathlib import Path

import pytest

import spec_probe
import tiny_models
from sglang_releases import run_in_release

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
STANDINS = HERE.parent / "standins"

SCHEDULER_LIKE = textwrap.dedent('''
    """Main script that arms the probe at module level, as engine_driver.py does, and
    starts one spawn child that plays SGLang's scheduler."""
    import importlib, json, sys
    sys.path.insert(0, {here!r})
    import spec_probe
    spec_probe.arm("driver" if __name__ == "__main__" else "child")

    MODULES = ["sglang.srt.layers.attention.flashinfer_backend", "sglang.srt.speculative.eagle_worker",
               "sglang.srt.models.llama_eagle", "sglang.srt.speculative.eagle_draft_cuda_graph_runner"]


    def scheduler(queue):
        try:
            queue.put(run_checks())
        except BaseException:
            import traceback

            queue.put({{"error": traceback.format_exc()}})


    def run_checks():
        import torch
        from cuda_on_cpu import CudaOnCpu

        imported = []
        for name in MODULES:  # optional in the CPU environment: some need more stand-ins
            try:
                importlib.import_module(name)
                imported.append(name)
            except Exception as exc:
                print("not imported:", name, type(exc).__name__, exc, file=sys.stderr)
        for name in ("sglang.srt.speculative.eagle_info", "sglang.srt.speculative.eagle_utils"):
            try:  # eagle_info from 0.5.3rc2, eagle_utils before
                verify = importlib.import_module(name).EagleVerifyInput
                break
            except (ImportError, AttributeError):
                continue
        spec = verify.__new__(verify)
        d, raw = 16, [30, 41, 52, 63, 74]  # 5 live requests padded to 8, fill value 1
        spec.draft_token_num = d
        spec.custom_mask = torch.ones(sum(raw) * d + d * d * len(raw), dtype=torch.bool)
        spec.retrive_index = torch.zeros((len(raw), d), dtype=torch.int64)  # one row per live request
        pool = torch.zeros(8, dtype=torch.int32)
        pool[:5] = torch.arange(5, dtype=torch.int32) + 3
        lens = torch.ones(8, dtype=torch.int32)
        lens[:5] = torch.tensor(raw, dtype=torch.int32)
        req_to_token = torch.arange(16 * 256, dtype=torch.int32).reshape(16, 256)
        with CudaOnCpu():
            spec.generate_attn_arg_prefill(pool, lens, sum(raw) + 3, req_to_token)
        return imported


    if __name__ == "__main__":
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=scheduler, args=(queue,))
        proc.start()
        print("IMPORTED", json.dumps(queue.get(timeout=600)))
        proc.join()
''')

VERIFY_TARGETS = ["EagleVerifyInput.generate_attn_arg_prefill", "EagleVerifyInput.prepare_for_verify"]


def run_scheduler_like(version, tmp_path, shim):
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "scheduler_like.py"
    script.write_text(SCHEDULER_LIKE.format(here=str(HERE)))
    out = tmp_path / "probe.jsonl"
    # runpy keeps a real __main__ file, which the spawn child re-runs (python -c has none).
    code = f"import runpy, sys; sys.argv = [{str(script)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')"
    proc = run_in_release(version, code, env={spec_probe.OUT_ENV: str(out), "SGLANG_SPEC_PATCHES": shim,
                                              "PYTHONPATH": str(STANDINS)})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("IMPORTED ")]
    assert proc.returncode == 0 and lines, proc.stderr[-5000:]
    imported = json.loads(lines[-1].split(" ", 1)[1])
    assert "error" not in imported, imported["error"]
    targets = VERIFY_TARGETS + [f"{cls}.{meth}" for name in imported for cls, meth, _, _ in spec_probe.TARGETS[name]]
    return spec_probe.Report.read(out), targets


@pytest.mark.parametrize("version", ["0.5.2", "0.5.6.post2"])
def test_probe_in_spawned_child_on_real_sglang(cpu_env, version, tmp_path):
    off, targets = run_scheduler_like(version, tmp_path / "off", "off")
    (driver,) = off.armed_pids("driver")
    children = off.armed_pids("child")
    assert children and driver not in children
    for target in targets:
        assert off.attached(target) and {r["pid"] for r in off.attached(target)} <= children, target
    (bad,) = off.violations("verify-mask")
    assert bad["pid"] in children and bad["detail"]["short_by"] == 3 * 16 * 17, bad
    assert not off.errors()
    (made,) = off.checks("verify-mask", padded=True)  # 5 live requests, indptrs over 8
    assert (made["detail"]["raw_bs"], made["detail"]["batch_size"]) == (5, 8), made

    on, targets = run_scheduler_like(version, tmp_path / "on", "on")
    verify = on.attached("EagleVerifyInput.generate_attn_arg_prefill")
    assert verify and verify[0]["loader"] == "PatchedSourceLoader"  # the probe wraps the shim's module
    assert all(on.attached(t) for t in targets)
    assert not on.violations() and not on.errors(), on.summary()
    assert len(on.checks("verify-mask", padded=True)) == 1, on.summary()  # clean, and the check was made


MODEL_CODE = textwrap.dedent('''
    import json, os
    from sglang.srt.configs.model_config import ModelConfig

    def describe(cfg):
        return {{"context_len": cfg.context_len, "arch": cfg.hf_config.architectures,
                "hidden": cfg.hidden_size, "heads": cfg.num_attention_heads, "head_dim": cfg.head_dim,
                "kv_heads": cfg.get_total_num_kv_heads(), "vocab": cfg.vocab_size,
                "max_pos": cfg.hf_text_config.max_position_embeddings}}

    out = {{"target": describe(ModelConfig({target!r})),
           "draft": describe(ModelConfig({draft!r}, is_draft_model=True))}}
    # One copy of the short draft per case: SGLang caches the HF config per path, and the
    # fix raises max_position_embeddings on that object.
    for allow, short in ((None, {short_none!r}), ("1", {short_allow!r})):
        if allow:
            os.environ["SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"] = allow
        else:
            os.environ.pop("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", None)
        try:
            out[f"short_draft_allow_{{allow}}"] = describe(ModelConfig(short, context_length=256, is_draft_model=True))
        except ValueError as exc:
            out[f"short_draft_allow_{{allow}}"] = str(exc)
    print(json.dumps(out))
''')


@pytest.mark.parametrize("version", ["0.4.10", "0.5.2"])
def test_tiny_models_load_in_the_real_model_config(cpu_env, version, tmp_path):
    target, draft = tiny_models.write_models(tmp_path / "models")
    _, short_none = tiny_models.write_models(tmp_path / "short-none", target_max_pos=512, draft_max_pos=128)
    _, short_allow = tiny_models.write_models(tmp_path / "short-allow", target_max_pos=512, draft_max_pos=128)
    code = MODEL_CODE.format(target=str(target), draft=str(draft), short_none=str(short_none),
                             short_allow=str(short_allow))
    results = {}
    for shim in ("off", "on"):
        # sglang.test.test_utils (imported by is_in_ci() from 0.5.1) reads the first
        # character of CUDA_VISIBLE_DEVICES at import: it must not be empty.
        proc = run_in_release(version, code, env={"SGLANG_SPEC_PATCHES": shim, "CUDA_VISIBLE_DEVICES": "0"})
        assert proc.returncode == 0, proc.stderr[-5000:]
        results[shim] = json.loads(proc.stdout.strip().splitlines()[-1])
    off, on = results["off"], results["on"]
    assert off["target"] == on["target"] == {"context_len": 2048, "arch": ["LlamaForCausalLM"], "hidden": 256,
                                             "heads": 2, "head_dim": 128, "kv_heads": 2, "vocab": 32000,
                                             "max_pos": 2048}
    assert off["draft"]["arch"] == ["LlamaForCausalLMEagle"] and off["draft"]["context_len"] == 2048
    # #9388 with the opt-in: unpatched the draft keeps a 128-row rotary cache for a 256 context.
    assert off["short_draft_allow_1"]["context_len"] == 256 and off["short_draft_allow_1"]["max_pos"] == 128
    assert on["short_draft_allow_1"]["context_len"] == 256 and on["short_draft_allow_1"]["max_pos"] == 256
    if version == "0.4.10":
        # Variable unset: the release's default (true) stays; patched, the rotary cache follows.
        assert off["short_draft_allow_None"]["max_pos"] == 128  # silently stretched: the bug's default
        assert on["short_draft_allow_None"]["context_len"] == 256 and on["short_draft_allow_None"]["max_pos"] == 256
    else:
        # 0.5.1+ refuse a stretched draft unless opted in, patched or not.
        assert "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN" in on["short_draft_allow_None"]
