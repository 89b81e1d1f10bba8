"""PR #31273 and PR #38992 backports on real SGLang code (see reproduce.py for what is real
and what is a stand-in): with --disable-cuda-graph-padding and graphs captured for 1, 2, 4
and 8 requests, unpatched 0.5.15.post1 sends every batch of every runner (target, EAGLE
draft, draft-extend, multi-layer draft-extend) to eager mode, and unpatched 0.5.18 every
batch of a target runner with the DSA dual graph; patched, the captured sizes replay their
own graph (nothing padded) and the others run eagerly. Without the flag both pad and replay
alike (the control). Also: the fix's states and its fixed-when check on real release
sources, and one near miss run through the harness."""

from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from test_near_misses import build_near_miss, load_case

HARNESS = Path(__file__).with_name("reproduce.py")
FIX = engine.load_fix(Path(__file__).parent)
CAPTURED, BATCHES = [1, 2, 4, 8], range(1, 11)
RUNNERS = {"target", "target-lora", "draft", "draft-extend", "multi-layer-draft-extend"}
NEAR_MISS = Path(__file__).parents[2] / "tests" / "near_misses" / "disable_padding_graph_key_size_only.py"


def decisions(lines, padding, runners):
    """runner -> {raw batch size: (graph?, padded size, replayed graph's size)}."""
    out = {}
    for line in lines:
        if line["padding"] is padding:
            out.setdefault(line["runner"], {})[line["raw"]] = (line["graph"], line.get("bs"), line.get("replayed"))
    assert set(out) == runners and all(set(d) == set(BATCHES) for d in out.values()), lines
    return out


def exact_sizes_replay(runners):
    return {name: {raw: (True, raw, raw) if raw in CAPTURED else (False, None, None) for raw in BATCHES}
            for name in runners}


def padded_sizes_replay(runners):
    def padded(raw):
        bs = min((c for c in CAPTURED if c >= raw), default=None)
        return (True, bs, bs) if bs else (False, None, None)
    return {name: {raw: padded(raw) for raw in BATCHES} for name in runners}


# Per release: the runners the harness drives, and those whose lookup the release gets wrong.
CASES = {"0.5.15.post1": (RUNNERS, RUNNERS),  # every runner (family 0.5.14)
         "0.5.18": (RUNNERS | {"target-dsa"}, {"target-dsa"})}  # the DSA dual graph (family 0.5.18)


@pytest.mark.slow
@pytest.mark.parametrize("release", sorted(CASES))
def test_captured_sizes_replay_with_padding_disabled(cpu_env, release):
    runners, broken = CASES[release]
    unpatched = run_harness(release, HARNESS, "on", disable=FIX.id)
    patched = run_harness(release, HARNESS, "on")
    # The bug: every batch of a broken runner runs eagerly, the captured sizes included.
    got = decisions(unpatched, False, runners)
    assert all(not graph for name in broken for graph, _, _ in got[name].values()), got
    assert {n: got[n] for n in runners - broken} == exact_sizes_replay(runners - broken)
    # Fixed: a captured size replays its own graph (nothing padded); the others run eagerly.
    assert decisions(patched, False, runners) == exact_sizes_replay(runners)
    # Control: without the flag both pad to the next captured size, as SGLang intends.
    assert decisions(unpatched, True, runners) == decisions(patched, True, runners) == padded_sizes_replay(runners)


@pytest.mark.slow
def test_near_miss_keyed_by_size_alone_still_runs_lora_batches_eagerly(cpu_env, tmp_path):
    """Why the check wants the replay key's LoRA variant in the lookup: a tree that passes
    _make_graph_key(size) replays plain batches but never a runner's LoRA-variant graphs."""
    root = build_near_miss(load_case(NEAR_MISS), tmp_path, whole=True)
    got = decisions(run_harness(root, HARNESS, "off"), False, RUNNERS)
    assert got["target"] == exact_sizes_replay({"target"})["target"]
    assert not any(graph for graph, _, _ in got["target-lora"].values())


def check(read):
    return engine.load_check(FIX)(read)


@pytest.mark.parametrize("release, family, files", [
    ("0.5.14", "0.5.14", 4), ("0.5.15", "0.5.14", 4), ("0.5.15.post1", "0.5.14", 4),
    ("0.5.18", "0.5.18", 1), ("0.5.19", "0.5.18", 1),
])
def test_applies_where_affected_and_the_check_holds_only_once_patched(release, family, files):
    tree = engine.SourceTree(unpack(release))
    assert check(tree.read) is None
    plan = engine.plan(tree, [FIX])
    assert (plan.decision(FIX.id).state, plan.decision(FIX.id).family) == (engine.APPLIES, family)
    assert len(plan.texts) == files
    assert "look graphs up under the ShapeKey" in check(lambda rel: plan.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.16", "0.5.17", "0.5.20", "0.5.23"])
def test_fixed_releases_read_not_applicable_with_proof(release):
    d = engine.plan(engine.SourceTree(unpack(release)), [FIX]).decision(FIX.id)
    assert d.state == engine.NOT_APPLICABLE and d.reason.startswith(engine.TREE_FIX), d.reason
    for runner in ("DecodeCudaGraphRunner", "EAGLEDraftCudaGraphRunner", "EAGLEDraftExtendCudaGraphRunner",
                   "MultiLayerEagleDraftExtendCudaGraphRunner"):
        assert runner in d.reason


@pytest.mark.parametrize("release", ["0.4.10", "0.5.13.post1"])
def test_releases_without_shape_keys_lack_what_the_bug_needs(release):
    tree = engine.SourceTree(unpack(release))
    d = engine.plan(tree, [FIX]).decision(FIX.id)
    assert d.state == engine.NOT_APPLICABLE and d.reason.startswith(engine.LACKS_NEED), d.reason
    assert "own self.graphs" in d.reason
    assert engine.load_lacks_need(FIX)(engine.SourceTree(unpack("0.5.14")).read) is None
