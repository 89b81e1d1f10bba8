"""Draft CUDA graph captured above the request pool (two-batch overlap rounds the pool up),
on real SGLang code (see reproduce.py for what is real and what is a stand-in): unpatched,
the real FlashInferMLAMultiStepDraftBackend.__init__ sizes kv_indptr for the pool of 5 while
the real capture list holds 6, so the real Triton kernel writes each row's last entry into
the next row (later rows no longer start at 0) and the last row's past the end of the
buffer, and the real step backend's CUDA-graph replay code fails on its host copy of the
row (one entry short); patched, every row fits and FlashInfer's plan is handed bs + 1
entries. Plus the fixed-when check on real release sources, and where the fix applies."""

import importlib.util
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine

HERE = Path(__file__).parent
HARNESS = HERE / "reproduce.py"
FIX = engine.load_fix(HERE)


@pytest.mark.slow
# first affected release of each family that runs on CPU; 0.5.10.post1 and 0.5.15.post1 are slime's pins
@pytest.mark.parametrize("release", ["0.5.10.post1", "0.5.15.post1"])
def test_draft_mla_kv_indptr_holds_the_padded_capture(cpu_env, release):
    (off,) = run_harness(release, HARNESS, "off")
    assert off["captured"] == [2, 4, 6] and off["bs"] == 6, off  # the pool of 5 rounded up to 6
    assert off["needed"] > off["row"], off
    assert off["past_buffer"] > 0, off
    assert any(start != 0 for start in off["row_starts"]), off  # rows spill into the next one
    assert off["step_error"] and "size" in off["step_error"], off  # host indptr copy one entry short

    (on,) = run_harness(release, HARNESS, "on")
    assert on["captured"] == off["captured"] and on["bs"] == off["bs"]
    assert on["needed"] <= on["row"], on
    assert on["past_buffer"] == 0 and on["row_starts"] == [0] * len(on["row_starts"]), on
    assert on["step_error"] is None, on
    assert on["handed"] and all(handed == bs + 1 for bs, handed in on["handed"]), on
    # the step backends' qo_indptr comes from q_indptr_decode: it must have grown too
    assert on["q_indptr_decode"] >= on["needed"], on
    assert on["host_indptr"] == [{"qo_indptr_cpu": on["bs"] + 1, "kv_indptr_cpu": on["bs"] + 1}] * len(on["handed"]), on


def load_check():
    spec = importlib.util.spec_from_file_location("draft_mla_kv_indptr_capture_bs_fixed_when", HERE / "fixed_when.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


@pytest.mark.parametrize("release", ["0.5.10rc0", "0.5.12.post1", "0.5.15.post1", "0.5.19"])
def test_fixed_when_is_false_on_an_affected_release_and_true_once_patched(release):
    check = load_check()
    tree = engine.SourceTree(unpack(release))
    assert check(tree.read) is None
    patched = engine.plan(tree, [FIX])
    assert patched.decision(FIX.id).state == engine.APPLIES
    assert "largest captured batch" in check(lambda rel: patched.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.20", "0.5.23"])
def test_fixed_when_recognises_the_upstream_fix(release):
    assert "for the largest captured batch" in load_check()(engine.SourceTree(unpack(release)).read)


def test_fixed_when_rejects_growth_that_ignores_the_captured_size():
    tree = engine.SourceTree(unpack("0.5.15.post1"))
    plan = engine.plan(tree, [FIX])
    (rel,) = plan.decision(FIX.id).files
    text = plan.texts[rel]
    assert text.count("rows = max_bs * self.topk + 1") == 1
    edited = text.replace("rows = max_bs * self.topk + 1", "rows = self.kv_indptr.shape[1]")
    assert load_check()(lambda r: edited if r == rel else tree.read(r)) is None


def test_not_applicable_where_the_capture_never_exceeds_the_pool():
    # 0.5.9 has the same MLA sizing, but its capture list stops at the pool
    decision = engine.plan(engine.SourceTree(unpack("0.5.9")), [FIX]).decision(FIX.id)
    assert decision.state == engine.NOT_APPLICABLE and decision.reason.startswith(engine.LACKS_NEED), decision


def test_not_applicable_once_upstream_sizes_it():
    decision = engine.plan(engine.SourceTree(unpack("0.5.20")), [FIX]).decision(FIX.id)
    assert decision.state == engine.NOT_APPLICABLE and decision.reason.startswith(engine.UPSTREAM_FIX), decision


@pytest.mark.slow
def test_a_near_miss_keeps_the_short_rows_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/mla_kv_indptr_sliced_to_graph.py slices kv_indptr to the captured
    batch instead of growing it: the shim does not call it fixed, and the rows still spill."""
    from test_near_misses import CASES, build_near_miss, load_case

    (path,) = [p for p in CASES if p.stem == "mla_kv_indptr_sliced_to_graph"]
    tree = build_near_miss(load_case(path), tmp_path / "tree", whole=True)
    assert engine.plan(engine.SourceTree(tree), [FIX]).decision(FIX.id).state == engine.DECLINED
    (on,) = run_harness(tree, HARNESS, "on")
    assert on["bs"] == 6 and on["needed"] > on["row"] and on["past_buffer"] > 0, on
    assert on["q_indptr_decode"] < on["needed"], on
    assert on["step_error"] and "size" in on["step_error"], on
