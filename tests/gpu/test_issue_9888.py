"""Upstream issue #9888: illegal memory access in the EAGLE draft stage with FlashInfer
when the live batch size is not a captured CUDA-graph batch size.

Fix: draft-padding-positions (upstream PR #10892). The draft runner's replay pads the
batch up to the captured size but leaves stale ``positions`` in the padded slots; the
captured body advances them on every replay, and ``generate_draft_decode_kv_indices``
builds ``kv_indptr`` from them, so FlashInfer is told to read more of ``kv_indices``
than was written, and finally past its end.

How the tests force it: EAGLE topk 1, 3 steps, 4 draft tokens (the dossier's setting);
captured batch sizes [1, 2, 4, 8]; a batch of 8 whose requests finish one after another
(live sizes 7, 6, 5, 3 are padded), then a steady batch of 5 (padded to 8 on every step).
The probe (``spec_probe``, check ``draft-kv-indptr``) compares the end of every planned
``kv_indptr`` with what the kernel wrote.
"""

import pytest

import gpu_suite as suite
import kernel_checks

ISSUE = 9888
CASE = suite.EngineCase(
    issue=ISSUE, topk=1, steps=3, draft_tokens=4,
    phases=[
        [{"input_len": 48, "max_new_tokens": 16 + 8 * i} for i in range(8)],
        [{"input_len": 64, "max_new_tokens": 96} for _ in range(5)],
    ],
)
CHECK = "draft-kv-indptr"
TARGET = "FlashInferMultiStepDraftBackend.common_template"


@pytest.mark.gpu
def test_unpatched_engine_plans_kv_indptr_past_what_was_written(tmp_path):
    suite.require_engine(ISSUE)
    run = suite.run_engine(CASE, "off", tmp_path)
    run.assert_probe_in_sglang(TARGET)
    run.assert_checked(CHECK, padded=True)
    assert run.probe.violations("draft-kv-indptr"), f"stale positions not seen without the shim{run.describe()}"


@pytest.mark.gpu
def test_patched_engine_is_clean(tmp_path):
    suite.check_patched_engine_is_clean(ISSUE, CASE, TARGET, CHECK, tmp_path)


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_real_replay_feeds_generate_draft_decode_kv_indices(patched):
    """The real replay + real Triton kernel on the GPU (draft_replay.py; graph is a stand-in).
    Unpatched, FlashInfer would read past the whole kv_indices row: the illegal access of #9888."""
    suite.check_kernel(kernel_checks.DRAFT_9888, patched)
