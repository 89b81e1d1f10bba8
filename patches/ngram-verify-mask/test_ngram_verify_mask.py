"""The n-gram twin of #9481 on real SGLang code (see reproduce.py for what is real and
what is a stand-in): when the CUDA graph pads an n-gram verify batch,
NgramVerifyInput.generate_attn_arg_prefill hands the backend a tree mask shorter than
the offsets FlashInfer's plan reads from it; patched, the mask handed over is exactly as
long as those offsets, the real requests' bits are untouched, the input's own mask is
left as built, and an unpadded (eager) call gets the very same mask back. Also: the
fix's fixed-when check on real release sources."""

from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

HARNESS = Path(__file__).with_name("reproduce.py")
FIX = engine.load_fix(Path(__file__).parent)
NGRAM_INFO = "sglang/srt/speculative/ngram_info.py"


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
@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.3rc2", "0.5.13.post1"])
def test_padded_ngram_verify_mask_covers_what_flashinfer_reads(cpu_env, release):
    padded, eager, padded_twice = calls(release, "off")
    # FlashInfer reads (bs - raw_bs) * D * (D + fill) booleans past the end of the mask.
    short = (padded["bs"] - padded["raw_bs"]) * padded["D"] * (padded["D"] + padded["fill"])
    for call in (padded, padded_twice):
        assert call["mask_numel"] < call["mask_indptr_end"], call
        assert call["mask_indptr_end"] - call["mask_numel"] == short, call

    assert_fixed(*calls(release, "on"))


@pytest.mark.slow
def test_first_fixed_release_hands_over_the_same_mask(cpu_env):
    # 0.5.14 pads inside generate_attn_arg_prefill itself: the same checks hold there
    # unpatched, so patched releases behave like it.
    assert_fixed(*calls("0.5.14", "off"))


def fixed_when(read):
    return engine.load_check(FIX)(read)


@pytest.mark.parametrize("release", ["0.5.3rc2", "0.5.13.post1"])
def test_fixed_when_is_false_on_an_affected_release_and_true_once_patched(release):
    tree = engine.SourceTree(unpack(release))
    assert fixed_when(tree.read) is None
    plan = engine.plan(tree, [FIX])
    assert plan.decision(FIX.id).state == engine.APPLIES
    assert fixed_when(lambda rel: plan.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.14", "0.5.23"])
def test_fixed_when_recognises_upstreams_padding(release):
    assert "returns a tree mask of at least" in fixed_when(engine.SourceTree(unpack(release)).read)


@pytest.mark.parametrize("edit", [
    # the padded copy is built but the unpadded mask is handed over
    ("return kv_indices, cum_kv_seq_len, self.qo_indptr, custom_mask",
     "return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask"),
    # padded to a length that does not follow the batch size
    ("+ (self.draft_token_num**2) * bs", "+ (self.draft_token_num**2) * 8"),
])
def test_fixed_when_rejects_near_misses(edit):
    text = engine.SourceTree(unpack("0.5.14")).read(NGRAM_INFO)
    assert text.count(edit[0]) == 1
    edited = text.replace(*edit)
    assert fixed_when(lambda rel: edited if rel == NGRAM_INFO else None) is None


@pytest.mark.slow
def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/ngram_verify_mask_sum_not_times_d.py (the pad target's kv part not
    times D) is declined, and the harness, shim on, shows the mask still short by what
    FlashInfer reads for the padded requests. The old name-based check called it fixed."""
    root = build_near_miss(load_case(NEAR_MISSES / "ngram_verify_mask_sum_not_times_d.py"), tmp_path / "t", whole=True)
    assert engine.plan(engine.SourceTree(root), [FIX]).decision(FIX.id).state == engine.DECLINED
    padded = run_harness(root, HARNESS, "on", timeout=300)[0]
    short = (padded["bs"] - padded["raw_bs"]) * padded["D"] * (padded["D"] + padded["fill"])
    assert padded["padded"] and padded["mask_indptr_end"] - padded["mask_numel"] == short, padded
