"""A fix's precondition (``"needs"`` in fix.json): the code its bug needs in order to exist.

Synthetic trees pin where the engine weighs it (only where the fix would apply or be
declined) and how a malformed entry is refused; real release sources pin the one fix
that uses it (draft-kv-indptr-capture-bs: the capture list exceeds the request pool
from 0.5.10rc0 only), whatever version the tree reports."""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from sglang_releases import unpack
from sglang_spec_patches import diffs, engine

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


# --- where the precondition is weighed ---------------------------------------------------

@pytest.mark.parametrize("other", [None, "rounds_up = False\n", "# rounds_up = True\n"])
def test_a_matching_fix_is_not_applicable_without_what_the_bug_needs(tmp_path, other):
    fix = make_fix(tmp_path / "patches", needs=[NEED])
    plan = engine.plan(make_tree(tmp_path / "tree", other=other), [fix])
    d = plan.decision(fix.id)
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.LACKS_NEED + "other.py rounds the pool up")
    assert not plan.texts


def test_a_matching_fix_applies_where_the_tree_has_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", needs=[NEED])
    plan = engine.plan(make_tree(tmp_path / "tree", other="x = 1\nrounds_up = True\n"), [fix])
    assert plan.decision(fix.id).state == engine.APPLIES
    assert plan.texts == {TARGET: PATCHED}


def test_any_one_entry_meets_the_need(tmp_path):
    moved = {"file": "sglang/srt/moved.py", "pattern": "^rounds_up = True$", "means": "moved.py rounds it"}
    fix = make_fix(tmp_path / "patches", needs=[NEED, moved])
    tree = make_tree(tmp_path / "tree")
    d = decide(fix, tree)
    assert d.state == engine.NOT_APPLICABLE and d.reason.endswith("other.py rounds the pool up or moved.py rounds it")
    (tmp_path / "tree" / "sglang/srt/moved.py").write_text("rounds_up = True\n")
    assert decide(fix, engine.SourceTree(tmp_path / "tree")).state == engine.APPLIES


def test_without_needs_a_fix_decides_as_before(tmp_path):
    fix = make_fix(tmp_path / "patches")
    assert fix.needs == ()
    assert decide(fix, make_tree(tmp_path / "a")).state == engine.APPLIES
    assert decide(fix, make_tree(tmp_path / "b", target="def f():\n    z = 0\n")).state == engine.DECLINED


def test_a_baked_tree_reads_already_fixed_without_what_the_bug_needs(tmp_path):
    """A tree baked before the fix had a precondition keeps reading as ours."""
    fix = make_fix(tmp_path / "patches", needs=[NEED])
    d = decide(fix, make_tree(tmp_path / "tree", target=PATCHED))
    assert (d.state, d.reason) == (engine.ALREADY_FIXED, "family 0.1 already in the source")


def test_an_upstream_fix_keeps_its_reason_without_what_the_bug_needs(tmp_path):
    check = "def check(read):\n    return 'c is 4' if 'c = 4' in read('sglang/srt/thing.py') else None\n"
    fix = make_fix(tmp_path / "patches", needs=[NEED], markers=["^    c = 4$"], check=check)
    tree = make_tree(tmp_path / "tree", target=SOURCE.replace("c = 3", "c = 4"))
    (tmp_path / "tree/sglang/version.py").write_text('__version__ = "9.0"\n')  # the fix's first_fixed
    d = decide(fix, tree)
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.UPSTREAM_FIX + "upstream rewrote c (proven: c is 4)")


def test_an_equivalent_fix_in_the_tree_keeps_its_reason_without_what_the_bug_needs(tmp_path):
    check = "def check(read):\n    return 'c is clamped' if 'min(c' in read('sglang/srt/thing.py') else None\n"
    fix = make_fix(tmp_path / "patches", needs=[NEED], check=check)
    d = decide(fix, make_tree(tmp_path / "tree", target=SOURCE.replace("c = 3", "c = min(c, 3)")))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.TREE_FIX + "c is clamped")


def test_a_re_anchored_fix_is_not_applicable_without_what_the_bug_needs(tmp_path):
    check = "def check(read):\n    return 'c is 33' if 'c = 33' in read('sglang/srt/thing.py') else None\n"
    fix = make_fix(tmp_path / "patches", needs=[NEED], check=check)
    downstream = SOURCE.replace("    c = 3\n", "    log(b)\n    c = 3\n")
    d = decide(fix, make_tree(tmp_path / "a", target=downstream))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.LACKS_NEED + "other.py rounds the pool up")
    d = decide(fix, make_tree(tmp_path / "b", target=downstream, other="rounds_up = True\n"))
    assert d.state == engine.APPLIES and d.reanchored


def test_unrecognised_source_is_not_applicable_without_what_the_bug_needs(tmp_path):
    fix = make_fix(tmp_path / "patches", needs=[NEED])
    changed = "def f():\n    z = 0\n"
    d = decide(fix, make_tree(tmp_path / "a", target=changed))
    assert (d.state, d.reason) == (engine.NOT_APPLICABLE, engine.LACKS_NEED + "other.py rounds the pool up")
    d = decide(fix, make_tree(tmp_path / "b", target=changed, other="rounds_up = True\n"))
    assert d.state == engine.DECLINED and d.reason.startswith("source not recognised")


def test_absent_targets_keep_their_reason(tmp_path):
    fix = make_fix(tmp_path / "patches", needs=[NEED])
    d = decide(fix, make_tree(tmp_path / "tree", target=None))
    assert d.state == engine.NOT_APPLICABLE and d.reason.startswith("release lacks the code"), d.reason


def test_the_needed_file_is_among_the_files_a_fix_reads(tmp_path):
    """The matrix extracts (and the plan cache tracks) exactly these."""
    assert OTHER in make_fix(tmp_path / "patches", needs=[NEED]).paths


def test_the_matrix_takes_an_unmet_need_for_no_code_not_for_a_stale_diff(tmp_path):
    """The diff still applies there (GNU patch agrees): the fix is left out on purpose."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))
    import matrix

    fix = make_fix(tmp_path / "patches", needs=[NEED])
    wheel = tmp_path / "sglang-0.5.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("sglang/__init__.py", "")
        zf.writestr("sglang/version.py", '__version__ = "0.5.0"\n')
        zf.writestr(TARGET, SOURCE)
        zf.writestr("sglang-0.5.0.dist-info/METADATA", "Name: sglang\nVersion: 0.5.0\n")
    (tmp_path / "work").mkdir()
    entry = matrix.check_release("0.5.0", wheel, [fix], tmp_path / "work")
    assert entry["errors"] == [] and entry["notes"] == [], entry
    cell = entry["fixes"][fix.id]
    assert cell["state"] == matrix.NO_CODE and cell["reason"].startswith(engine.LACKS_NEED), cell


# --- malformed entries ------------------------------------------------------------------

@pytest.mark.parametrize("needs, says", [
    ({"file": OTHER, "pattern": "x", "means": "y"}, "a list of objects expected, got dict"),
    ("sglang/srt/other.py", "a list of objects expected, got str"),
    (["sglang/srt/other.py"], "bad need"),
    ([{"pattern": "x", "means": "y"}], "'file'"),
    ([{"file": OTHER, "means": "y"}], "'pattern'"),
    ([{"file": OTHER, "pattern": "x"}], "'means'"),
    ([{"file": OTHER, "pattern": "(", "means": "y"}], "missing ), unterminated subpattern"),
    ([{"file": OTHER, "pattern": "x", "means": 3}], "'means' of sglang/srt/other.py must be a non-empty string"),
    ([{"file": "../outside.py", "pattern": "x", "means": "y"}], "bad need"),
    ([{"file": "/etc/passwd", "pattern": "x", "means": "y"}], "bad need"),
    ([], "'needs' is empty"),
])
def test_a_malformed_need_declines_its_fix_with_the_reason(tmp_path, needs, says):
    with pytest.raises(engine.FixDefinitionError, match="bad need|'needs' is empty") as exc:
        make_fix(tmp_path / "patches", needs=needs)
    assert says in str(exc.value), exc.value
    make_fix(tmp_path / "patches", fix_id="b-fix")  # a good fix beside it is unaffected
    fixes = engine.load_fixes(tmp_path / "patches")
    plan = engine.plan(make_tree(tmp_path / "tree", other="rounds_up = True\n"), fixes)
    bad = plan.decision("a-fix")
    assert bad.state == engine.DECLINED and bad.reason.startswith("fix definition unusable:") and says in bad.reason
    assert plan.decision("b-fix").state == engine.APPLIES


# --- the catalog fix that uses it, on real release sources ---------------------------------

FIX = next(f for f in engine.load_fixes() if f.id == "draft-kv-indptr-capture-bs")
EXPECTED = {"0.5.2": engine.NOT_APPLICABLE, "0.5.9": engine.NOT_APPLICABLE,  # capture list <= pool
            "0.5.10rc0": engine.APPLIES, "0.5.13.post1": engine.APPLIES}  # pool rounded up and captured


def release_parts(release: str, dest: Path, version: str | None = None) -> engine.SourceTree:
    """The files the fix reads, from the real release; optionally relabelled."""
    src = unpack(release)
    for rel in FIX.paths:
        if (src / rel).is_file():
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
        assert plain.reason.startswith(engine.LACKS_NEED + "get_batch_sizes_to_capture rounds the request pool up")
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


# --- lacks_need(read) in fixed_when.py: only a proof makes not-applicable -----------------

LACKS_NEED_CHECK = '''
def check(read):
    return None

def lacks_need(read):
    other = read("sglang/srt/other.py")
    return "other.py proven to keep the pool" if other == "rounds_up = False\\n" else None
'''


@pytest.mark.parametrize("other, state", [("rounds_up = False\n", engine.NOT_APPLICABLE),
                                          (None, engine.APPLIES), ("rounds_up = maybe\n", engine.APPLIES)])
def test_lacks_need_decides_only_with_a_proof(tmp_path, other, state):
    fix = make_fix(tmp_path / "patches", check=LACKS_NEED_CHECK)
    d = decide(fix, make_tree(tmp_path / "tree", other=other))
    assert d.state == state
    if state == engine.NOT_APPLICABLE:
        assert d.reason == engine.LACKS_NEED + "other.py proven to keep the pool"


def test_a_crashing_lacks_need_declines_its_fix(tmp_path):
    fix = make_fix(tmp_path / "patches", check="def check(read):\n    return None\n\ndef lacks_need(read):\n    raise KeyError('x')\n")
    d = decide(fix, make_tree(tmp_path / "tree"))
    assert d.state == engine.DECLINED and "KeyError" in d.reason
