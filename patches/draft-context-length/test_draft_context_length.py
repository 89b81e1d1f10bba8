"""PR #9388 / issue #10713 on real SGLang code (see reproduce.py for what is real and what
is a stand-in). A target with max_position_embeddings 8192 and an EAGLE draft with 2048.

Unpatched, the draft silently takes the target's 8192 context while its rotary cache keeps
2048 rows (0.4.10 ... 0.5.0rc2), or keeps 2048 rows when the user opts in (0.5.1 ...
0.5.3rc0); and (0.4.10 ... 0.5.0rc2) req_to_token rows of context_len + 4 columns let the
verify write of a request near the end of the context spill into the next request's row.

Patched, the draft's rotary cache covers the context it is given and the rows are wide
enough. On 0.4.10 ... 0.5.0rc2 the draft still starts by default, as the release did, with
one warning; it is refused only when SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is false or
the shim runs in strict mode. Target models behave exactly as the release does.
"""

import functools
from pathlib import Path

import pytest

from sglang_releases import run_harness

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")
ENV = "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"
TARGET, DRAFT = 8192, 2048  # the harness's contexts
FAMILY_0_4_10 = ["0.4.10", "0.5.0rc2"]  # first and last release of family 0.4.10
FAMILY_0_5_1 = "0.5.2"  # one release of family 0.5.1


@functools.lru_cache(maxsize=None)
def run(release, mode):
    lines = run_harness(release, HARNESS, mode, timeout=300)
    return {(r["case"], r.get("env")): r for r in lines}


def assert_covers_the_target_context(draft):
    assert draft["error"] is None and draft["context_len"] == TARGET, draft
    assert draft["max_position_embeddings"] == TARGET and draft["rope_rows"] >= TARGET, draft
    assert draft["rope_error"] is None, draft


def assert_refused(draft):
    error = draft["error"]
    assert error is not None, draft
    assert f"Target model's context_length ({TARGET})" in error, error
    assert f"derived context_length ({DRAFT})" in error and f"{ENV}=1" in error, error


@pytest.mark.parametrize("release", FAMILY_0_4_10)
def test_draft_starts_by_default_with_one_warning_and_a_large_enough_rotary_cache(cpu_env, release):
    # Unpatched: starts, but the rotary cache keeps the draft's own 2048 rows.
    off = run(release, "off")[("draft", None)]
    assert off["error"] is None and off["context_len"] == TARGET, off
    assert off["rope_rows"] == DRAFT and "out of range" in off["rope_error"], off

    # Patched, variable unset (the release's default, true): still starts, with the cache
    # stretched, and says so once, naming both lengths and the variable.
    on = run(release, "on")[("draft", None)]
    assert_covers_the_target_context(on)
    (warning,) = on["warnings"]
    assert warning["logger"] == "sglang.srt.configs.model_config", warning
    for text in (f"({TARGET})", f"({DRAFT})", f"{ENV}=0"):
        assert text in warning["message"], warning


@pytest.mark.parametrize("release", [*FAMILY_0_4_10, FAMILY_0_5_1])
def test_draft_rotary_cache_covers_the_stretched_context_when_opted_in(cpu_env, release):
    off = run(release, "off")[("draft", "1")]
    assert off["error"] is None and off["context_len"] == TARGET, off
    assert off["max_position_embeddings"] == DRAFT and off["rope_rows"] == DRAFT, off
    assert off["last_position"] >= off["rope_rows"] and "out of range" in off["rope_error"], off

    assert_covers_the_target_context(run(release, "on")[("draft", "1")])


@pytest.mark.parametrize("release", FAMILY_0_4_10)
@pytest.mark.parametrize("value", ["0", "false"])
def test_draft_is_refused_when_the_variable_is_false(cpu_env, release, value):
    # The release refuses too (with "User-specified" in the message); the fix keeps that.
    assert run(release, "off")[("draft", value)]["error"] is not None
    for mode in ("on", "strict"):
        draft = run(release, mode)[("draft", value)]
        assert_refused(draft)
        assert draft["warnings"] == [], draft


@pytest.mark.parametrize("release", FAMILY_0_4_10)
def test_strict_mode_makes_stretching_a_draft_opt_in(cpu_env, release):
    unset = run(release, "strict")[("draft", None)]
    assert_refused(unset)
    assert "SGLANG_SPEC_PATCHES=strict" in unset["error"], unset["error"]
    # Opting in still works in strict mode, with the cache stretched.
    opted_in = run(release, "strict")[("draft", "1")]
    assert_covers_the_target_context(opted_in)
    assert len(opted_in["warnings"]) == 1, opted_in


@pytest.mark.parametrize("release", FAMILY_0_4_10)
def test_target_models_behave_as_the_release_does(cpu_env, release):
    # A target asked for more than its own context: accepted with the release's warning
    # when the variable is unset, refused when it is false, in every shim mode.
    off = run(release, "off")
    assert off[("target", None)]["context_len"] == 2 * TARGET, off[("target", None)]
    assert off[("target", "false")]["error"] is not None, off[("target", "false")]
    for mode in ("on", "strict"):
        for value in (None, "false"):
            assert run(release, mode)[("target", value)] == off[("target", value)], (mode, value)


def test_verify_write_stays_in_its_request_row(cpu_env):
    # 0.4.10 ... 0.5.0rc2: seq_len = context_len - 4 (the most a verify step sees),
    # D = 16 draft tokens: columns up to context_len + 11 of a context_len + 4 row.
    off = run("0.4.10", "off")[("verify", None)]
    assert off["columns"] == off["context_len"] + 4, off
    spill = off["last_column_written"] - off["columns"] + 1
    assert spill == 8, off
    # request 1's first 8 token slots now point at request 0's draft tokens
    assert off["next_row_overwritten"] == list(range(spill)), off
    assert off["overwritten_with_request_0_slots"], off

    on = run("0.4.10", "on")[("verify", None)]
    assert on["columns"] == on["context_len"] + 4 + on["draft_tokens"], on
    assert on["last_column_written"] < on["columns"] and on["next_row_overwritten"] == [], on


def test_family_0_5_1_already_has_the_opt_in_and_wide_rows(cpu_env):
    """Not a regression test: from 0.5.1 the opt-in and the wider rows are upstream (PR
    #9388), so the 0.5.1 diff carries only the max_position_embeddings part. This checks
    that both are there with and without the patch, i.e. that the diff leaves them alone:
    there a draft shorter than the target stops start-up unless the variable is set."""
    for mode in ("off", "on"):
        result = run(FAMILY_0_5_1, mode)
        assert_refused(result[("draft", None)])
        target = result[("target", None)]
        assert target["error"] is not None and f"{ENV}=1" in target["error"], (mode, target)
        verify = result[("verify", None)]
        assert verify["columns"] == verify["context_len"] + 4 + verify["draft_tokens"], (mode, verify)
        assert verify["next_row_overwritten"] == [], (mode, verify)
