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
import kernel_checks
import sanitizer

ISSUE = 9481
CASE = suite.EngineCase(
    issue=ISSUE, topk=4, steps=4, draft_tokens=16,
    phases=[
        [{"input_len": 40 + 7 * i, "max_new_tokens": 48} for i in range(5)],
        [{"input_len": 120, "max_new_tokens": 40} for _ in range(3)],
        [{"input_len": 30, "max_new_tokens": 10 + 9 * i} for i in range(6)],
    ],
)
CHECK = "verify-mask"
TARGET = "EagleVerifyInput.generate_attn_arg_prefill"


@pytest.mark.gpu
def test_unpatched_engine_hands_flashinfer_a_short_mask(tmp_path):
    suite.require_engine(ISSUE)
    run = suite.run_engine(CASE, "off", tmp_path)
    run.assert_probe_in_sglang(TARGET)
    run.assert_checked(CHECK, padded=True)
    bad = run.probe.violations("verify-mask")
    assert bad, f"no short verify mask seen without the shim{run.describe()}"


@pytest.mark.gpu
def test_patched_engine_is_clean(tmp_path):
    suite.check_patched_engine_is_clean(ISSUE, CASE, TARGET, CHECK, tmp_path)


def _args(root, patched):
    return ["--sglang-root", str(root), "--device", "cuda"] + (["--patched"] if patched else [])


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_verify_metadata_mask_length(patched):
    """Real generate_attn_arg_prefill + real create_flashinfer_kv_indices_triton on the GPU."""
    suite.check_kernel(kernel_checks.MASK_9481, patched)


SANITIZER_EXIT = sanitizer.EXIT  # --error-exitcode: the sanitizer's own "I found memory errors"


def plan_error_is_the_sanitizers_doing(out: dict, returncode: int, text: str) -> bool:
    """A CUDA error from FlashInfer's plan after the sanitizer caught the read past the
    mask: the sanitizer ended the faulting kernel (with the default
    ``--destroy-on-device-error context`` it ended the whole context, and the plan's next
    CUDA call, ``qo_indptr.to("cpu")``, raised). Its own evidence - the error exit and an
    invalid global read - must be there, and the error a CUDA one (not a wrong API or a
    failed JIT build, which happen before any kernel reads the mask)."""
    seen = sanitizer.evidence(text)
    return (returncode == SANITIZER_EXIT and seen["invalid_reads"] > 0
            and "cuda" in (out.get("plan_error") or "").lower())


def sanitizer_problems(patched: bool, returncode: int, out: dict | None, text: str) -> list[str]:
    """Why a compute-sanitizer run of verify_mask.py --flashinfer does not prove its case
    (empty: it does). Only the sanitizer's own evidence counts: its error exit code and an
    invalid global read in its report (``sanitizer.problems``). An exception from the plan
    proves nothing either way, except a CUDA error beside that evidence (see
    ``plan_error_is_the_sanitizers_doing``)."""
    problems = sanitizer.problems("read", patched, returncode, text)
    if not out:
        problems.append("verify_mask.py printed no result")
    elif out.get("plan_error") and (patched or not plan_error_is_the_sanitizers_doing(out, returncode, text)):
        problems.append(f"FlashInfer's plan raised, which is not the bug's evidence: {out['plan_error']}")
    if out and patched and out.get("short_by"):
        problems.append(f"the patched mask is still short by {out['short_by']}")
    if out and not patched and not out.get("short_by"):
        problems.append("the unpatched mask is not short: nothing for FlashInfer to read past")
    return problems


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_flashinfer_reads_past_mask_under_compute_sanitizer(patched):
    """FlashInfer's plan reads the mask up to mask_indptr[-1]; memcheck sees the read past it."""
    root = suite.require_kernels(ISSUE, flashinfer=True, sanitizer=True)
    out, proc = suite.run_script("verify_mask.py", _args(root, patched) + ["--flashinfer"],
                                 prefix=sanitizer.command(suite.sanitizer_path()), env=sanitizer.ENV, timeout=1800)
    text = proc.stdout + proc.stderr
    problems = sanitizer_problems(patched, proc.returncode, out, text)
    assert not problems, f"{problems}\nexit {proc.returncode}; out {out}; sanitizer:\n{text[-6000:]}"
