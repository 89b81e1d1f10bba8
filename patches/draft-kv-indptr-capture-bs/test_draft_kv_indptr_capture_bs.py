"""Draft CUDA graph captured above the request pool (two-batch overlap rounds the pool up),
on real SGLang code (see reproduce.py for what is real and what is a stand-in): unpatched,
the real FlashInferMultiStepDraftBackend.__init__ sizes kv_indptr for the pool of 5 while the
real runner captures and replays a graph of 6, so the real Triton kernel writes each row's
last entry into the next row (later rows no longer start at 0), the last row's past the end
of the buffer, and FlashInfer is handed 6 entries for 6 rows (it needs 7); patched, every
row fits. Plus the fixed-when check on real release sources."""

import importlib.util
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from sglang_spec_patches.astcheck import draft_buffers_hold_capture

HERE = Path(__file__).parent
HARNESS = HERE / "reproduce.py"


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.10rc0", "0.5.13.post1"])  # first and last affected
def test_draft_kv_indptr_holds_the_padded_capture(cpu_env, release):
    (off,) = run_harness(release, HARNESS, "off")
    assert off["captured"] == [2, 4, 6] and off["bs"] == 6, off  # the pool of 5 rounded up to 6
    assert off["needed"] > off["row"], off
    assert off["past_buffer"] > 0, off
    assert any(start != 0 for start in off["row_starts"]), off  # rows spill into the next one
    assert all(handed < bs + 1 for bs, handed in off["handed"]), off

    (on,) = run_harness(release, HARNESS, "on")
    assert on["captured"] == off["captured"] and on["bs"] == off["bs"]
    assert on["needed"] <= on["row"], on
    assert on["past_buffer"] == 0 and on["row_starts"] == [0] * len(on["row_starts"]), on
    assert all(handed == bs + 1 for bs, handed in on["handed"]), on


def load_check():
    spec = importlib.util.spec_from_file_location("draft_kv_indptr_capture_bs_fixed_when", HERE / "fixed_when.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


@pytest.mark.parametrize("release", ["0.5.13.post1", "0.5.14", "0.5.17", "0.5.19", "0.5.23"])
def test_fixed_when_is_false_as_shipped_and_true_once_patched(release):
    """0.5.14 .. 0.5.23 size the row as pool * topk rounded up: not a fix for topk > 1."""
    check = load_check()
    tree = engine.SourceTree(unpack(release))
    assert check(tree.read) is None
    fix = engine.load_fix(HERE)
    patched = engine.plan(tree, [fix])
    assert patched.decision(fix.id).state == engine.APPLIES
    assert "for the largest captured batch" in check(lambda rel: patched.texts.get(rel) or tree.read(rel))


def test_fixed_when_holds_only_with_topk_times_the_rounded_pool():
    """Upstream's spelling passes with topk 1 (the same amount) and fails with topk 2, 4."""
    spec = importlib.util.spec_from_file_location("draft_kv_indptr_capture_bs_fixed_when_t1", HERE / "fixed_when.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    read = engine.SourceTree(unpack("0.5.23")).read
    assert draft_buffers_hold_capture(read, module.FILE, module.CLASS, module.BUFFERS, topks=(1,))
    assert draft_buffers_hold_capture(read, module.FILE, module.CLASS, module.BUFFERS, topks=(2,)) is None
