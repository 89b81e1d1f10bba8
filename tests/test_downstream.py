"""Trees built from a real release plus a downstream-style edit (tests/downstream/*.py):
the shim recognises a fix the tree already carries, re-anchors past neighbouring edits,
and declines where names or meaning changed. Every case states its expected states;
the downstream edit and every patched file must compile; what the hook compiles is what
a bake writes, and a baked tree reads already-fixed."""

import functools
import importlib.util
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
