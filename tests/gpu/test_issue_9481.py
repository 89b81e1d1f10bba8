"""Upstream issue #9481 (and #6309): "CUDA error: an illegal memory access" in the EAGLE
verify step with CUDA graphs and FlashInfer, when the live batch is padded.

Fix: verify-mask-padding (upstream PRs #9687, #13740). The tree mask is built for the
live batch only, but the padded batch's qo/kv indptrs reach FlashInfer's plan, whose
``segment_packbits`` reads ``mask_indptr[-1]`` booleans: past the end of the mask.

How the tests force it: EAGLE topk 4, 4 steps, 16 draft tokens (a scaled-down version of
the upstream reproduction: steps 20, topk 10, 100 draft tokens at parallel 17); captured
batch sizes [1, 2, 4, 8]; steady batches of 5 and 3 requests (padded to 8 and 4 on every
verify) and a shrinking batch of 6. The probe (check ``verify-mask``) compares the mask
``generate_attn_arg_prefill`` returns with ``mask_indptr[-1]`` computed as FlashInfer does.
The kernel-level tests run the real method and kernel on the GPU and hand the result to
the real FlashInfer plan under compute-sanitizer.
"""

import pytest

import gpu_suite as suite

ISSUE = 9481
CASE = suite.EngineCase(
    issue=ISSUE, topk=4, steps=4, draft_tokens=16,
    phases=[
        [{"input_len": 40 + 7 * i, "max_new_tokens": 48} for i in range(5)],
        [{"input_len": 120, "max_new_tokens": 40} for _ in range(3)],
        [{"input_len": 30, "max_new_tokens": 10 + 9 * i} for i in range(6)],
    ],
)
TARGET = "EagleVerifyInput.generate_attn_arg_prefill"


@pytest.mark.gpu
def test_unpatched_engine_hands_flashinfer_a_short_mask(tmp_path):
    suite.require_engine(ISSUE)
    run = suite.run_engine(CASE, "off", tmp_path)
    run.assert_probe_in_sglang(TARGET)
    bad = run.probe.violations("verify-mask")
    assert bad, f"no short verify mask seen without the shim{run.describe()}"


@pytest.mark.gpu
def test_patched_engine_is_clean(tmp_path):
    suite.check_patched_engine_is_clean(ISSUE, CASE, TARGET, tmp_path)


def _args(root, patched):
    return ["--sglang-root", str(root), "--device", "cuda"] + (["--patched"] if patched else [])


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_verify_metadata_mask_length(patched):
    """Real generate_attn_arg_prefill + real create_flashinfer_kv_indices_triton on the GPU."""
    root = suite.require_kernels(ISSUE)
    out, proc = suite.run_script("verify_mask.py", _args(root, patched))
    assert proc.returncode == 0 and out, proc.stderr[-4000:]
    assert out["kernel_copied_prefix"] and out["bs"] > out["raw_bs"], out
    if patched:
        assert out["short_by"] == 0, out
    else:
        # (bs - raw_bs) * D * (D + fill) booleans missing, as the dossier says.
        assert out["short_by"] == (out["bs"] - out["raw_bs"]) * 16 * (16 + out["fill"]), out


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_flashinfer_reads_past_mask_under_compute_sanitizer(patched):
    """FlashInfer's plan reads the mask up to mask_indptr[-1]; memcheck sees the read past it."""
    root = suite.require_kernels(ISSUE, flashinfer=True, sanitizer=True)
    # Memory-access errors only: failing CUDA API calls that libraries make on purpose
    # (probing features) are not what this test is about.
    prefix = [suite.sanitizer_path(), "--tool", "memcheck", "--report-api-errors", "no",
              "--error-exitcode", "86", "--print-limit", "20"]
    out, proc = suite.run_script("verify_mask.py", _args(root, patched) + ["--flashinfer"], prefix=prefix,
                                 env={"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"}, timeout=1800)
    text = proc.stdout + proc.stderr
    detail = f"exit {proc.returncode}; out {out}; sanitizer:\n{text[-6000:]}"
    if patched:
        assert proc.returncode == 0 and out and out["plan_error"] is None, detail
        assert "Invalid __global__" not in text, detail
    else:
        refused = bool(out and out["plan_error"])  # a FlashInfer that checks the length refuses instead
        assert refused or (proc.returncode == 86 and "Invalid __global__ read" in text), detail
