"""Every fix against real SGLang releases from PyPI: the state comes from the source,
the hook's text is the baked text, and patched modules compile."""

import shutil
import sys
import types

import pytest
from packaging.version import Version

from sglang_spec_patches import bake, engine, hook, runtime
from sglang_releases import unpack

# A spread over every code family, affected and fixed (the matrix in ci/ covers all).
RELEASES = ["0.4.10", "0.4.10.post2", "0.5.0rc2", "0.5.1", "0.5.2", "0.5.3rc0", "0.5.3rc2",
            "0.5.4.post1", "0.5.6", "0.5.6.post2", "0.5.7", "0.5.10.post1", "0.5.12.post1", "0.5.13",
            "0.5.15.post1", "0.5.23"]
FIXES = engine.load_fixes()
# Fixes whose bug needs code that older releases lack (every other fix: 0.4.10 on).
FIRST_AFFECTED = {"ngram-verify-mask": "0.5.3rc2", "draft-kv-indptr-capture-bs": "0.5.10rc0",
                  "draft-mla-kv-indptr-capture-bs": "0.5.10rc0", "fa3-swa-draft-step-loc": "0.5.13",
                  "disable-padding-graph-key": "0.5.14", "linear-attn-verify-padding": "0.5.2",
                  "draft-triton-kv-indptr-capture-bs": "0.5.10rc0"}


def fixed_in(fix):
    """The first release with the upstream fix; None for one still open upstream."""
    return engine.parse_version(fix.first_fixed)


def expected_state(fix, version):
    first_fixed = fixed_in(fix)
    affected = (Version(FIRST_AFFECTED.get(fix.id, "0.4.10")) <= Version(version)
                and (first_fixed is None or Version(version) < first_fixed))
    return engine.APPLIES if affected else engine.NOT_APPLICABLE


@pytest.fixture(scope="module", params=RELEASES)
def release(request):
    return request.param, unpack(request.param)


def hook_text(root, relpath, monkeypatch):
    """What the import hook would compile for this module (found, not executed)."""
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    name = engine.module_name(relpath)
    spec = finder.find_spec(name, [str((root / relpath).parent)])
    assert isinstance(spec.loader, hook.PatchedSourceLoader), f"{name} not patched by the hook"
    return spec.loader.get_source(name)


def test_state_follows_the_source(release):
    version, root = release
    plan = engine.plan(engine.SourceTree(root), FIXES)
    got = {d.fix: d.state for d in plan.decisions}
    assert got == {fix.id: expected_state(fix, version) for fix in FIXES}, plan.decisions


def test_hook_text_equals_baked_text_and_compiles(release, tmp_path, monkeypatch):
    version, root = release
    tree = tmp_path / "tree"
    shutil.copytree(root / "sglang", tree / "sglang")
    plan = engine.plan(engine.SourceTree(tree), FIXES)
    if not plan.texts:  # nothing to compare: only right for a release that carries every fix
        assert all(fixed_in(fix) is not None and Version(version) >= fixed_in(fix) for fix in FIXES)
        return
    runtime_texts = {rel: hook_text(tree, rel, monkeypatch) for rel in plan.texts}
    bake.write_plan(plan)
    for rel, text in runtime_texts.items():
        on_disk = (tree / rel).read_text(encoding="utf-8")
        assert on_disk == text
        compile(on_disk, rel, "exec")
    again = engine.plan(engine.SourceTree(tree), FIXES)
    assert {d.state for d in again.decisions if d.fix in {x.fix for x in plan.decisions if x.state == engine.APPLIES}} == {engine.ALREADY_FIXED}
    assert not again.texts  # baking twice changes nothing


def test_untagged_editable_build_is_classified_like_its_release(release, tmp_path):
    """slime images report 0.0.0.dev1+g<sha> and have no dist-info: the source decides."""
    version, root = release
    tree = tmp_path / "tree"
    shutil.copytree(root / "sglang", tree / "sglang")
    for rel in ("sglang/version.py", "sglang/_version.py"):
        if (tree / rel).exists():
            (tree / rel).write_text('__version__ = "0.0.0.dev1+g0123abc"\n')
    relabelled = engine.plan(engine.SourceTree(tree), FIXES)
    original = engine.plan(engine.SourceTree(root), FIXES)
    assert relabelled.version == "0.0.0.dev1+g0123abc"
    assert [d.as_dict() for d in relabelled.decisions] == [d.as_dict() for d in original.decisions]
    assert relabelled.texts == original.texts
