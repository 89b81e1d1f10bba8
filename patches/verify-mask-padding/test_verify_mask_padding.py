"""#9481 / #6309 on real SGLang code (see reproduce.py for what is real and what is a
stand-in): when the CUDA graph pads a verify batch, generate_attn_arg_prefill hands the
backend a tree mask shorter than the offsets FlashInfer's plan reads from it; patched,
the mask is exactly as long as those offsets, the real requests' bits are untouched,
and an unpadded (eager) call gets the very same mask back."""

from pathlib import Path

import pytest

from sglang_releases import run_harness
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def calls(release, mode):
    padded, eager = run_harness(release, HARNESS, mode, timeout=300)
    assert padded["padded"] and padded["bs"] > padded["raw_bs"] and not eager["padded"]
    assert padded["tree_ok"] and padded["real_kv_ok"] and eager["real_kv_ok"]  # the set-up itself is sound
    return padded, eager


# One release of each family: EagleVerifyInput in eagle_utils.py, then in eagle_info.py.
@pytest.mark.parametrize("release", ["0.5.2", "0.5.6.post2"])
def test_padded_verify_mask_covers_what_flashinfer_reads(cpu_env, release):
    padded, eager = calls(release, "off")
    # FlashInfer reads (bs - raw_bs) * D * (D + fill) booleans past the end of the mask.
    short = (padded["bs"] - padded["raw_bs"]) * padded["D"] * (padded["D"] + padded["fill"])
    assert padded["mask_numel"] < padded["mask_indptr_end"], padded
    assert padded["mask_indptr_end"] - padded["mask_numel"] == short, padded
    assert eager["mask_numel"] == eager["mask_indptr_end"], eager  # eager was never short

    padded, eager = calls(release, "on")
    assert padded["mask_numel"] == padded["mask_indptr_end"], padded
    assert padded["real_rows_end"] == padded["mask_built"] and padded["real_bits_equal"], padded
    assert padded["tail_all_true"], padded  # padded requests attend, as upstream pads
    # Eager: the mask handed over is the one the tree kernel built, unchanged.
    assert eager["same_tensor"] and eager["unchanged"] and eager["mask_numel"] == eager["mask_indptr_end"], eager


def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/verify_mask_padding_copy_d_bits.py (the returned copy grows by D
    booleans a request, not D * D) is declined, and the harness, shim on, shows the mask
    still short of what FlashInfer reads. The old name-based check called it fixed."""
    root = build_near_miss(load_case(NEAR_MISSES / "verify_mask_padding_copy_d_bits.py"), tmp_path / "t", whole=True)
    fix = engine.load_fix(Path(__file__).parent)
    assert engine.plan(engine.SourceTree(root), [fix]).decision(fix.id).state == engine.DECLINED
    padded, _ = run_harness(root, HARNESS, "on", timeout=300)
    assert padded["padded"] and padded["mask_numel"] < padded["mask_indptr_end"], padded
