"""A fix's precondition: ``lacks_need(read)`` in its fixed_when.py proves the tree lacks the
code its bug needs in order to exist.

Synthetic trees pin where the engine weighs it (only where the fix would apply or be
declined, only with a proof) and how a regex ``needs`` or bad ``READS`` is refused; real
release sources pin the fixes that use it (the capture-bs fixes: the capture list exceeds
the request pool from 0.5.10rc0 only), whatever version the tree reports."""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from sglang_releases import unpack
from sglang_spec_patches import astcheck, diffs, engine

TARGET = "sglang/srt/thing.py"
OTHER = "sglang/srt/other.py"
SOURCE = "def f():\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    e = 5\n"
PATCHED = SOURCE.replace("c = 3", "c = 33")
DIFF = (f"--- a/{TARGET}\n+++ b/{TARGET}\n@@ -2,5 +2,5 @@\n"
        "     a = 1\n     b = 2\n-    c = 3\n+    c = 33\n     d = 4\n     e = 5\n")
NEED = {"file": OTHER, "pattern": r"^rounds_up = True$", "means": "other.py rounds the pool up"}


def make_fix(patches: Path, needs=None, markers=(), check=None, fix_id="a-fix") -> engine.Fix:
    folder = patches / fix_id
    folder.mkdir(parents=True)
    (folder / "0.1.diff").write_text(DIFF)
    meta = {"id": fix_id, "title": "synthetic", "upstream": {"issues": [], "prs": []}, "first_fixed": "9.0",
            "families": [{"name": "0.1", "releases": ">=0.1", "diff": "0.1.diff"}],
            "upstream_markers": [{"file": TARGET, "pattern": p, "means": "upstream rewrote c"} for p in markers]}
    if needs is not None:
        meta["needs"] = needs
    (folder / "fix.json").write_text(json.dumps(meta))
    if check is not None:
        (folder / engine.FIXED_WHEN_FILE).write_text(check)
    return engine.load_fix(folder)


def make_tree(root: Path, target: str | None = SOURCE, other: str | None = None) -> engine.SourceTree:
    (root / "sglang/srt").mkdir(parents=True)
    (root / "sglang/version.py").write_text('__version__ = "0.5.0"\n')
    for rel, text in ((TARGET, target), (OTHER, other)):
        if text is not None:
            (root / rel).write_text(text)
    return engine.SourceTree(root)


def decide(fix, tree):
    return engine.plan(tree, [fix]).decision(fix.id)


# --- where lacks_need is weighed ---------------------------------------------------------

LACKS_NEED_CHECK = '''
READS = ("sglang/srt/other.py",)


def check(read):
    return {check_body}


def lacks_need(read):
    other = read("sglang/srt/other.py")
    return "other.py proven to keep the pool" if other == "rounds_up = False\\n" else None
'''
PROVEN = "rounds_up = False\n"


def with_lacks_need(check_body="None"):
    return LACKS_NEED_CHECK.replace("{check_body}", check_body)


@pytest.mark.parametrize("other, state", [(PROVEN, engine.NOT_APPLICABLE),
                                          (None, engine.APPLIES), ("rounds_up = maybe\n", engine.APPLIES)])
def test_lacks_need_decides_only_with_a_proof(tmp_path, other, state):
    fix = make_fix(tmp_path / "patches", check=with_lacks_need())
    plan = engine.plan(make_tree(tmp_path / "tree", other=other), [fix])
    d = plan.decision(fix.id)
    assert d.state == state
    if state == engine.NOT_APPLICABLE:
        assert d.reason == engine.LACKS_NEED + "other.py proven to keep the pool"
        assert not plan.texts
    else:
        assert plan.texts == {TARGET: PATCHED}


def test_a_crashing_lacks_need_declines_its_fix(tmp_path):
    fix = make_fix(tmp_path / "patches", check="def check(read):\n    return None\n\ndef lacks_need(read):\n    raise KeyError('x')\n")
    d = decide(fix, make_tree(tmp_path / "tree"))
    assert d.state == engine.DECLINED and "KeyError" in d.reason


def test_a_baked_tree_reads_already_fixed_without_what_the_bug_needs(tmp_path):
    """A tree baked before the fix had a precondition keeps reading as ours."""
    fix = make_fix(tmp_path / "patches", check=with_lacks_need())
    d = decide(fix, make_tree(tmp_path / "tree", target=PATCHED, other=PROVEN))
    assert (d.state, d.reason) == (engine.ALREADY_FIXED, "family 0.1 already in the source")


def test_an_upstream_fix_keeps_its_reason_without_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", markers=["^    c = 4$"], check=with_lacks_need("'c is 4' if 'c = 4' in read('sglang/srt/thing.py') else None"))
    tree = make_tree(tmp_path / "tree", target=SOURCE.replace("c = 3", "c = 4"), other=PROVEN)
    (tmp_path / "tree/sglang/version.py").write_text('__version__ = "9.0"\n')  # the fix's first_fixed
    d = decide(fix, tree)
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.UPSTREAM_FIX + "upstream rewrote c (proven: c is 4)")


def test_an_equivalent_fix_in_the_tree_keeps_its_reason_without_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", check=with_lacks_need("'c is clamped' if 'min(c' in read('sglang/srt/thing.py') else None"))
    d = decide(fix, make_tree(tmp_path / "tree", target=SOURCE.replace("c = 3", "c = min(c, 3)"), other=PROVEN))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.TREE_FIX + "c is clamped")


def test_a_re_anchored_fix_is_not_applicable_without_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", check=with_lacks_need("'c is 33' if 'c = 33' in read('sglang/srt/thing.py') else None"))
    downstream = SOURCE.replace("    c = 3\n", "    log(b)\n    c = 3\n")
    d = decide(fix, make_tree(tmp_path / "a", target=downstream, other=PROVEN))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.LACKS_NEED + "other.py proven to keep the pool")
    d = decide(fix, make_tree(tmp_path / "b", target=downstream, other="rounds_up = True\n"))
    assert d.state == engine.APPLIES and d.reanchored


def test_unrecognised_source_is_not_applicable_without_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", check=with_lacks_need())
    changed = "def f():\n    z = 0\n"
    d = decide(fix, make_tree(tmp_path / "a", target=changed, other=PROVEN))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.LACKS_NEED + "other.py proven to keep the pool")
    d = decide(fix, make_tree(tmp_path / "b", target=changed, other="rounds_up = True\n"))
    assert d.state == engine.DECLINED and d.reason.startswith("source not recognised")


def test_absent_targets_keep_their_reason(tmp_path):
    fix = make_fix(tmp_path / "patches", check=with_lacks_need())
    d = decide(fix, make_tree(tmp_path / "tree", target=None, other=PROVEN))
    assert d.state == engine.NOT_APPLICABLE and d.reason.startswith("release lacks the code"), d.reason


def test_the_files_a_check_reads_are_among_the_files_a_fix_reads(tmp_path):
    """The matrix extracts exactly these (the hook's plan cache tracks every read)."""
    assert OTHER in make_fix(tmp_path / "patches", check=with_lacks_need()).paths


def test_the_matrix_takes_a_proven_lack_for_no_code_not_for_a_stale_diff(tmp_path):
    """The diff still applies there (GNU patch agrees): the fix is left out on purpose."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))
    import matrix

    fix = make_fix(tmp_path / "patches", check=with_lacks_need())
    wheel = tmp_path / "sglang-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("sglang/__init__.py", "")
        zf.writestr("sglang/version.py", '__version__ = "0.5.0"\n')
        zf.writestr(TARGET, SOURCE)
        zf.writestr(OTHER, PROVEN)
        zf.writestr("sglang-0.5.0.dist-info/METADATA", "Name: sglang\nVersion: 0.5.0\n")
    (tmp_path / "work").mkdir()
    entry = matrix.check_release("0.5.0", wheel, [fix], tmp_path / "work")
    assert entry["errors"] == [] and entry["notes"] == [], entry
    cell = entry["fixes"][fix.id]
    assert cell["state"] == matrix.NO_CODE and cell["reason"].startswith(engine.LACKS_NEED), cell


# --- what the fix folder may say ----------------------------------------------------------

def test_a_regex_need_in_fix_json_is_refused_with_the_reason(tmp_path):
    with pytest.raises(engine.FixDefinitionError, match="'needs' is no longer read"):
        make_fix(tmp_path / "patches", needs=[NEED])
    make_fix(tmp_path / "patches", fix_id="b-fix")  # a good fix beside it is unaffected
    plan = engine.plan(make_tree(tmp_path / "tree"), engine.load_fixes(tmp_path / "patches"))
    bad = plan.decision("a-fix")
    assert bad.state == engine.DECLINED and "'needs' is no longer read" in bad.reason
    assert plan.decision("b-fix").state == engine.APPLIES


@pytest.mark.parametrize("reads", ['"sglang/srt/other.py"', '("../outside.py",)', "(1,)", "tuple(x)"])
def test_bad_reads_decline_the_fix_with_the_reason(tmp_path, reads):
    with pytest.raises(engine.FixDefinitionError, match="bad READS"):
        make_fix(tmp_path / "patches", check=f"READS = {reads}\n\ndef check(read):\n    return None\n")


# --- the catalog fixes that use it, on real release sources ---------------------------------

CAPTURE_BS_FIXES = {f.id: f for f in engine.load_fixes()
                    if f.id in ("draft-kv-indptr-capture-bs", "draft-mla-kv-indptr-capture-bs")}
FIX = CAPTURE_BS_FIXES["draft-kv-indptr-capture-bs"]
EXPECTED = {"0.4.10": engine.NOT_APPLICABLE, "0.5.2": engine.NOT_APPLICABLE,  # capture list <= pool
            "0.5.9": engine.NOT_APPLICABLE,
            "0.5.10rc0": engine.APPLIES, "0.5.13.post1": engine.APPLIES}  # pool rounded up and captured
WITHIN_POOL = "get_batch_sizes_to_capture (sglang/srt/model_executor/cuda_graph_runner.py) never captures a batch above"
RUNNER = "sglang/srt/model_executor/cuda_graph_runner.py"
ROUNDING = "    num_max_requests = (num_max_requests + mul_base - 1) // mul_base * mul_base\n"


def release_parts(release: str, dest: Path, version: str | None = None, fix=FIX) -> engine.SourceTree:
    """The files the fix reads, from the real release; optionally relabelled."""
    src = unpack(release)
    for rel in fix.paths:
        if (src / rel).is_file() and not (dest / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / rel)
    (dest / "sglang").mkdir(parents=True, exist_ok=True)
    (dest / "sglang/version.py").write_text(f'__version__ = "{version or release}"\n')
    return engine.SourceTree(dest)


@pytest.mark.parametrize("release", EXPECTED)
def test_capture_bs_fix_follows_the_capture_list_in_the_source(release, tmp_path):
    plain = decide(FIX, engine.SourceTree(unpack(release)))
    assert plain.state == EXPECTED[release], plain
    if plain.state == engine.NOT_APPLICABLE:
        assert plain.reason.startswith(engine.LACKS_NEED + WITHIN_POOL), plain.reason
    relabelled = release_parts(release, tmp_path / "tree", "0.0.0.dev1+gabc")
    assert relabelled.version() == "0.0.0.dev1+gabc"
    assert decide(FIX, relabelled).as_dict() == plain.as_dict()


@pytest.mark.parametrize("release", ["0.5.2", "0.5.9"])
def test_capture_bs_fix_baked_on_an_unaffected_release_still_reads_already_fixed(release, tmp_path):
    """Trees baked before the fix had its precondition: ours, so bake can find and undo it."""
    tree = release_parts(release, tmp_path / "tree")
    (patch,) = FIX.families[0].patches
    (tmp_path / "tree" / patch.path).write_text(diffs.apply(tree.read(patch.path), patch), encoding="utf-8")
    d = decide(FIX, engine.SourceTree(tmp_path / "tree"))
    assert d.state == engine.ALREADY_FIXED, d


def edited(release, tmp_path, old, new, rel=RUNNER):
    for fix in CAPTURE_BS_FIXES.values():
        tree = release_parts(release, tmp_path / "tree", fix=fix)
    text = tree.read(rel)
    assert text.count(old) == 1, old
    (tmp_path / "tree" / rel).write_text(text.replace(old, new), encoding="utf-8")
    return engine.SourceTree(tmp_path / "tree")


@pytest.mark.parametrize("spelling", [
    "    num_max_requests = ((num_max_requests + mul_base - 1) // mul_base) * mul_base\n",
    "    num_max_requests = -(-num_max_requests // mul_base) * mul_base\n",
    "    num_max_requests = ceil_align(num_max_requests, mul_base)\n",
    "    num_max_requests = round_up(num_max_requests, mul_base)\n",  # a helper the tree does not define
    "    num_max_requests += (-num_max_requests) % mul_base\n",
])
def test_the_pool_rounded_up_in_any_spelling_proves_nothing(tmp_path, spelling):
    """The regex precondition read these as "no rounding": the bug is fully there."""
    tree = edited("0.5.13.post1", tmp_path, ROUNDING, spelling)
    assert astcheck.capture_bs_within_pool(tree.read) is None
    for fix in CAPTURE_BS_FIXES.values():
        assert decide(fix, tree).state == engine.APPLIES


@pytest.mark.parametrize("old, new", [
    (ROUNDING, "    num_max_requests = min(num_max_requests, (num_max_requests + mul_base - 1) // mul_base * mul_base)\n"),
    ("    capture_bs = [bs for bs in capture_bs if bs <= num_max_requests]\n",  # rounded, then filtered by the pool
     "    capture_bs = [bs for bs in capture_bs if bs <= num_max_requests and bs <= model_runner.req_to_token_pool.size]\n"),
])
def test_a_capture_list_kept_within_the_pool_is_proven(tmp_path, old, new):
    tree = edited("0.5.13.post1", tmp_path, old, new)
    assert astcheck.capture_bs_within_pool(tree.read).startswith(WITHIN_POOL)


@pytest.mark.parametrize("old, new", [
    # the pool filter dropped, or bounded by the list instead of the pool
    ("    capture_bs = [bs for bs in capture_bs if bs <= model_runner.req_to_token_pool.size]\n", ""),
    ("    capture_bs = [bs for bs in capture_bs if bs <= model_runner.req_to_token_pool.size]\n",
     "    capture_bs = [bs for bs in capture_bs if bs <= max(capture_bs)]\n"),
    # a size added after the filter, or by a call that may add anything
    ("    capture_bs = list(sorted(set(capture_bs)))\n",
     "    capture_bs = list(sorted(set(capture_bs + [model_runner.req_to_token_pool.size + 1])))\n"),
    ("    capture_bs = list(sorted(set(capture_bs)))\n", "    capture_bs = list(sorted(set(capture_bs)))\n    pad_list(capture_bs)\n"),
    # a loop is not modelled: nothing is proven
    ("    capture_bs = list(sorted(set(capture_bs)))\n",
     "    capture_bs = list(sorted(set(capture_bs)))\n    for _ in range(1):\n        pass\n"),
])
def test_a_capture_list_that_may_pass_the_pool_is_not_proven_within_it(tmp_path, old, new):
    tree = edited("0.5.9", tmp_path, old, new)
    assert astcheck.capture_bs_within_pool(tree.read) is None


def test_a_draft_runner_that_takes_its_sizes_elsewhere_proves_nothing(tmp_path):
    rel = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
    tree = edited("0.5.9", tmp_path, "self.capture_bs, self.compile_bs = get_batch_sizes_to_capture(model_runner)",
                  "self.capture_bs, self.compile_bs = [1, 2, 4, 8, 16], []", rel)
    assert astcheck.capture_bs_within_pool(tree.read) is None
