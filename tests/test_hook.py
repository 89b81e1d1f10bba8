"""The import hook never stops SGLang outside strict mode, and says what went wrong.

Uses a real release tree (0.5.2) and the finder directly (the module is found, not
executed), with the fix catalog or the engine broken on purpose.
"""

import shutil
import sys
import types

import pytest

from sglang_releases import unpack
from sglang_spec_patches import engine, hook, runtime

RUNNER = "sglang.srt.speculative.eagle_draft_cuda_graph_runner"
RUNNER_PATH = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"


@pytest.fixture
def tree(monkeypatch):
    root = unpack("0.5.2")
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    return root


def find(mode, path_dir):
    finder = hook.SpecPatchFinder(runtime.Settings(mode, frozenset(), None))
    return finder.find_spec(RUNNER, [str(path_dir)])


@pytest.fixture
def broken_f1(tmp_path, monkeypatch):
    """A catalog whose draft-padding-positions diff is truncated."""
    patches = tmp_path / "patches"
    shutil.copytree(engine.default_patches_dir(), patches)
    diff = patches / "draft-padding-positions" / "0.4.10.diff"
    diff.write_text(diff.read_text()[:300])
    real_load = engine.load_fixes
    monkeypatch.setattr(engine, "load_fixes", lambda patches_dir=None: real_load(patches))


def test_declined_fix_is_reported_and_the_rest_still_apply(tree, broken_f1, capsys):
    spec = find("on", tree / "sglang/srt/speculative")
    assert isinstance(spec.loader, hook.PatchedSourceLoader)
    text = spec.loader.get_source(RUNNER)
    assert "sglang-spec-patches(draft-padding-buffers)" in text  # the other fix on this file
    assert "sglang-spec-patches(draft-padding-positions)" not in text
    assert any("draft-padding-positions declined" in p for p in runtime.RECORD["problems"])
    assert "draft-padding-positions declined" in capsys.readouterr().err


def test_strict_mode_raises_on_a_declined_fix(tree, broken_f1):
    with pytest.raises(runtime.StrictModeError, match="draft-padding-positions declined"):
        find("strict", tree / "sglang/srt/speculative")


def test_an_engine_crash_leaves_the_module_unpatched_but_loadable(tree, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(engine, "plan", boom)
    assert find("on", tree / "sglang/srt/speculative") is None  # normal import goes on
    assert "could not patch" in capsys.readouterr().err
    assert any("engine exploded" in p for p in runtime.RECORD["problems"])
    with pytest.raises(runtime.StrictModeError, match="engine exploded"):
        find("strict", tree / "sglang/srt/speculative")


def test_modules_outside_sglang_srt_are_not_even_looked_at(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("catalog loaded for a foreign module")

    monkeypatch.setattr(engine, "load_fixes", fail)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    assert finder.find_spec("json.decoder", None) is None
    assert finder.find_spec("sglang_other.srt.x", None) is None


def test_unknown_mode_falls_back_to_on_with_a_warning(capsys):
    settings = runtime.Settings.from_env({"SGLANG_SPEC_PATCHES": "sometimes", "SGLANG_SPEC_PATCHES_DISABLE": " a, b ,"})
    assert settings.mode == "on" and settings.disabled == {"a", "b"}
    assert "not one of off, on, strict" in capsys.readouterr().err
