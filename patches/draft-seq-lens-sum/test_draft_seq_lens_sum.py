"""PR #26880 backport on real SGLang code (see reproduce.py for what is real and what is a
stand-in): when the draft CUDA-graph runner pads 5 requests to 8, unpatched, the multi-step
FlashInfer draft backend slices each step's kv_indices, and 0.5.13 checks the row, from the
raw seq_lens_sum, while the real Triton kernel lays out and writes the padded batch: it
writes topk * padded rows * fill entries past the slice and past the checked length.
Patched, slice and check cover exactly what the kernel writes, and seq_lens_sum is the raw
sum again after replay, also when replay raises. Also: the fix's fixed-when check on real
release sources.

The unpatched runs keep every other fix on (only this one disabled): on releases before
0.5.3rc2 stale padded positions (draft-padding-positions) would otherwise move kv_indptr,
and before 0.5.13 the row width lacks topk (draft-kv-indices-topk)."""

from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

HARNESS = Path(__file__).with_name("reproduce.py")
FIX = engine.load_fix(Path(__file__).parent)
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
TOPK, PADDED_ROWS, FILL = 4, 3, 1  # the harness's scenario; FILL is FlashInfer's fill value
SHORT = TOPK * PADDED_ROWS * FILL


def run(release, disable):  # a release, or the root of a tree built from one
    lines = run_harness(release, HARNESS, "on", disable=disable)
    by_replay = {}
    for line in lines:
        by_replay.setdefault(line["replay"], []).append(line)
    assert set(by_replay) == {"full", "padded", "failing"}, lines
    return by_replay


def steps(lines):
    return [line for line in lines if "step" in line]


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.2", "0.5.13.post1"])  # 0.5.13.post1: last affected
def test_padded_replay_slices_and_checks_what_the_kernel_writes(cpu_env, release):
    unpatched, patched = run(release, "draft-seq-lens-sum"), run(release, "")
    for result in (unpatched, patched):  # the control: no padding, nothing to fix
        assert all(s.get("view", s["written"]) == s["written"] for s in steps(result["full"])), result["full"]

    pad_steps, (pad,) = steps(unpatched["padded"]), [x for x in unpatched["padded"] if "raw" in x]
    ran = [s for s in pad_steps if "view" in s]
    assert len(pad_steps) == 3 and len(ran) == 2, pad_steps
    assert all(s["written"] - s["view"] == SHORT for s in ran), ran  # written past the slice
    if pad["checked"] is not None:  # 0.5.13's fit check accepted less than the kernel wrote
        assert pad_steps[-1]["written"] - pad["checked"] == SHORT, (pad_steps, pad)
    assert pad["after"] == pad["raw"]

    fixed_steps, (fixed,) = steps(patched["padded"]), [x for x in patched["padded"] if "raw" in x]
    assert [s["written"] for s in fixed_steps] == [s["written"] for s in pad_steps]  # same kernel work
    assert all(s["view"] == s["written"] for s in fixed_steps if "view" in s), fixed_steps
    assert all(s["end"] <= s["view"] for s in fixed_steps if "view" in s), fixed_steps  # FlashInfer reads inside
    if fixed["checked"] is not None:
        assert fixed["checked"] == fixed_steps[-1]["written"], (fixed_steps, fixed)
    assert fixed["after"] == fixed["raw"]  # the raw sum is back after replay

    (failed,) = patched["failing"]
    assert "raised" in failed and failed["after"] == failed["raw"], failed  # restored on error too


def fixed_when(read):
    return engine.load_check(FIX)(read)


@pytest.mark.parametrize("release", ["0.4.10", "0.5.12.post1", "0.5.13.post1"])
def test_fixed_when_is_false_on_an_affected_release_and_true_once_patched(release):
    tree = engine.SourceTree(unpack(release))
    assert fixed_when(tree.read) is None
    plan = engine.plan(tree, [FIX])
    assert plan.decision(FIX.id).state == engine.APPLIES
    assert "in a finally" in fixed_when(lambda rel: plan.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.14", "0.5.23"])
def test_fixed_when_recognises_upstreams_padded_sum(release):
    assert ("gives init_forward_metadata_out_graph() forward_batch.seq_lens_sum = raw sum + (bs - raw_bs)"
            in fixed_when(engine.SourceTree(unpack(release)).read))


@pytest.mark.parametrize("edit", [
    # the padded sum is computed but never reaches forward_batch
    ("forward_batch.seq_lens_sum = (\n", "padded_sum = (\n"),
    # the raw sum is never put back
    ("            forward_batch.seq_lens_sum = raw_seq_lens_sum\n", "            pass\n"),
])
def test_fixed_when_rejects_near_misses(edit):
    text = engine.SourceTree(unpack("0.5.14")).read(RUNNER)
    assert text.count(edit[0]) == 1
    edited = text.replace(*edit)
    assert fixed_when(lambda rel: edited if rel == RUNNER else None) is None


@pytest.mark.slow
def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/draft_seq_lens_sum_no_factor.py (a padded sum that adds one fill
    value, not one per padded row) is declined, and the harness, shim on, shows why: the
    backends still slice kv_indices short of what the kernel writes (two of the three
    padded rows missing). The old name-based check called this tree fixed."""
    case = load_case(NEAR_MISSES / "draft_seq_lens_sum_no_factor.py")
    root = build_near_miss(case, tmp_path / "tree", whole=True)
    assert engine.plan(engine.SourceTree(root), [FIX]).decision(FIX.id).state == engine.DECLINED
    ran = [s for s in steps(run(root, "")["padded"]) if "view" in s]
    assert len(ran) == 2 and all(s["written"] - s["view"] == TOPK * (PADDED_ROWS - 1) * FILL for s in ran), ran
