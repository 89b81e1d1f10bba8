"""Draft CUDA graph captured above the request pool (two-batch overlap rounds the pool up),
on real SGLang code (see reproduce.py for what is real and what is a stand-in): unpatched,
the real TritonMultiStepDraftBackend sizes kv_indptr for the pool of 5 while the real capture
list holds 6, so the real Triton kernel writes each row's last entries into the next row
(later rows no longer start at 0) and the last row's past the end of the buffer, and each
step backend is handed fewer than bs * topk + 1 entries; patched, every row fits. Plus the
fixed-when check on real release sources, and where the fix applies."""

import importlib.util
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine

HERE = Path(__file__).parent
HARNESS = HERE / "reproduce.py"
FIX = engine.load_fix(HERE)


TOPKS = [1, 4]


@pytest.mark.slow
# 0.5.15.post1: slime's and Relax's pin (family 0.5.13); 0.5.23: the newest release
@pytest.mark.parametrize("release", ["0.5.15.post1", "0.5.23"])
def test_draft_triton_kv_indptr_holds_the_padded_capture(cpu_env, release):
    args = ["--topk", *map(str, TOPKS)]
    offs, ons = run_harness(release, HARNESS, "off", args=args), run_harness(release, HARNESS, "on", args=args)
    assert [r["topk"] for r in offs] == [r["topk"] for r in ons] == TOPKS
    for off, on in zip(offs, ons):
        topk = off["topk"]
        assert off["captured"] == [2, 4, 6] and off["bs"] == 6, off  # the pool of 5 rounded up to 6
        assert off["row"] == 5 * topk + 1 and off["needed"] == 6 * topk + 1, off
        assert off["past_buffer"] == topk, off  # the last row's overflow
        assert all(start != 0 for start in off["row_starts"]), off  # rows spill into the next one
        assert all(handed < off["needed"] for handed in off["handed"]), off

        assert on["captured"] == off["captured"] and on["bs"] == off["bs"]
        assert on["row"] >= on["needed"], on
        assert on["past_buffer"] == 0 and on["row_starts"] == [0] * len(on["row_starts"]), on
        assert on["handed"] == [on["needed"]] * len(on["handed"]), on


def load_fixed_when():
    spec = importlib.util.spec_from_file_location("draft_triton_kv_indptr_capture_bs_fixed_when", HERE / "fixed_when.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("release", ["0.5.10rc0", "0.5.12.post1", "0.5.13.post1", "0.5.15.post1", "0.5.23"])
def test_applies_and_the_check_holds_only_once_patched(release):
    check = load_fixed_when().check
    tree = engine.SourceTree(unpack(release))
    assert check(tree.read) is None
    patched = engine.plan(tree, [FIX])
    decision = patched.decision(FIX.id)
    assert decision.state == engine.APPLIES and decision.files == (load_fixed_when().FILE,), decision
    assert "largest captured batch" in check(lambda rel: patched.texts.get(rel) or tree.read(rel))


POOL_SIZED = "max_bs = model_runner.req_to_token_pool.size * self.topk"


def edited_init(release, new):
    tree = engine.SourceTree(unpack(release))
    rel = load_fixed_when().FILE
    text = tree.read(rel)
    start = text.index(POOL_SIZED, text.index("class TritonMultiStepDraftBackend"))
    edited = text[:start] + new + text[start + len(POOL_SIZED):]
    return lambda r: edited if r == rel else tree.read(r)


@pytest.mark.parametrize("release", ["0.5.15.post1", "0.5.23"])
def test_check_evaluates_the_size_an_init_gives(release):
    check = load_fixed_when().check
    # the pool rounded up to the capture alignment, then times topk: enough
    right = "max_bs = get_cuda_graph_max_batch_size(model_runner.req_to_token_pool.size) * self.topk"
    assert "__init__ sizes kv_indptr" in check(edited_init(release, right))
    # upstream's FlashInfer spelling rounds the product: short (pool 5, alignment 2, topk 2: 11 < 13)
    product = "max_bs = get_cuda_graph_max_batch_size(model_runner.req_to_token_pool.size * self.topk)"
    assert check(edited_init(release, product)) is None
    # capped by the pool: short
    capped = "max_bs = min(model_runner.req_to_token_pool.size, 4096) * self.topk"
    assert check(edited_init(release, capped)) is None


def test_not_applicable_where_the_capture_never_exceeds_the_pool():
    # 0.5.9 has the same sizing, but its capture list stops at the pool
    decision = engine.plan(engine.SourceTree(unpack("0.5.9")), [FIX]).decision(FIX.id)
    assert decision.state == engine.NOT_APPLICABLE and decision.reason.startswith(engine.LACKS_NEED), decision


@pytest.mark.slow
def test_near_miss_without_topk_still_overruns_with_the_shim_on(cpu_env, tmp_path):
    # tests/near_misses/draft_triton_kv_indptr_growth_without_topk.py: this fix's growth
    # without the topk factor; the shim declines it, and the bug is still there at topk 4
    from test_near_misses import build_near_miss, load_case

    case = load_case(Path(__file__).parents[2] / "tests" / "near_misses" / "draft_triton_kv_indptr_growth_without_topk.py")
    tree = build_near_miss(case, tmp_path, whole=True)
    assert engine.plan(engine.SourceTree(tree), [FIX]).decision(FIX.id).state == engine.DECLINED
    (on,) = run_harness(tree, HARNESS, "on", args=["--topk", "4"])
    assert on["bs"] == 6 and on["row"] < on["needed"] and on["past_buffer"] == 4, on
    assert all(start != 0 for start in on["row_starts"]), on
