"""FA3 multi-step draft decode with a sliding-window KV pool, on real SGLang code (see
reproduce.py for what is real and what is a stand-in), topk 1, 3 steps, captured batch
sizes [1, 2, 4]. Unpatched: the CUDA-graph capture of 4 and 2 fails (4 * 3 and 2 * 3 write
locations copied into a 4-entry buffer), so the server cannot start with CUDA graphs; without
graphs every step writes through the first bs * topk slots of the whole draft
``out_cache_loc`` (0.5.14 .. 0.5.18: a request's step-0 slot, then the next step's, and the
second request's KV in the first request's slots) or fails on the length mismatch
(0.5.13.x), and the draft attention reads KV of the wrong step or never written. Patched:
every capture succeeds, and each step's reads find the KV that step wrote, eager and in a
padded replay. Also: the fix's fixed-when and lacks-need checks on real release sources."""

from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine

HARNESS = Path(__file__).with_name("reproduce.py")
FIX = engine.load_fix(Path(__file__).parent)
BACKEND = "sglang/srt/layers/attention/flashattention_backend.py"


def run(release, disable):
    lines = run_harness(release, HARNESS, "on", disable=disable)
    captures = {line["capture"]: line for line in lines if "capture" in line}
    steps = {(line["mode"], line["step"]): line for line in lines if "mode" in line}
    assert set(captures) == {1, 2, 4}, lines
    return captures, steps


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.13.post1", "0.5.15.post1"])
def test_each_draft_step_writes_and_reads_its_own_sliding_window_slots(cpu_env, release):
    captures, steps = run(release, "fa3-swa-draft-step-loc")
    assert "must match the size" in captures[4]["error"] and "must match the size" in captures[2]["error"]
    assert captures[1].get("ok"), captures  # 1 * 3 locations fit the 4-entry buffer
    eager = [steps[key] for key in (("eager", 0), ("eager", 1)) if key in steps]
    if "error" in eager[0]:  # 0.5.13.x: the whole bs * topk * steps reaches the pool
        assert "shape mismatch" in eager[0]["error"] and len(eager) == 1, eager
    else:  # 0.5.14 on: cut to the first bs * topk entries
        assert len(eager) == 2, eager
        assert eager[0]["written"] == [400, 401] and eager[1]["written"] == [400, 401], eager
        assert eager[0]["wrong"] == 1 and eager[1]["wrong"] == 4, eager  # every read of step 1 is wrong

    captures, steps = run(release, "")
    assert all(c.get("ok") for c in captures.values()), captures
    for mode, requests in (("eager", 2), ("graph", 3)):
        for i in range(2):
            line = steps[(mode, i)]
            assert line["wrong"] == 0 and line["right"] == requests * (i + 1), line
    assert steps[("eager", 1)]["written"] == [400, 401, 410, 411]  # each request, each step, its own slot


def check(read):
    return engine.load_check(FIX)(read)


def lacks_need(read):
    return engine.load_lacks_need(FIX)(read)


@pytest.mark.parametrize("release", ["0.5.13.post1", "0.5.15.post1", "0.5.16", "0.5.18", "0.5.20"])
def test_check_is_false_on_an_affected_release_and_true_once_patched(release):
    tree = engine.SourceTree(unpack(release))
    assert check(tree.read) is None and lacks_need(tree.read) is None
    plan = engine.plan(tree, [FIX])
    assert plan.decision(FIX.id).state == engine.APPLIES
    assert "own out_cache_loc slots" in check(lambda rel: plan.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.21", "0.5.23"])
def test_check_recognises_upstreams_per_step_locations(release):
    d = engine.plan(engine.SourceTree(unpack(release)), [FIX]).decision(FIX.id)
    assert d.state == engine.NOT_APPLICABLE and "own out_cache_loc slots" in d.reason, d


@pytest.mark.parametrize("release", ["0.5.2", "0.5.12.post1"])
def test_releases_before_013_lack_the_precomputed_write_locations(release):
    d = engine.plan(engine.SourceTree(unpack(release)), [FIX]).decision(FIX.id)
    assert d.state == engine.NOT_APPLICABLE and d.reason.startswith(engine.LACKS_NEED), d


def patched_text(release="0.5.15.post1"):
    tree = engine.SourceTree(unpack(release))
    return engine.plan(tree, [FIX]).texts[BACKEND]


@pytest.mark.parametrize("edit", [
    # the step is fixed at 0: right for step 0 only
    ("[:, :, self.speculative_step_id].reshape(-1)\n            n =", "[:, :, 0].reshape(-1)\n            n ="),
    # the step axis taken as the middle one: right for topk 1 only
    ("-1, self.topk, self.speculative_num_steps\n                )[:, :, self.speculative_step_id]",
     "-1, self.speculative_num_steps, self.topk\n                )[:, self.speculative_step_id, :]"),
    # the guard can never hold in draft decode
    ("                and self.speculative_num_steps > 1\n            ):\n                # Draft",
     "                and self.speculative_num_steps > 99\n            ):\n                # Draft"),
    # the refill copies the whole loc again after selecting the step
    ("translate_loc_from_full_to_swa(swa_write_loc)\n", "translate_loc_from_full_to_swa(out_cache_loc)\n"),
])
def test_check_rejects_near_misses_of_the_patched_text(edit):
    text = patched_text()
    assert text.count(edit[0]) == 1, edit[0]
    edited = text.replace(*edit)
    compile(edited, BACKEND, "exec")
    assert check(lambda rel: edited if rel == BACKEND else None) is None


@pytest.mark.slow
def test_the_step_zero_near_miss_still_reads_the_wrong_kv(cpu_env, tmp_path):
    """tests/near_misses/fa3_swa_draft_step_loc_step_zero.py with the shim on: the fix is
    declined there (never called fixed), the capture now fits, and step 1 still reads wrong."""
    from test_near_misses import build_near_miss, load_case

    case = load_case(Path(__file__).parents[2] / "tests" / "near_misses" / "fa3_swa_draft_step_loc_step_zero.py")
    root = build_near_miss(case, tmp_path / "tree", whole=True)
    assert engine.plan(engine.SourceTree(root), [FIX]).decision(FIX.id).state == engine.DECLINED
    lines = run_harness(root, HARNESS, "on")
    captures = [line for line in lines if "capture" in line]
    step1 = [line for line in lines if line.get("mode") == "eager" and line.get("step") == 1]
    assert all(c.get("ok") for c in captures) and len(captures) == 3, lines
    assert step1 and step1[0]["wrong"] > 0, lines
