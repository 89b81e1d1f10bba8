"""The kernel-level scripts of the GPU suite, run on CPU: same real SGLang code, same
real Triton kernels (under Triton's interpreter, TRITON_INTERPRET=1), CPU tensors.

This is what can be shown without a GPU: the metadata the real replay and the real
``generate_attn_arg_prefill`` produce is wrong unpatched and right patched, and a
release that carries the upstream fix is right as shipped (so the scripts measure the
bug, not themselves). What needs a GPU - FlashInfer reading past the mask, caught by
compute-sanitizer - is left to test_issue_9481.py.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from sglang_releases import unpack

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def run(cpu_env, script, version, *args):
    proc = subprocess.run([str(cpu_env), str(HERE / script), "--sglang-root", str(unpack(version)),
                           "--device", "cpu", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("version", ["0.4.10", "0.5.2"])
def test_draft_replay_unpatched_kv_indptr_outgrows_the_row(cpu_env, version):
    out = run(cpu_env, "draft_replay.py", version, "--replays", "40")
    assert out["kernel_copied_prefix"] and not out["write_past_row"], out
    assert out["fixes_in_runner"] == []
    assert out["first_violation"]["padded"] and out["first_violation"]["kv_indptr_end"] > out["first_violation"]["written"]
    assert out["first_past_row"] is not None, out  # FlashInfer would read past kv_indices


@pytest.mark.parametrize("version", ["0.4.10", "0.5.2"])
def test_draft_replay_patched_stays_within_what_was_written(cpu_env, version):
    out = run(cpu_env, "draft_replay.py", version, "--replays", "40", "--patched")
    assert "draft-padding-positions" in out["fixes_in_runner"], out
    assert out["padded_replays"] == 36 and out["violations"] == 0 and out["max_excess"] == 0, out


def test_draft_replay_tree_layout(cpu_env):
    args = ["--replays", "40", "--topk", "4", "--context", "256"]
    bad, good = run(cpu_env, "draft_replay.py", "0.5.2", *args), run(cpu_env, "draft_replay.py", "0.5.2", *args, "--patched")
    assert bad["violations"] > 0 and good["violations"] == 0, (bad, good)


def test_draft_replay_release_with_upstream_fix_is_clean_as_shipped(cpu_env):
    out = run(cpu_env, "draft_replay.py", "0.5.3", "--replays", "40")
    assert out["fixes_in_runner"] == [] and out["violations"] == 0, out


@pytest.mark.parametrize("version", ["0.4.10", "0.5.3rc2", "0.5.6.post2"])
def test_verify_mask_short_unpatched_full_patched(cpu_env, version):
    bad, good = run(cpu_env, "verify_mask.py", version), run(cpu_env, "verify_mask.py", version, "--patched")
    assert bad["kernel_copied_prefix"] and good["kernel_copied_prefix"]
    assert bad["short_by"] == (bad["bs"] - bad["raw_bs"]) * 16 * (16 + bad["fill"]) > 0, bad
    assert good["fixes_in_file"] == ["verify-mask-padding"] and good["short_by"] == 0, good


def test_verify_mask_release_with_upstream_fix_is_full_as_shipped(cpu_env):
    out = run(cpu_env, "verify_mask.py", "0.5.7")
    assert out["fixes_in_file"] == [] and out["short_by"] == 0, out
