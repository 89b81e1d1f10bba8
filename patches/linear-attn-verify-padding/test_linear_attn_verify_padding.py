"""linear-attn-verify-padding on real SGLang code (see reproduce.py for what is real and what
is a stand-in): a Qwen3-Next-style MTP verify batch replayed from a CUDA graph, where one
real request is as long as the fill value (a one-token prompt at its first verify).
Unpatched, the linear-attention backend takes that request for padding: the last real row
loses its state slot and its query tokens, and the release's verify kernel leaves that
row's output and per-step states unwritten. Patched, exactly the padded rows are cleared
and every real row matches a run with the right metadata. 0.5.15.post1 (upstream passes
num_padding from the runner) is right as shipped. Also: the fixed-when check on real
sources, and a near-miss tree still showing the bug."""

from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import engine
from test_near_misses import build_near_miss, load_case

HARNESS = Path(__file__).with_name("reproduce.py")
FIX = engine.load_fix(Path(__file__).parent)
NEAR_MISS = Path(__file__).parents[2] / "tests" / "near_misses" / "linear_attn_verify_padding_view_only_editable.py"
# The harness's batches: padded [40, 1, 40] -> 4 rows, unpadded [40, 40, 40, 1], control [40, 41, 42] -> 4.
RIGHT = {"padded": [3], "unpadded": [], "control": [3]}  # rows cleared as padding
WRONG = {"padded": [2, 3], "unpadded": [3], "control": [3]}
LOST = {"padded": [2], "unpadded": [3], "control": []}  # real rows cleared: the last real one


def by_batch(lines):
    batches = {line["batch"]: line for line in lines}
    assert set(batches) == set(RIGHT), lines
    return batches


def assert_right(batches):
    for name, line in batches.items():
        assert line["padding_rows"] == RIGHT[name], line
        assert line["real_rows_without_tokens"] == [], line
        if "real_rows_output_wrong" in line:  # the kernel ran (0.5.13 on)
            assert line["reference_states_written"], line
            assert line["real_rows_states_unwritten"] == line["real_rows_output_wrong"] == [], line


def assert_bug(batches):
    for name, line in batches.items():
        assert line["padding_rows"] == WRONG[name], line
        assert line["real_rows_without_tokens"] == LOST[name], line
        if "real_rows_output_wrong" in line:
            assert line["reference_states_written"], line
            assert line["real_rows_states_unwritten"] == line["real_rows_output_wrong"] == LOST[name], line


@pytest.mark.slow
@pytest.mark.parametrize("release", ["0.5.9", "0.5.13.post1"])  # both families
def test_a_real_one_token_request_keeps_its_row(cpu_env, release):
    assert_bug(by_batch(run_harness(release, HARNESS, "on", disable=FIX.id)))
    assert_right(by_batch(run_harness(release, HARNESS, "on")))


@pytest.mark.slow
def test_upstream_runner_passes_the_padding_count(cpu_env):
    assert_right(by_batch(run_harness("0.5.15.post1", HARNESS, "off")))


@pytest.mark.slow
def test_a_near_miss_still_loses_the_row(cpu_env, tmp_path):
    """The runner's view line alone (upstream's, without the backend reading it) leaves the bug."""
    tree = build_near_miss(load_case(NEAR_MISS), tmp_path, whole=True)
    assert_bug(by_batch(run_harness(tree, HARNESS, "on", disable=FIX.id)))


def fixed_when(read):
    return engine.load_check(FIX)(read)


@pytest.mark.parametrize("release", ["0.5.2", "0.5.9", "0.5.12.post1", "0.5.13.post1"])
def test_fixed_when_is_false_on_an_affected_release_and_true_once_patched(release):
    tree = engine.SourceTree(unpack(release))
    assert fixed_when(tree.read) is None
    plan = engine.plan(tree, [FIX])
    assert plan.decision(FIX.id).state == engine.APPLIES
    assert "(the verify input's rows)" in fixed_when(lambda rel: plan.texts.get(rel) or tree.read(rel))


@pytest.mark.parametrize("release", ["0.5.14", "0.5.16", "0.5.23"])
def test_fixed_when_recognises_upstreams_padding_count(release):
    assert "(the num_padding the runner's view passes)" in fixed_when(engine.SourceTree(unpack(release)).read)


BACKEND = "sglang/srt/layers/attention/hybrid_linear_attn_backend.py"


@pytest.mark.parametrize("edit", [
    # the backend's out-graph entry no longer hands the runner's count on
    ('0 if in_capture else getattr(forward_batch, "num_padding", None)', "0 if in_capture else None"),
    # the count by value runs whatever the runner passed
    ("        if num_padding is None:\n", "        if True:\n"),
])
def test_fixed_when_rejects_upstream_near_misses(edit):
    tree = engine.SourceTree(unpack("0.5.16"))
    text = tree.read(BACKEND)
    assert edit[0] in text
    edited = text.replace(*edit, 1)  # the first: MambaAttnBackendBase, before its subclasses
    assert fixed_when(lambda rel: edited if rel == BACKEND else tree.read(rel)) is None
