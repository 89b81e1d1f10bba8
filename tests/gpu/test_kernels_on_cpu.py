"""The kernel-level scripts of the GPU suite, run on CPU: same real SGLang code, same
real Triton kernels (under Triton's interpreter, TRITON_INTERPRET=1), CPU tensors.

This is what can be shown without a GPU: the metadata the real replay and the real
``generate_attn_arg_prefill`` produce is wrong unpatched and right patched, and a
release that carries the upstream fix is right as shipped (so the scripts measure the
bug, not themselves). What needs a GPU - FlashInfer reading past the mask, caught by
compute-sanitizer - is left to test_issue_9481.py.

The verdicts the GPU tests and ``ci/device-check.sh`` apply (``kernel_checks``) are run on
these real results too, both ways: an unpatched result judged as patched must fail.
Last, ``device_check.py`` itself: no GPU (or no PyTorch) means exit 3 and a report that
says which; a child that prints nothing usable, half a result or crashes becomes a failed
check and the report is still written; ``.device`` carries only what the checks read and
says so when this checkout reads more; its CPU dry run goes end to end on a device folder
built here.
"""

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import kernel_checks
from sglang_releases import fetch_wheel, unpack
from sglang_spec_patches import engine

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def run(cpu_env, script, version, *args):
    proc = subprocess.run([str(cpu_env), str(HERE / script), "--sglang-root", str(unpack(version)),
                           "--device", "cpu", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def judged(check, out, patched, replays=kernel_checks.REPLAYS):
    """The check's verdict on a real result: right as it is, wrong when claimed the other way."""
    assert check.problems(out, patched, replays) == [], out
    assert check.problems(out, not patched, replays), out


@pytest.mark.parametrize("version", ["0.4.10", "0.5.2"])
def test_draft_replay_unpatched_kv_indptr_outgrows_the_row(cpu_env, version):
    out = run(cpu_env, "draft_replay.py", version, "--replays", "40")
    assert out["kernel_copied_prefix"] and not out["write_past_row"], out
    assert out["fixes_in_runner"] == []
    assert out["first_violation"]["padded"] and out["first_violation"]["kv_indptr_end"] > out["first_violation"]["written"]
    assert out["first_past_row"] is not None, out  # FlashInfer would read past kv_indices
    judged(kernel_checks.DRAFT_9888, out, False, 40)


@pytest.mark.parametrize("version", ["0.4.10", "0.5.2"])
def test_draft_replay_patched_stays_within_what_was_written(cpu_env, version):
    out = run(cpu_env, "draft_replay.py", version, "--replays", "40", "--patched")
    assert "draft-padding-positions" in out["fixes_in_runner"], out
    assert out["padded_replays"] == 36 and out["violations"] == 0 and out["max_excess"] == 0, out
    judged(kernel_checks.DRAFT_9888, out, True, 40)


def test_draft_replay_tree_layout(cpu_env):
    args = ["--replays", "40", "--topk", "4", "--context", "256"]
    bad, good = run(cpu_env, "draft_replay.py", "0.5.2", *args), run(cpu_env, "draft_replay.py", "0.5.2", *args, "--patched")
    assert bad["violations"] > 0 and good["violations"] == 0, (bad, good)
    judged(kernel_checks.DRAFT_9521, bad, False, 40)
    judged(kernel_checks.DRAFT_9521, good, True, 40)


def test_draft_replay_release_with_upstream_fix_is_clean_as_shipped(cpu_env):
    out = run(cpu_env, "draft_replay.py", "0.5.3", "--replays", "40")
    assert out["fixes_in_runner"] == [] and out["violations"] == 0, out


@pytest.mark.parametrize("version", ["0.4.10", "0.5.3rc2", "0.5.6.post2"])
def test_verify_mask_short_unpatched_full_patched(cpu_env, version):
    bad, good = run(cpu_env, "verify_mask.py", version), run(cpu_env, "verify_mask.py", version, "--patched")
    assert bad["kernel_copied_prefix"] and good["kernel_copied_prefix"]
    assert bad["short_by"] == (bad["bs"] - bad["raw_bs"]) * 16 * (16 + bad["fill"]) > 0, bad
    assert good["fixes_in_file"] == ["verify-mask-padding"] and good["short_by"] == 0, good
    judged(kernel_checks.MASK_9481, bad, False)
    judged(kernel_checks.MASK_9481, good, True)


def test_verify_mask_release_with_upstream_fix_is_full_as_shipped(cpu_env):
    out = run(cpu_env, "verify_mask.py", "0.5.7")
    assert out["fixes_in_file"] == [] and out["short_by"] == 0, out


def test_draft_kv_indices_without_guard_band_runs_where_nothing_spills(cpu_env):
    """The compute-sanitizer form (no guard band) on CPU, patched only: nothing may leave the
    buffer here, since on CPU nothing would catch it."""
    out = run(cpu_env, "draft_kv_indices.py", "0.5.12.post1", "--patched", "--no-guard-band")
    assert out["guard_band"] is False and out["past_buffer"] is None and out["kernel_copied_prefix"], out
    judged(kernel_checks.MEMCHECK_26340, out, True)


def test_draft_kv_indptr_spills_unpatched_fits_patched(cpu_env):
    """draft-kv-indptr-capture-bs on 0.5.12.post1: two-batch overlap, pool 5, topk 4."""
    bad = run(cpu_env, "draft_kv_indptr.py", "0.5.12.post1")
    good = run(cpu_env, "draft_kv_indptr.py", "0.5.12.post1", "--patched")
    assert bad["captured"] == good["captured"] == [2, 4, 6] and bad["bs"] == 6, bad
    assert (bad["row"], bad["needed"], bad["past_buffer"]) == (21, 25, 4), bad
    assert all(bad["row_starts"]) and bad["handed"] == [21, 21] and bad["last_page_len"] == 20, bad
    assert "draft-kv-indptr-capture-bs" in good["fixes_in_file"], good
    assert good["row"] >= 25 and good["past_buffer"] == 0 and good["row_starts"] == [0, 0], good
    assert good["handed"] == [25, 25] and good["last_page_len"] >= 24, good
    judged(kernel_checks.ROWS_CAPTURE_BS, bad, False)
    judged(kernel_checks.ROWS_CAPTURE_BS, good, True)


@pytest.mark.parametrize("backend", ["flashinfer", "triton"])
def test_draft_kv_indptr_spills_on_the_pinned_release(cpu_env, backend):
    """0.5.15.post1 (slime's and Relax's pin): upstream's row (ceil_align(pool * topk, 2) + 1 =
    21) is short of the 25 entries the kernel writes for the graph of 6; Triton's (pool *
    topk + 1) too. Whatever this checkout's plan does there, as shipped it spills."""
    out = run(cpu_env, "draft_kv_indptr.py", "0.5.15.post1", "--backend", backend)
    assert (out["row"], out["needed"], out["past_buffer"]) == (21, 25, 4), out
    judged(kernel_checks.ROWS_TRITON if backend == "triton" else kernel_checks.ROWS_CAPTURE_BS, out, False)


@pytest.mark.parametrize("check", [kernel_checks.ROWS_CAPTURE_BS, kernel_checks.ROWS_TRITON], ids=lambda c: c.name)
def test_draft_kv_indptr_patched_on_the_pinned_release_fits(cpu_env, check):
    """Once this checkout carries a fix for the spill on 0.5.15.post1 (the FlashInfer one:
    new families of draft-kv-indptr-capture-bs; the Triton one: any fix of triton_backend.py),
    the patched rows must hold what the kernel writes. Until then this skips, saying so."""
    plan = engine.plan(engine.SourceTree(unpack("0.5.15.post1")), disabled=())
    if not check.fix_in_plan(plan.fixes_for(check.target_file)):
        pytest.skip(f"awaiting a fix: none of this checkout applies to {check.target_file} on 0.5.15.post1")
    out = run(cpu_env, "draft_kv_indptr.py", "0.5.15.post1", *check.args, "--patched")
    judged(check, out, True)


@pytest.mark.parametrize("version", ["0.4.10", "0.5.12.post1"])
def test_draft_kv_indices_rows_overflow_unpatched_fit_patched(cpu_env, version):
    bad, good = run(cpu_env, "draft_kv_indices.py", version), run(cpu_env, "draft_kv_indices.py", version, "--patched")
    # The fix's README numbers: row 8 * 4096 for a last row of 4 * (8 * 1500 + 8 * 3) entries.
    assert (bad["row_width"], bad["last_row_needs"], bad["past_buffer"]) == (32768, 48096, 48096 - 32768), bad
    assert (good["row_width"], good["past_buffer"]) == (8 * 4 * 4096, 0), good
    judged(kernel_checks.ROWS_26340, bad, False)
    judged(kernel_checks.ROWS_26340, good, True)


# --- device_check.py (ci/device-check.sh) ---------------------------------------------


def _zip_package(name, dest):
    """A pure-Python wheel of an installed package (what --prepare downloads), built offline."""
    module = __import__(name)
    folder = Path(module.__file__).parent
    wheel = dest / f"{name}-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in folder.rglob("*.py"):
            zf.write(path, f"{name}/{path.relative_to(folder)}")
    return wheel


def device_dir(tmp_path, versions):
    """What `device-check.sh --prepare` builds, from the cached wheels."""
    import device_folder

    deps_dir = tmp_path / "deps"
    deps_dir.mkdir(exist_ok=True)
    deps = [_zip_package("unipatch", deps_dir), _zip_package("packaging", deps_dir)]
    device_folder.prepare({v: fetch_wheel(v) for v in versions}, deps, tmp_path / "device")
    return tmp_path / "device"


def test_device_folder_carries_only_what_the_checks_read(tmp_path):
    import device_folder

    d = device_dir(tmp_path, ["0.5.2", "0.5.15.post1"])
    manifest = json.loads((d / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in d.iterdir())
    wheels = sum(fetch_wheel(v).stat().st_size for v in ("0.5.2", "0.5.15.post1"))
    assert size < wheels / 3, (size, wheels)
    src = manifest["sources"]["0.5.15.post1"]
    assert src["version"] == "0.5.15.post1" and src["files"] < src["of"] / 4, src
    # The plan on the carried files is the plan on the whole wheel.
    root = tmp_path / "carried"
    device_folder.extract_source(d, manifest, "0.5.15.post1", root)
    whole = engine.plan(engine.SourceTree(unpack("0.5.15.post1")), disabled=())
    carried = device_folder.planned(root)
    assert [(x.fix, x.state, x.reason) for x in carried.decisions] == [(x.fix, x.state, x.reason)
                                                                       for x in whole.decisions]
    # A file this checkout reads that was left behind is named, never read as absent:
    # by the plan, and by a script taking a helper out of it.
    (root / "sglang/srt/server_args.py").unlink()
    with pytest.raises(ValueError, match="server_args.py of the release, which .device/ does not carry"):
        device_folder.planned(root)
    (root / "sglang/srt/layers/attention/utils.py").unlink()  # assert_buffer_fits lives there
    import real_code

    with pytest.raises(LookupError, match="needs sglang/srt/layers/attention/utils.py, not carried in .device/"):
        real_code.load(real_code.Sources(root, False), "FlashInferMultiStepDraftBackend", ["common_template"],
                       {"torch": None}, tmp_path)


def device_check(python, *args, **env):
    return subprocess.run([str(python), str(HERE / "device_check.py"), *args], capture_output=True, text=True,
                          timeout=1200, env={**os.environ, "CUDA_VISIBLE_DEVICES": "", **env})


def test_device_check_without_a_gpu_says_so_and_fails(cpu_env, tmp_path):
    for python, verdict in ((cpu_env, "NOT RUN (no GPU)"), (sys.executable, "NOT RUN (no PyTorch)")):
        proc = device_check(python, "--out", str(tmp_path / "out"), "--device-dir", str(tmp_path / "none"))
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "nothing ran" in proc.stderr
        report = json.loads((tmp_path / "out" / "device-report.json").read_text())
        assert report["verdict"] == verdict and report["checks"] == []
        assert "Nothing ran:" in (tmp_path / "out" / "device-report.md").read_text()
    proc = subprocess.run(["bash", str(HERE.parent.parent / "ci" / "device-check.sh"), "--out", str(tmp_path / "sh")],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": str(cpu_env),
                                                                "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 3 and (tmp_path / "sh" / "device-report.md").is_file(), proc.stderr


def test_device_check_refuses_a_missing_or_damaged_device_folder(cpu_env, tmp_path):
    proc = device_check(cpu_env, "--cpu-dry-run", "--out", str(tmp_path / "o"), "--device-dir", str(tmp_path / "none"))
    assert proc.returncode == 2 and "--prepare" in proc.stderr, proc.stderr
    d = device_dir(tmp_path, ["0.5.2"])
    wheel = d / json.loads((d / "manifest.json").read_text())["unipatch"]
    wheel.write_bytes(wheel.read_bytes() + b"x")
    proc = device_check(cpu_env, "--cpu-dry-run", "--out", str(tmp_path / "o"), "--device-dir", str(d))
    assert proc.returncode == 2 and "does not match its hash" in proc.stderr, proc.stderr


def test_device_check_cpu_dry_run_end_to_end(cpu_env, tmp_path):
    """The same checks as on the GPU (two of them, one release, to keep it short), on CPU."""
    d = device_dir(tmp_path, ["0.5.2"])
    out = tmp_path / "out"
    proc = device_check(cpu_env, "--cpu-dry-run", "--releases", "0.5.2", "--issues", "9481,26340",
                        "--out", str(out), "--device-dir", str(d))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "device-report.json").read_text())
    assert report["cpu_dry_run"] and report["verdict"] == "PASS: 4 checks (CPU dry run, not a GPU run)"
    assert [(r["issue"], r["release"], r["patched"], r["passed"]) for r in report["checks"]] == [
        (9481, "0.5.2", False, True), (9481, "0.5.2", True, True),
        (26340, "0.5.2", False, True), (26340, "0.5.2", True, True)]
    text = (out / "device-report.md").read_text()
    assert text.startswith("# Device check: CPU DRY RUN - NOT A GPU RUN")
    assert "computed by this suite the way FlashInfer's plan computes it" in text
