"""PR #23037 backport on real SGLang code (see reproduce.py for what is real and what is a
stand-in): unpatched, the padded rows of the draft graph's topk_p, topk_index,
hidden_states and req_pool_indices keep an earlier, larger batch's values on every padded
replay, and the real kernel builds the padded rows' kv_indices from those finished
requests' req_to_token rows; patched, they are zero and read row 0. With
draft-padding-positions (same function, 0.4.10 ... 0.5.3rc0) each fix keeps its own
effect whether the other is on or off, and their texts compose in either order."""

import functools
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import diffs, engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
POSITIONS, BUFFERS = "draft-padding-positions", "draft-padding-buffers"

# Padded rows 5..7 of the small batch, as the graph reads them (see reproduce.py).
STALE = {"topk_p": [0.6, 0.7, 0.8], "topk_index": [1005, 1006, 1007], "hidden_states": [6.0, 7.0, 8.0],
         "req_pool_indices": [13, 14, 15], "rows_read": [[13], [14], [15]]}  # rows 5..7 of the big batch
CLEARED = {"topk_p": [0.0] * 3, "topk_index": [0] * 3, "hidden_states": [0.0] * 3,
           "req_pool_indices": [0] * 3, "rows_read": [[0]] * 3}


@functools.lru_cache(maxsize=None)
def replays(release, mode, disable=""):
    lines = run_harness(release, HARNESS, mode, disable=disable)
    assert len(lines) == 3 and all(r["bs"] == 8 and r["raw_bs"] == 5 for r in lines), lines
    return lines


def padded_buffers(r):
    return {name: r[name] for name in STALE}


@pytest.mark.parametrize("release", ["0.5.2", "0.5.10.post1"])  # families 0.4.10 and 0.5.10rc0
def test_padded_rows_do_not_keep_an_earlier_batch(cpu_env, release):
    unpatched = replays(release, "off")
    assert all(padded_buffers(r) == STALE for r in unpatched), unpatched

    patched = replays(release, "on")
    assert all(padded_buffers(r) == CLEARED for r in patched), patched


def test_each_fix_keeps_its_effect_with_draft_padding_positions(cpu_env):
    """0.5.2 has both bugs. Positions: stale ones grow by steps-1 per replay (42, 44, 46)."""
    neither = replays("0.5.2", "off")
    assert all(padded_buffers(r) == STALE and min(r["positions"]) > 0 for r in neither), neither

    both = replays("0.5.2", "on")
    assert all(padded_buffers(r) == CLEARED and r["positions"] == [0, 0, 0] for r in both), both

    buffers_only = replays("0.5.2", "on", disable=POSITIONS)
    assert all(padded_buffers(r) == CLEARED and min(r["positions"]) > 0 for r in buffers_only), buffers_only

    positions_only = replays("0.5.2", "on", disable=BUFFERS)
    assert all(padded_buffers(r) == STALE and r["positions"] == [0, 0, 0] for r in positions_only), positions_only


def test_texts_compose_in_either_order_and_come_apart_again():
    tree = engine.SourceTree(unpack("0.5.2"))
    # Just these two (draft-seq-lens-sum shares the file too: the matrix composes all three).
    fixes = [f for f in engine.load_fixes() if f.id in (POSITIONS, BUFFERS)]
    plan = engine.plan(tree, fixes)
    patch = {}
    for fix_id in (POSITIONS, BUFFERS):
        fam = next(f for f in next(x for x in fixes if x.id == fix_id).families
                   if f.name == plan.decision(fix_id).family)
        patch[fix_id] = next(p for p in fam.patches if p.path == RUNNER)
    base = tree.read(RUNNER)
    pos_first = diffs.apply(diffs.apply(base, patch[POSITIONS]), patch[BUFFERS])
    buf_first = diffs.apply(diffs.apply(base, patch[BUFFERS]), patch[POSITIONS])
    assert pos_first == buf_first == plan.texts[RUNNER]
    # Either one reverses out of the combined text, leaving exactly the other alone.
    assert diffs.apply(pos_first, patch[BUFFERS], reverse=True) == diffs.apply(base, patch[POSITIONS])
    assert diffs.apply(pos_first, patch[POSITIONS], reverse=True) == diffs.apply(base, patch[BUFFERS])


def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/draft_padding_buffers_three_of_four.py (0.5.12.post1's clearing
    without req_pool_indices; the upstream markers still match, which alone called it
    fixed before) is declined, and the real replay, shim on, still hands the graph an
    earlier batch's request-pool rows while the other three buffers are clean."""
    case = load_case(NEAR_MISSES / "draft_padding_buffers_three_of_four.py")
    root = build_near_miss(case, tmp_path / "t", whole=True)
    fix = engine.load_fix(Path(__file__).parent)
    assert engine.plan(engine.SourceTree(root), [fix]).decision(fix.id).state == engine.DECLINED
    lines = run_harness(root, HARNESS, "on")
    assert len(lines) == 3 and all(r["bs"] == 8 and r["raw_bs"] == 5 for r in lines), lines
    for r in lines:
        assert r["req_pool_indices"] == STALE["req_pool_indices"] and r["rows_read"] == STALE["rows_read"], r
        assert {k: r[k] for k in ("topk_p", "topk_index", "hidden_states")} == {
            k: CLEARED[k] for k in ("topk_p", "topk_index", "hidden_states")}, r
