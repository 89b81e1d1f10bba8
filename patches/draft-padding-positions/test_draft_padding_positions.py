"""#9888 / #9521 on real SGLang code (see reproduce.py for what is real and what is a
stand-in): unpatched, the FlashInfer draft kv_indptr claims more kv_indices than the
Triton kernel wrote, more with every padded replay, until it points past the buffer;
patched, it never claims more than was written."""

from pathlib import Path

import pytest

from sglang_releases import run_harness
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def replays(release, mode, n=40):
    return run_harness(release, HARNESS, mode, args=["--replays", str(n)])


@pytest.mark.parametrize("release", ["0.4.10", "0.5.3rc0"])  # first and last affected release
def test_kv_indptr_stays_within_what_the_kernel_wrote(cpu_env, release):
    unpatched = replays(release, "off")
    over = [r["claimed"] - r["written"] for r in unpatched[1:]]
    assert over[0] > 0 and over == sorted(over) and over[-1] > over[0], over  # grows every replay
    assert any(r["claimed"] > r["row"] for r in unpatched), "never reached past the kv_indices row"

    patched = replays(release, "on")
    assert all(r["claimed"] <= r["written"] <= r["row"] for r in patched), patched


def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/draft_padding_positions_equal_branch.py (0.5.10.post1 with its
    `positions.zero_()` moved under `if bs == raw_bs:`; the upstream marker still matches,
    which alone called it fixed before) is declined, and the real replay, shim on, still
    hands the graph stale, non-zero positions in the padded slots (the replay harness of
    draft-padding-buffers, which records them, on this release)."""
    case = load_case(NEAR_MISSES / "draft_padding_positions_equal_branch.py")
    root = build_near_miss(case, tmp_path / "t", whole=True)
    fix = engine.load_fix(Path(__file__).parent)
    assert engine.plan(engine.SourceTree(root), [fix]).decision(fix.id).state == engine.DECLINED
    lines = run_harness(root, HARNESS.parent.parent / "draft-padding-buffers" / "reproduce.py", "on")
    assert len(lines) == 3 and all(r["bs"] == 8 and r["raw_bs"] == 5 for r in lines), lines
    assert all(min(r["positions"]) > 0 for r in lines), lines
