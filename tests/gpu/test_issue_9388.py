"""Upstream PR #9388 (follow-up PR #10787, issue #10713): illegal memory access when an
external EAGLE draft has a shorter context than the target, or near the end of the
context with many draft tokens.

Fix: draft-context-length. Without it SGLang stretches the draft to the target's
context, but the draft's rotary cache keeps its own ``max_position_embeddings`` rows;
and (up to 0.5.0rc2) each ``req_to_token`` row is ``context_len + 4`` wide while verify
and draft cache assignment write up to ``seq_len + draft tokens``.

How the tests force it (CUDA graphs off: this bug needs no padding, and every draft
forward then runs where the probe sees it):

* short draft: target context 256 (``context_length``), draft config with
  ``max_position_embeddings`` 128, ``SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1`` (the
  opt-in every release asks for from 0.5.1, and that the fix asks for on older ones);
  prompts of 160 tokens. Check ``draft-rope``: a draft position beyond its rotary cache.
* end of context: small context 256, 16 draft tokens (topk 4, 4 steps), prompts of 200
  tokens generating to the end of the context. Check ``req-to-token-row``. Only the
  fix's ``0.4.10`` family (0.4.10 ... 0.5.0rc2) lacks the wider rows; later releases
  ship PR #9388.

  ``max_new_tokens`` must pass the tokenizer manager's ``_validate_one_request`` (input +
  max_new_tokens < context, else the request is refused and nothing runs): 200 + 55 =
  255 is the most it takes. The scheduler then clips it to ``max_req_len - input - 1`` =
  (256 - 1) - 200 - 1 = 54 tokens, so the last verifies start from a sequence of up to
  253 tokens and write its 16 draft tokens up to column 269, past the 260-column row.
  (``test_real_sources`` runs the release's own validation on these numbers.)

Every run also shows the check reached the bug's spot: positions past the draft's 128
rotary rows, writes past column 260 (the unpatched row width), shim off and on.
"""

import pytest

import gpu_suite as suite
from sglang_spec_patches import engine

ISSUE = 9388
ALLOW = {"SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN": "1"}
SHORT_DRAFT = suite.EngineCase(
    issue=ISSUE, topk=1, steps=3, draft_tokens=4, cuda_graph_bs=None, context_length=256,
    target_max_pos=512, draft_max_pos=128, env=ALLOW,
    phases=[[{"input_len": 160, "max_new_tokens": 48} for _ in range(2)]],
)
END_OF_CONTEXT = suite.EngineCase(
    issue=ISSUE, topk=4, steps=4, draft_tokens=16, cuda_graph_bs=None, context_length=256,
    target_max_pos=512, draft_max_pos=512,
    # The most the release accepts (see above); generation then runs to the end of the context.
    phases=[[{"input_len": 200, "max_new_tokens": 55} for _ in range(2)]],
)
CONTEXT, OLD_ROW_WIDTH, DRAFT_ROPE_ROWS = 256, 256 + 4, 128


def require_short_rows():
    root = suite.require_engine(ISSUE)
    decision = engine.plan(engine.SourceTree(root)).decision(suite.FIX_FOR_ISSUE[ISSUE])
    if decision.family != "0.4.10":
        pytest.skip(f"SGLang {engine.SourceTree(root).version()} is not affected by #9388's short req_to_token rows: "
                    f"it ships PR #9388's wider rows (fix family {decision.family})")


@pytest.mark.gpu
def test_unpatched_short_draft_runs_past_its_rotary_cache(tmp_path):
    suite.require_engine(ISSUE)
    run = suite.run_engine(SHORT_DRAFT, "off", tmp_path)
    run.assert_probe_in_sglang("LlamaForCausalLMEagle.forward")
    run.assert_checked("draft-rope")
    bad = run.probe.violations("draft-rope")
    assert bad and all(v["detail"]["rope_rows"] == DRAFT_ROPE_ROWS for v in bad), f"no position past the draft's rotary cache{run.describe()}"


@pytest.mark.gpu
def test_patched_short_draft_is_clean(tmp_path):
    suite.require_engine(ISSUE)
    run = suite.run_engine(SHORT_DRAFT, "on", tmp_path)
    run.assert_shim_applied(suite.FIX_FOR_ISSUE[ISSUE])
    run.assert_probe_in_sglang("LlamaForCausalLMEagle.forward")
    run.assert_checked("draft-rope", where=lambda d: d["max_position"] >= DRAFT_ROPE_ROWS,
                       what=f" at a position past the unpatched {DRAFT_ROPE_ROWS} rotary rows")
    run.assert_clean()


@pytest.mark.gpu
def test_unpatched_end_of_context_writes_past_req_to_token_row(tmp_path):
    require_short_rows()
    run = suite.run_engine(END_OF_CONTEXT, "off", tmp_path)
    run.assert_probe_in_sglang("EagleVerifyInput.prepare_for_verify")
    run.assert_checked("req-to-token-row")
    bad = run.probe.violations("req-to-token-row")
    assert bad and all(v["detail"]["row_width"] == OLD_ROW_WIDTH for v in bad), f"no write past a row{run.describe()}"


@pytest.mark.gpu
def test_patched_end_of_context_is_clean(tmp_path):
    require_short_rows()
    run = suite.run_engine(END_OF_CONTEXT, "on", tmp_path)
    run.assert_shim_applied(suite.FIX_FOR_ISSUE[ISSUE])
    run.assert_probe_in_sglang("EagleVerifyInput.prepare_for_verify")
    run.assert_checked("req-to-token-row", where=lambda d: d["end_column"] > OLD_ROW_WIDTH,
                       what=f" writing past column {OLD_ROW_WIDTH} (the unpatched row width)")
    run.assert_clean()
