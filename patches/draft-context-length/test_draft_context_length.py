"""PR #9388 / issue #10713 on real SGLang code (see reproduce.py for what is real and what
is a stand-in). A target with max_position_embeddings 8192 and an EAGLE draft with 2048.

Unpatched, the draft silently takes the target's 8192 context while its rotary cache keeps
2048 rows (0.4.10 ... 0.5.0rc2), or keeps 2048 rows when the user opts in (0.5.1 ...
0.5.3rc0); and (0.4.10 ... 0.5.0rc2) req_to_token rows of context_len + 4 columns let the
verify write of a request near the end of the context spill into the next request's row.
Patched, the longer context needs SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN, the draft's
rotary cache then covers it, and the rows are wide enough.
"""

import functools
from pathlib import Path

import pytest

from sglang_releases import run_harness

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")
ENV = "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"
FAMILY_0_4_10, FAMILY_0_5_1 = "0.4.10", "0.5.2"  # one release of each family


@functools.lru_cache(maxsize=None)
def run(release, mode):
    lines = run_harness(release, HARNESS, mode, timeout=300)
    return {(r["case"], r.get("allow")): r for r in lines}


@pytest.mark.parametrize("release", [FAMILY_0_4_10, FAMILY_0_5_1])
def test_draft_rotary_cache_covers_the_stretched_context(cpu_env, release):
    # The user opted in: the draft runs at the target's context.
    off = run(release, "off")[("draft", True)]
    assert off["error"] is None and off["context_len"] == 8192, off
    assert off["max_position_embeddings"] == 2048 and off["rope_rows"] == 2048, off
    assert off["last_position"] >= off["rope_rows"] and "out of range" in off["rope_error"], off

    on = run(release, "on")[("draft", True)]
    assert on["error"] is None and on["context_len"] == 8192, on
    assert on["max_position_embeddings"] == 8192 and on["rope_rows"] >= on["context_len"], on
    assert on["rope_error"] is None, on


def test_draft_longer_context_is_refused_unless_opted_in(cpu_env):
    # 0.4.10 ... 0.5.0rc2: variable unset.
    off = run(FAMILY_0_4_10, "off")[("draft", False)]
    assert off["error"] is None and off["context_len"] == 8192, off  # silently stretched
    assert off["rope_rows"] == 2048 and off["rope_error"] is not None, off

    on = run(FAMILY_0_4_10, "on")[("draft", False)]
    assert on["error"] is not None, on
    assert "Target model's context_length (8192)" in on["error"], on["error"]
    assert "derived context_length (2048)" in on["error"], on["error"]
    assert f"{ENV}=1" in on["error"], on["error"]


def test_target_context_override_unchanged(cpu_env):
    # Only the draft's default changes: a target asked for more than its own context is
    # still accepted without the variable in family 0.4.10, as before.
    for mode in ("off", "on"):
        target = run(FAMILY_0_4_10, mode)[("target", None)]
        assert target["error"] is None and target["context_len"] == 16384, (mode, target)


def test_verify_write_stays_in_its_request_row(cpu_env):
    # 0.4.10 ... 0.5.0rc2: seq_len = context_len - 4 (the most a verify step sees),
    # D = 16 draft tokens: columns up to context_len + 11 of a context_len + 4 row.
    off = run(FAMILY_0_4_10, "off")[("verify", None)]
    assert off["columns"] == off["context_len"] + 4, off
    spill = off["last_column_written"] - off["columns"] + 1
    assert spill == 8, off
    # request 1's first 8 token slots now point at request 0's draft tokens
    assert off["next_row_overwritten"] == list(range(spill)), off
    assert off["overwritten_with_request_0_slots"], off

    on = run(FAMILY_0_4_10, "on")[("verify", None)]
    assert on["columns"] == on["context_len"] + 4 + on["draft_tokens"], on
    assert on["last_column_written"] < on["columns"] and on["next_row_overwritten"] == [], on


def test_family_0_5_1_already_has_the_opt_in_and_wide_rows(cpu_env):
    """Not a regression test: from 0.5.1 the opt-in and the wider rows are upstream (PR
    #9388), so the 0.5.1 diff carries only the max_position_embeddings part. This checks
    that both are there with and without the patch, i.e. that the diff leaves them alone."""
    for mode in ("off", "on"):
        result = run(FAMILY_0_5_1, mode)
        draft = result[("draft", False)]
        assert draft["error"] is not None and f"{ENV}=1" in draft["error"], (mode, draft)
        assert "Target model's context_length (8192)" in draft["error"], (mode, draft)
        target = result[("target", None)]
        assert target["error"] is not None and f"{ENV}=1" in target["error"], (mode, target)
        verify = result[("verify", None)]
        assert verify["columns"] == verify["context_len"] + 4 + verify["draft_tokens"], (mode, verify)
        assert verify["next_row_overwritten"] == [], (mode, verify)
