"""#26340 / PR #27338 backport on real SGLang code (see reproduce.py for what is real and what
is a stand-in): with topk 4 and a full batch of long requests, unpatched, the real Triton
kernel fills each kv_indices row of the draft CUDA-graph buffer past the row width that
the real init_cuda_graph_state gave it, so the steps FlashInfer runs read slot ids that
the next row overwrote, and the last row runs past the end of the buffer; patched, every
row holds what the kernel writes and FlashInfer reads what the eager path computes."""

from pathlib import Path

import pytest

from sglang_releases import run_harness
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def run(release, mode):
    lines = run_harness(release, HARNESS, mode)
    steps, (summary,) = lines[:-1], lines[-1:]
    assert len(steps) == 3 and "past_buffer" in summary, lines
    return steps, summary


@pytest.mark.parametrize("release", ["0.5.2", "0.5.12.post1"])  # 0.5.12.post1: last affected
def test_draft_kv_indices_rows_hold_what_the_kernel_writes(cpu_env, release):
    steps, summary = run(release, "off")
    assert all(s["end"] > s["row"] for s in steps), steps  # every row overflows into the next
    assert summary["past_buffer"] > 0 and summary["last_row_written"] > summary["row"], summary
    assert all(s["wrong"] > 0 for s in steps if "wrong" in s), steps  # FlashInfer reads the next row's ids

    fixed_steps, fixed = run(release, "on")
    assert [s["end"] for s in fixed_steps] == [s["end"] for s in steps]  # same work, wider rows
    assert all(s["end"] <= s["row"] for s in fixed_steps), fixed_steps
    assert fixed["past_buffer"] == 0 and fixed["last_row_written"] <= fixed["row"], fixed
    assert all(s["wrong"] == 0 for s in fixed_steps if "wrong" in s), fixed_steps


def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/draft_kv_indices_topk_added.py (the row gains topk entries
    instead of the topk factor; the old check, which only asked whether the size reads
    topk, called it fixed) is declined, and the harness, shim on, still shows the kernel
    filling every row past its width and the last one past the buffer."""
    root = build_near_miss(load_case(NEAR_MISSES / "draft_kv_indices_topk_added.py"), tmp_path / "t", whole=True)
    fix = engine.load_fix(Path(__file__).parent)
    assert engine.plan(engine.SourceTree(root), [fix]).decision(fix.id).state == engine.DECLINED
    steps, summary = run(root, "on")
    assert all(s["end"] > s["row"] for s in steps), steps
    assert summary["past_buffer"] > 0, summary
