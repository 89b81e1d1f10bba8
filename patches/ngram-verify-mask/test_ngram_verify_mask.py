"""The n-gram twin of #9481 on real SGLang code (see reproduce.py for what is real and
what is a stand-in): when the CUDA graph pads an n-gram verify batch,
NgramVerifyInput.generate_attn_arg_prefill hands the backend a tree mask shorter than
the offsets FlashInfer's plan reads from it; patched, the mask handed over is exactly as
long as those offsets, the real requests' bits are untouched, the input's own mask is
left as built, and an unpadded (eager) call gets the very same mask back."""

from pathlib import Path

import pytest

from sglang_releases import run_harness

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def calls(release, mode):
    padded, eager, padded_twice = run_harness(release, HARNESS, mode, timeout=300)
    assert padded["padded"] and padded["bs"] > padded["raw_bs"] and not eager["padded"]
    assert padded_twice["padded"] and padded_twice["calls"] == 2
    # The set-up itself is sound: the real rows' kv_indices are the slots in req_to_token,
    # and the mask as built covers exactly the real rows FlashInfer reads.
    assert padded["real_kv_ok"] and eager["real_kv_ok"]
    assert eager["mask_built"] == eager["mask_indptr_end"], eager
    return padded, eager, padded_twice


def assert_fixed(padded, eager, padded_twice):
    for call in (padded, padded_twice):  # a second plan of the same input: same result
        assert call["mask_numel"] == call["mask_indptr_end"], call
        assert call["real_rows_end"] == call["mask_built"] and call["real_bits_equal"], call
        assert call["tail_all_true"], call  # padded requests attend, as upstream pads
        assert call["input_mask_unchanged"], call
    # Eager: the mask handed over is the one the worker built, unchanged.
    assert eager["returned_is_input"] and eager["input_mask_unchanged"], eager
    assert eager["mask_numel"] == eager["mask_indptr_end"], eager


# One release of each family: NgramVerifyInput in ngram_utils.py, then in ngram_info.py
# (0.5.13.post1 is the last release without the upstream fix).
@pytest.mark.parametrize("release", ["0.5.3rc2", "0.5.13.post1"])
def test_padded_ngram_verify_mask_covers_what_flashinfer_reads(cpu_env, release):
    padded, eager, padded_twice = calls(release, "off")
    # FlashInfer reads (bs - raw_bs) * D * (D + fill) booleans past the end of the mask.
    short = (padded["bs"] - padded["raw_bs"]) * padded["D"] * (padded["D"] + padded["fill"])
    for call in (padded, padded_twice):
        assert call["mask_numel"] < call["mask_indptr_end"], call
        assert call["mask_indptr_end"] - call["mask_numel"] == short, call

    assert_fixed(*calls(release, "on"))


def test_first_fixed_release_hands_over_the_same_mask(cpu_env):
    # 0.5.14 pads inside generate_attn_arg_prefill itself: the same checks hold there
    # unpatched, so patched releases behave like it.
    assert_fixed(*calls("0.5.14", "off"))
