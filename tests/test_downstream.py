"""Trees built from a real release plus a downstream-style edit (tests/downstream/*.py):
the shim recognises a fix the tree already carries, re-anchors past neighbouring edits,
and declines where names or meaning changed. Every case states its expected states;
the downstream edit and every patched file must compile; what the hook compiles is what
a bake writes, and a baked tree reads already-fixed."""

import functools
import importlib.util
import json
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from sglang_releases import run_harness, unpack
from sglang_spec_patches import bake, engine, hook, runtime

CASES = sorted(p for p in (Path(__file__).parent / "downstream").glob("*.py"))
FIXES = engine.load_fixes()
# The fixes whose states the corpus pins; fixes added later are not expected to know it.
COVERED = ("draft-padding-positions", "verify-mask-padding", "draft-context-length",
           "spec-disable-padding", "draft-padding-buffers", "draft-kv-indices-topk")
# Enough of a release for every covered fix (targets, markers, checks) and its version.
PARTS = ("sglang/srt/speculative", "sglang/srt/configs", "sglang/srt/model_executor",
         "sglang/srt/layers/attention", "sglang/srt/arg_groups", "sglang/srt/server_args.py",
         "sglang/version.py", "sglang/_version.py", "sglang/__init__.py")


def load_case(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"downstream_{path.stem}", path)
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    return case


def rename_in_method(text: str, header: str, old: str, new: str) -> str:
    """Rename a local (not attributes: ``self.old`` stays) inside one method."""
    start = text.index(header)
    nxt = text.find("\n" + header[: len(header) - len(header.lstrip())] + "def ", start + 1)
    end = len(text) if nxt < 0 else nxt
    body, count = re.subn(rf"(?<![.\w]){re.escape(old)}\b", new, text[start:end])
    assert count, f"{old} not in {header.strip()}"
    return text[:start] + body + text[end:]


def build(case: types.ModuleType, dest: Path, whole: bool = False) -> Path:
    """The release's source (or the parts the engine reads) with the case's edits."""
    src = unpack(case.RELEASE)
    parts = ["sglang"] if whole else PARTS
    for part in parts:
        if (src / part).is_dir():
            shutil.copytree(src / part, dest / part)
        elif (src / part).is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dest / part)
    for info in src.glob("sglang-*.dist-info"):
        shutil.copytree(info, dest / info.name)
    edited = set()
    for rel, old, new in getattr(case, "EDITS", ()):
        text = (dest / rel).read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{case.__name__}: edit anchor found {text.count(old)} times in {rel}"
        (dest / rel).write_text(text.replace(old, new), encoding="utf-8")
        edited.add(rel)
    for rel, header, old, new in getattr(case, "RENAMES", ()):
        path = dest / rel
        path.write_text(rename_in_method(path.read_text(encoding="utf-8"), header, old, new), encoding="utf-8")
        edited.add(rel)
    for rel in edited:  # the downstream tree itself is valid Python
        compile((dest / rel).read_text(encoding="utf-8"), rel, "exec")
    return dest


@functools.lru_cache(maxsize=None)
def plain_states(release: str) -> dict:
    plan = engine.plan(engine.SourceTree(unpack(release)), FIXES)
    return {d.fix: d.state for d in plan.decisions}


def hook_text(root: Path, relpath: str, monkeypatch) -> str:
    """What the import hook would compile for this module (found, not executed)."""
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    name = engine.module_name(relpath)
    spec = finder.find_spec(name, [str((root / relpath).parent)])
    assert isinstance(spec.loader, hook.PatchedSourceLoader), f"{name} not patched by the hook"
    return spec.loader.get_source(name)


def test_corpus_is_large_enough():
    assert len(CASES) >= 10
    releases = {load_case(p).RELEASE for p in CASES}
    assert {"0.5.2", "0.5.9", "0.5.10.post1"} <= releases


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_downstream_tree(path, tmp_path, monkeypatch):
    case = load_case(path)
    root = build(case, tmp_path / "tree")
    plan = engine.plan(engine.SourceTree(root), FIXES)
    got = {d.fix: d for d in plan.decisions}

    for fix_id, (state, says) in case.EXPECT.items():
        d = got[fix_id]
        assert (d.state, says in d.reason) == (state, True), f"{fix_id}: {d.state}: {d.reason}"
        if d.reason.startswith(engine.TREE_FIX):
            assert d.recognised and d.state == engine.NOT_APPLICABLE
        if d.state == engine.DECLINED:  # never touched: its files keep the downstream text
            assert not any(rel in plan.texts for rel in d.files if not plan.fixes_for(rel))
    for fix_id in COVERED:
        if fix_id not in case.EXPECT:
            assert got[fix_id].state == plain_states(case.RELEASE)[fix_id], got[fix_id]

    for rel, text in plan.texts.items():
        compile(text, rel, "exec")
    if not plan.texts:
        return
    runtime_texts = {rel: hook_text(root, rel, monkeypatch) for rel in plan.texts}
    assert runtime_texts == plan.texts
    bake.write_plan(plan)
    again = engine.plan(engine.SourceTree(root), FIXES)
    for d in plan.decisions:
        if d.state == engine.APPLIES and d.fix in COVERED:
            assert again.decision(d.fix).state == engine.ALREADY_FIXED, again.decision(d.fix)
    assert not again.texts


HARNESS = Path(__file__).parent.parent / "patches" / "draft-padding-buffers" / "reproduce.py"
STALE = {"topk_p": [0.6, 0.7, 0.8], "topk_index": [1005, 1006, 1007], "hidden_states": [6.0, 7.0, 8.0],
         "req_pool_indices": [13, 14, 15]}
CLEARED = {"topk_p": [0.0] * 3, "topk_index": [0] * 3, "hidden_states": [0.0] * 3, "req_pool_indices": [0] * 3}


@pytest.mark.slow
def test_reanchored_fix_clears_padded_rows_in_the_real_replay(cpu_env, tmp_path):
    """The downstream tree with a debug line at draft-padding-buffers' anchor, run through
    the real replay (see draft-padding-buffers/reproduce.py): stale rows with the shim
    off, cleared rows with the re-anchored fix."""
    case = load_case(Path(__file__).parent / "downstream" / "logging_at_buffers_anchor.py")
    root = build(case, tmp_path / "tree", whole=True)
    assert engine.plan(engine.SourceTree(root), FIXES).decision("draft-padding-buffers").reanchored

    def padded(lines):
        assert len(lines) == 3 and all(r["bs"] == 8 and r["raw_bs"] == 5 for r in lines), lines
        return [{name: r[name] for name in STALE} for r in lines]

    assert padded(run_harness(root, HARNESS, "off")) == [STALE] * 3
    assert padded(run_harness(root, HARNESS, "on")) == [CLEARED] * 3


# --- the fixed-when checks themselves ---------------------------------------------------

CHECKED_RELEASES = ["0.4.10", "0.5.2", "0.5.3rc0", "0.5.6.post2", "0.5.10.post1", "0.5.12.post1"]


@pytest.mark.parametrize("release", CHECKED_RELEASES)
def test_checks_see_the_bug_unpatched_and_the_fix_patched(release):
    """A check must not hold on a release that needs the fix, and must hold on the text
    our own diff produces (re-anchoring relies on it)."""
    tree = engine.SourceTree(unpack(release))
    plan = engine.plan(tree, FIXES)
    applied = [d for d in plan.decisions if d.state == engine.APPLIES and d.fix in COVERED]
    assert applied
    for d in applied:
        check = engine.load_check(next(f for f in FIXES if f.id == d.fix))
        assert check(tree.read) is None, d.fix
        assert check(lambda rel: plan.texts.get(rel) or tree.read(rel)), d.fix


@pytest.mark.parametrize("release", ["0.5.3rc2", "0.5.7", "0.5.11", "0.5.13", "0.5.15", "0.5.23"])
def test_checks_recognise_the_upstream_fixes(release):
    """Where upstream fixed a bug in the release, the check holds too, for the fixes whose
    first_fixed the release has reached (a marker only names what the check proves)."""
    tree = engine.SourceTree(unpack(release))
    version = engine.parse_version(release)
    for fix in FIXES:
        if fix.id in COVERED and version >= engine.parse_version(fix.first_fixed):
            assert engine.load_check(fix)(tree.read), fix.id


def copy_fix(tmp_path, fix_id, check_source=None):
    folder = tmp_path / "patches" / fix_id
    shutil.copytree(Path(__file__).parent.parent / "patches" / fix_id, folder)
    if check_source is not None:
        (folder / engine.FIXED_WHEN_FILE).write_text(check_source, encoding="utf-8")
    return engine.load_fix(folder)


@pytest.mark.parametrize("source, says", [
    ("def check(read:\n", "does not load: SyntaxError"),
    ("import no_such_module_here\n", "does not load: ModuleNotFoundError"),
    ("CHECK = 1\n", "has no check(read) function"),
    ("def check(read):\n    return read('x')[0]\n", "failed: TypeError"),
    ("def check(read):\n    return 1\n", "returned int, not str or None"),
])
def test_a_broken_check_declines_its_fix_only(tmp_path, source, says):
    case = load_case(Path(__file__).parent / "downstream" / "clamps_beside_anchor.py")
    root = build(case, tmp_path / "tree")
    broken = copy_fix(tmp_path, "draft-padding-buffers", source)
    plan = engine.plan(engine.SourceTree(root), [broken, *(f for f in FIXES if f.id != broken.id)])
    d = plan.decision("draft-padding-buffers")
    assert d.state == engine.DECLINED and "fixed-when check unusable" in d.reason and says in d.reason, d.reason
    assert plan.decision("draft-kv-indices-topk").state == engine.APPLIES


def test_without_a_check_a_fix_is_never_re_anchored(tmp_path):
    case = load_case(Path(__file__).parent / "downstream" / "clamps_beside_anchor.py")
    root = build(case, tmp_path / "tree")
    bare = copy_fix(tmp_path, "draft-padding-buffers")
    (bare.folder / engine.FIXED_WHEN_FILE).unlink()
    d = engine.plan(engine.SourceTree(root), [bare]).decision("draft-padding-buffers")
    assert d.state == engine.DECLINED and "not found" in d.reason
    plain = engine.plan(engine.SourceTree(unpack("0.5.9")), [bare]).decision("draft-padding-buffers")
    assert plain.state == engine.APPLIES


def test_plan_shows_what_the_tree_carries(tmp_path, capsys):
    from sglang_spec_patches import cli
    root = build(load_case(Path(__file__).parent / "downstream" / "slime_like_0_5_9.py"), tmp_path / "tree")
    assert cli.main(["plan", "--sglang-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "  carried by the tree (an equivalent fix recognised, left alone): draft-padding-buffers\n" in out, out
    assert "the tree carries an equivalent fix: replay() clears the padded draft slots" in out, out
    flags = ["--speculative-algorithm", "EAGLE", "--attention-backend", "triton", "--cuda-graph-bs", "1", "2", "4", "8"]
    cli.main(["doctor", "--sglang-root", str(root), "--", *flags])
    out = capsys.readouterr().out
    assert "note  padded draft slots keep stale" in out and "[fix draft-padding-buffers: carried by the tree: replay()" in out, out


def test_plan_json_says_what_was_re_anchored(tmp_path, capsys):
    from sglang_spec_patches import cli
    root = build(load_case(Path(__file__).parent / "downstream" / "clamps_beside_anchor.py"), tmp_path / "tree")
    cli.main(["plan", "--sglang-root", str(root), "--json"])
    d = next(x for x in json.loads(capsys.readouterr().out) if x["fix"] == "draft-padding-buffers")
    assert d["state"] == "applies" and d["recognised"] is None
    (note,) = d["reanchored"]
    assert "EAGLEDraftCudaGraphRunner.replay()" in note and "self.topk_p[:raw_bs].copy_(forward_batch.spec_info.topk_p)" in note


@pytest.mark.parametrize("with_checks", [True, False])
def test_strict_mode_starts_on_a_tree_that_carries_the_fix(tmp_path, monkeypatch, with_checks):
    """The reported problem: on SGLang 0.5.9 plus a slime-like patch, strict mode refused
    to import the draft runner although the tree is fixed. Without the fixed-when checks
    (the shim as it was) it still refuses."""
    root = build(load_case(Path(__file__).parent / "downstream" / "slime_like_0_5_9.py"), tmp_path / "tree")
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    if not with_checks:  # draft-padding-buffers without its check, as the shim was
        with_check = engine.load_check
        monkeypatch.setattr(engine, "load_check", lambda fix: None if fix.id == "draft-padding-buffers"
                            else with_check(fix))
    finder = hook.SpecPatchFinder(runtime.Settings("strict", frozenset(), None))
    find = functools.partial(finder.find_spec, "sglang.srt.speculative.eagle_draft_cuda_graph_runner",
                             [str(root / "sglang/srt/speculative")])
    if with_checks:
        find()  # draft-seq-lens-sum and others may still patch it; nothing is declined
        assert not runtime.RECORD["problems"]
    else:
        with pytest.raises(runtime.StrictModeError, match="draft-padding-buffers declined"):
            find()
