"""Draft CUDA graph captured above the request pool (two-batch overlap rounds the pool up),
on real SGLang code (see reproduce.py for what is real and what is a stand-in): unpatched,
the real FlashInferMultiStepDraftBackend.__init__ sizes kv_indptr rows for fewer entries
than the kernel writes for the graph of 6 (the pool of 5 up to 0.5.13.post1; from 0.5.14
pool * topk rounded up, short for topk 4), so the real Triton kernel writes each row's last
entries into the next row (later rows no longer start at 0), the last row's past the end of
the buffer, and FlashInfer is handed too short a kv_indptr and kv_last_page_len; patched,
every row fits. Plus the fixed-when check on real release sources."""

import importlib.util
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from sglang_spec_patches.astcheck import draft_buffers_hold_capture

HERE = Path(__file__).parent
HARNESS = HERE / "reproduce.py"


def assert_spills(r):
    assert r["captured"] == [2, 4, 6] and r["bs"] == 6, r  # the pool of 5 rounded up to 6
    assert r["needed"] > r["row"] and r["past_row"] == r["needed"] - r["row"], r
    assert r["past_buffer"] > 0, r
    assert any(start != 0 for start in r["row_starts"]), r  # rows spill into the next one
    assert r["handed"] and all(handed < r["rows"] + 1 for handed in r["handed"]), r  # FlashInfer plans too few rows
    assert all(n < r["rows"] for n in r["last_page_len"]), r


def assert_fits(r):
    assert r["captured"] == [2, 4, 6] and r["bs"] == 6, r
    assert r["needed"] <= r["row"] and r["past_row"] == 0, r
    assert r["past_buffer"] == 0 and r["row_starts"] == [0] * len(r["row_starts"]), r
    assert r["handed"] and all(handed == r["rows"] + 1 for handed in r["handed"]), r
    assert r["last_page_len"] == [r["rows"]] * len(r["handed"]), r


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.10rc0", "0.5.13.post1"])  # first and last before upstream's sizing
def test_draft_kv_indptr_holds_the_padded_capture(cpu_env, release):
    (off,) = run_harness(release, HARNESS, "off")
    assert_spills(off)
    (on,) = run_harness(release, HARNESS, "on")
    assert_fits(on)


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.15.post1", "0.5.23"])  # slime / Relax pin, newest
def test_upstream_sizing_is_short_for_topk_above_one(cpu_env, release):
    """From 0.5.14 upstream rounds pool * topk up to the alignment: right for topk 1 (7
    entries for the graph of 6), 4 short for topk 4 (21 for 25)."""
    off1, off4 = run_harness(release, HARNESS, "off", args=["--topk", "1", "4"])
    assert (off1["topk"], off4["topk"]) == (1, 4)
    assert_fits(off1)
    assert_spills(off4)
    assert (off4["row"], off4["needed"], off4["past_row"]) == (21, 25, 4), off4
    on1, on4 = run_harness(release, HARNESS, "on", args=["--topk", "1", "4"])
    assert_fits(on1)
    assert_fits(on4)
    assert on4["row"] == 25 and on1["row"] == off1["row"], (on1, on4)  # topk 1 sized as before


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


@pytest.mark.slow
def test_a_near_miss_keeps_the_spill_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/kv_indptr_min_pool_graph_bs.py looks fixed (it reads the batch
    list) but is not: the shim does not call it fixed, and the kernel still spills."""
    from test_near_misses import CASES, build_near_miss, load_case

    (path,) = [p for p in CASES if p.stem == "kv_indptr_min_pool_graph_bs"]
    tree = build_near_miss(load_case(path), tmp_path / "tree", whole=True)
    assert engine.plan(engine.SourceTree(tree), [engine.load_fix(HERE)]).decision(HERE.name).state == engine.DECLINED
    (on,) = run_harness(tree, HARNESS, "on")
    assert_spills(on)
