"""#9888 / #9521 on real SGLang code (see reproduce.py for what is real and what is a
stand-in): unpatched, the FlashInfer draft kv_indptr claims more kv_indices than the
Triton kernel wrote, more with every padded replay, until it points past the buffer;
patched, it never claims more than was written."""

from pathlib import Path

import pytest

from sglang_releases import run_harness

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("reproduce.py")


def replays(release, mode, n=40):
    return run_harness(release, HARNESS, mode, args=["--replays", str(n)])


@pytest.mark.parametrize("release", ["0.4.10", "0.5.3rc0"])  # first and last affected release
def test_kv_indptr_stays_within_what_the_kernel_wrote(cpu_env, release):
    unpatched = replays(release, "off")
    over = [r["claimed"] - r["written"] for r in unpatched[1:]]
    assert over[0] > 0 and over == sorted(over) and over[-1] > over[0], over  # grows every replay
    assert any(r["claimed"] > r["row"] for r in unpatched), "never reached past the kv_indices row"

    patched = replays(release, "on")
    assert all(r["claimed"] <= r["written"] <= r["row"] for r in patched), patched
