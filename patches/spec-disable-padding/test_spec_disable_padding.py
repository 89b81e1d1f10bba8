"""--disable-cuda-graph-padding with speculative decoding, on the real
``get_batch_sizes_to_capture`` (see reproduce.py for what is real and what is a
stand-in): unpatched, the capture list keeps the sparse speculative sizes, so every
size missing from it runs without a CUDA graph; patched, every size up to the maximum
is captured, and every other combination of flags gives the list it gave before."""

from pathlib import Path

import pytest

from sglang_releases import run_harness
from sglang_spec_patches import engine
from test_near_misses import NEAR_MISSES, build_near_miss, load_case

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def capture_lists(release, mode):
    (lists,) = run_harness(release, HARNESS, mode, timeout=300)
    return lists


@pytest.mark.parametrize("release", ["0.4.10", "0.5.3rc0"])  # first and last affected release
def test_flag_with_spec_captures_every_batch_size(cpu_env, release):
    unpatched = capture_lists(release, "off")
    # max 48: the sparse speculative list (1-8, even sizes to 32, 40, 48); 9, 11, ... missing.
    assert set(range(1, 49)) - set(unpatched["spec_flag_max48"]), unpatched["spec_flag_max48"]
    assert set(range(1, 161)) - set(unpatched["spec_flag_nomax"]), unpatched["spec_flag_nomax"]

    patched = capture_lists(release, "on")
    assert patched["spec_flag_max48"] == list(range(1, 49)), patched["spec_flag_max48"]
    # No --cuda-graph-max-bs: up to the largest size the default list has (160 here).
    assert patched["spec_flag_nomax"] == list(range(1, max(unpatched["spec_flag_nomax"]) + 1))
    # Without spec, without the flag, or with an explicit --cuda-graph-bs: unchanged.
    for case in ("spec_noflag_max48", "nospec_flag_max48", "nospec_noflag_max48", "spec_flag_explicit_bs"):
        assert patched[case] == unpatched[case], case


def test_a_near_miss_keeps_the_bug_with_the_shim_on(cpu_env, tmp_path):
    """tests/near_misses/spec_disable_padding_half_dense_runner.py (dense from 1 with the
    flag and spec, but only to half the maximum; the old check, which asked for a
    range(1, n) under the flag, called it fixed) is declined, and the real
    get_batch_sizes_to_capture, shim on, still leaves sizes 25 .. 48 uncaptured."""
    root = build_near_miss(load_case(NEAR_MISSES / "spec_disable_padding_half_dense_runner.py"), tmp_path / "t",
                           whole=True)
    fix = engine.load_fix(Path(__file__).parent)
    assert engine.plan(engine.SourceTree(root), [fix]).decision(fix.id).state == engine.DECLINED
    lists = capture_lists(root, "on")
    assert set(range(1, 49)) - set(lists["spec_flag_max48"]) == set(range(25, 49)), lists["spec_flag_max48"]
