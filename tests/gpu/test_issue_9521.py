"""Upstream issue #9521: "Speculative Decoding issues" - a scheduler crash in EAGLE
decoding (reported with SpecForge-trained drafts on H100, where SGLang uses FlashInfer
for tree drafts). The cause is the one of #9888, in the tree (topk > 1) layout.

Fix: draft-padding-positions (upstream PR #10892), as for #9888.

How the tests force it: EAGLE topk 4, 3 steps, 8 draft tokens; captured batch sizes
[1, 2, 4, 8]; RL-rollout-like batches whose size keeps changing (6, 8, 3, 7 requests of
different lengths, each batch shrinking as its requests finish), so most steps pad.
The probe (check ``draft-kv-indptr``) compares the end of every planned ``kv_indptr``
with what ``generate_draft_decode_kv_indices`` wrote (topk branches per request).
"""

import pytest

import gpu_suite as suite
import kernel_checks

ISSUE = 9521
CASE = suite.EngineCase(
    issue=ISSUE, topk=4, steps=3, draft_tokens=8,
    phases=[
        [{"input_len": 20 + 13 * i, "max_new_tokens": 12 + 10 * i} for i in range(6)],
        [{"input_len": 90 - 9 * i, "max_new_tokens": 8 + 7 * i} for i in range(8)],
        [{"input_len": 33, "max_new_tokens": 40 + 20 * i} for i in range(3)],
        [{"input_len": 17 + 5 * i, "max_new_tokens": 64 - 6 * i} for i in range(7)],
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
    bad = run.probe.violations("draft-kv-indptr")
    assert bad, f"stale positions not seen without the shim{run.describe()}"
    assert all(v["detail"]["topk"] == 4 for v in bad), bad


@pytest.mark.gpu
def test_patched_engine_is_clean(tmp_path):
    suite.check_patched_engine_is_clean(ISSUE, CASE, TARGET, CHECK, tmp_path)


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_real_replay_tree_layout(patched):
    """Real replay + real kernel with topk 4 (context 256 keeps every write inside its row)."""
    suite.check_kernel(kernel_checks.DRAFT_9521, patched)
