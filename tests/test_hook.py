"""The import hook never stops SGLang outside strict mode, and says what went wrong; its
caches (patched bytecode, the plan) never touch SGLang's own files and follow every input.

Uses a real release tree (0.5.2) and the finder directly (the module is found, not
executed), with the fix catalog or the engine broken on purpose.
"""

import importlib.util
import linecache
import marshal
import os
import pwd
import shutil
import sys
import tempfile
import types
from pathlib import Path

import pytest

from sglang_releases import unpack
from sglang_spec_patches import bytecode, engine, hook, plancache, runtime

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


# --- our caches: bytecode of patched modules, the plan ----------------------------------------


@pytest.fixture
def tree_copy(tmp_path, monkeypatch):
    """A private copy of the release (its caches start empty), as the installed ``sglang``."""
    root = tmp_path / "tree"
    shutil.copytree(unpack("0.5.2"), root, ignore=shutil.ignore_patterns("__pycache__"))
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return root


def load_runner(root, use_plan_cache=True):
    """What a new process does: a fresh finder finds the runner and gets its code."""
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None), use_plan_cache=use_plan_cache)
    spec = finder.find_spec(RUNNER, [str(root / "sglang/srt/speculative")])
    code = spec.loader.get_code(RUNNER)
    return spec, code, runtime.RECORD["modules"][RUNNER]["bytecode"], finder.state.plan


def test_patched_bytecode_is_cached_under_our_name_only(tree_copy):
    source = tree_copy / RUNNER_PATH
    sglang_pyc = Path(importlib.util.cache_from_source(str(source)))
    spec, code, how, _ = load_runner(tree_copy)
    assert how == "compiled, cache written"
    assert spec.cached == bytecode.cache_path(str(source)) != str(sglang_pyc)  # __cached__ names ours
    assert not sglang_pyc.exists()  # SGLang's own name is never written
    assert [p.name for p in sglang_pyc.parent.iterdir()] == [Path(spec.cached).name]
    assert "sglang-spec-patches" in Path(spec.cached).name
    _, again, how, _ = load_runner(tree_copy)
    assert how == "read from cache"
    patched = compile(spec.loader.get_source(RUNNER), str(source), "exec", dont_inherit=True)
    assert marshal.dumps(again) == marshal.dumps(code) == marshal.dumps(patched)  # the patched module's code
    linecache.checkcache()  # keeps the entry: it is not backed by the file on disk
    assert "".join(linecache.getlines(str(source))) == spec.loader.get_source(RUNNER)  # what tracebacks show


def test_bytecode_cache_misses_on_other_text_path_or_corruption(tree_copy, tmp_path):
    source = str(tree_copy / RUNNER_PATH)
    text = "x = 1\n"
    assert bytecode.store(source, bytecode.key(source, text), compile(text, source, "exec"))
    assert bytecode.load(source, bytecode.key(source, text)) is not None
    # The patched text changed (SGLang, a diff, the engine, the disabled fixes): a miss.
    assert bytecode.load(source, bytecode.key(source, text + "y = 2\n")) is None
    moved = str(tmp_path / "moved.py")  # another file with the same text: a miss
    assert bytecode.load(source, bytecode.key(moved, text)) is None
    cached = Path(bytecode.cache_path(source))
    cached.write_bytes(cached.read_bytes()[:20])  # truncated by a crash of someone else's writer
    assert bytecode.load(source, bytecode.key(source, text)) is None
    _, _, how, _ = load_runner(tree_copy)  # the hook compiles and rewrites it
    assert how == "compiled, cache written"


def test_bytecode_cache_write_is_atomic(tree_copy, monkeypatch):
    source = str(tree_copy / RUNNER_PATH)
    cached = Path(bytecode.cache_path(source))

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    _, code, how, _ = load_runner(tree_copy)
    assert how == "compiled" and code is not None  # the import goes on
    assert not cached.parent.exists() or list(cached.parent.iterdir()) == []  # no partial file left


def test_plan_is_cached_and_follows_every_input(tree_copy, monkeypatch):
    _, _, _, first = load_runner(tree_copy)
    assert not first.from_cache and Path(plancache.cache_path(str(tree_copy))).is_file()
    _, _, _, second = load_runner(tree_copy)
    assert second.from_cache
    assert (second.decisions, second.texts, second.fixes) == (first.decisions, first.texts, first.fixes)
    assert load_runner(tree_copy, use_plan_cache=False)[3].from_cache is False  # catalog under test: no cache

    # A file the engine read changed (a hand edit, a bake, a reinstall): decided again.
    victim = tree_copy / "sglang/srt/model_executor/cuda_graph_runner.py"
    victim.write_text(victim.read_text() + "\n# edited\n")
    _, _, _, third = load_runner(tree_copy)
    assert not third.from_cache
    assert load_runner(tree_copy)[3].from_cache
    # Other disabled fixes, or a changed shim file (engine, a diff, a check): decided again.
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset({"draft-padding-positions"}), None), True)
    finder.find_spec(RUNNER, [str(tree_copy / "sglang/srt/speculative")])
    assert not finder.state.plan.from_cache
    real = plancache._shim_files
    monkeypatch.setattr(plancache, "_shim_files", lambda: real()[:-1] + [(real()[-1][0], 0, 0)])
    assert not load_runner(tree_copy)[3].from_cache


def test_installed_shim_is_keyed_on_its_wheel_record(tree_copy, tmp_path, monkeypatch):
    """Installed from a wheel, one stat of the wheel's RECORD stands for every shim file
    (pip rewrites it on each install); without one, every shim file is stat'ed."""
    site = tmp_path / "site-packages"
    package = site / "sglang_spec_patches"
    package.mkdir(parents=True)
    record = site / f"sglang_spec_patches-{plancache.__version__}.dist-info" / "RECORD"
    assert plancache._shim_stamp()[0] == "files"  # this checkout: every file
    monkeypatch.setattr(plancache, "_PACKAGE_DIR", str(package))
    monkeypatch.setattr(plancache, "_shim_files", lambda: pytest.fail("shim files stat'ed beside a RECORD"))
    record.parent.mkdir()
    record.write_text("sglang_spec_patches/__init__.py,sha256=x,1\n")
    assert plancache._shim_stamp()[:2] == ("wheel", str(record))
    assert not load_runner(tree_copy)[3].from_cache
    assert load_runner(tree_copy)[3].from_cache
    record.write_text("sglang_spec_patches/__init__.py,sha256=y,2\n")  # a reinstall rewrites it
    assert not load_runner(tree_copy)[3].from_cache
    assert load_runner(tree_copy)[3].from_cache


def test_cached_plan_reads_patched_texts_only_when_asked(tree_copy, monkeypatch):
    spec, code, _, first = load_runner(tree_copy)
    text = first.texts[RUNNER_PATH]
    spec, code, how, plan = load_runner(tree_copy)  # a new process: plan and bytecode from the caches
    assert how == "read from cache" and plan.from_cache
    assert callable(plan._texts)  # the import itself never unmarshalled the texts
    linecache.checkcache()
    assert "".join(linecache.getlines(str(tree_copy / RUNNER_PATH))) == text  # a traceback reads them
    assert spec.loader.get_source(RUNNER) == text and not callable(plan._texts)


@pytest.mark.parametrize("damage", ["truncated", "other text"])
def test_damaged_texts_in_the_plan_cache_are_decided_again(tree_copy, damage):
    first = load_runner(tree_copy)[3]
    cached = Path(plancache.cache_path(str(tree_copy)))
    data = cached.read_bytes()
    start = len(plancache._FORMAT) + 8
    head = start + int.from_bytes(data[start - 8: start], "little")
    if damage == "truncated":
        cached.write_bytes(data[: head + 100])
    else:  # well-formed, but not the texts the keys were taken from
        texts = dict(first.texts, **{RUNNER_PATH: first.texts[RUNNER_PATH] + "x = 1\n"})
        cached.write_bytes(data[:head] + marshal.dumps(texts))
    spec, _, how, plan = load_runner(tree_copy)
    assert plan.from_cache and how == "read from cache"
    assert spec.loader.get_source(RUNNER) == first.texts[RUNNER_PATH]


def test_corrupt_plan_cache_is_ignored(tree_copy):
    load_runner(tree_copy)
    cached = Path(plancache.cache_path(str(tree_copy)))
    cached.write_bytes(b"\x00garbage")
    _, _, _, plan = load_runner(tree_copy)
    assert not plan.from_cache and "sglang-spec-patches(draft-padding-positions)" in plan.texts[RUNNER_PATH]


def as_nobody(fn) -> str:
    """Run ``fn`` in a forked child as ``nobody`` (root ignores file modes); 'ok' or the error."""
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        user = None
    if os.geteuid() == 0 and user is None:
        pytest.skip("tests run as root and there is no 'nobody' user to drop to")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            os.close(r)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
            message = fn() or "ok"
        except BaseException as exc:
            message, code = f"{type(exc).__name__}: {exc}", 1
        os.write(w, message.encode())
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        message = fh.read().decode()
    os.waitpid(pid, 0)
    return message


@pytest.fixture
def shared_tree(tree_copy):
    """The copy in a folder an unprivileged user can reach (pytest's tmp_path is private)."""
    folder = Path(tempfile.mkdtemp(prefix="hook-ro-"))
    folder.chmod(0o755)
    root = folder / "tree"
    shutil.move(tree_copy, root)
    sys.modules["sglang"].__path__ = [str(root / "sglang")]
    for path in [root, *root.rglob("*")]:  # world-readable, owned by root: read-only for nobody
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(folder, ignore_errors=True)


def test_read_only_tree_imports_patched_without_caches(shared_tree):
    tree_copy = shared_tree

    def import_as_nobody():
        spec, code, how, plan = load_runner(tree_copy)
        assert how == "compiled" and code is not None and not plan.from_cache
        assert "sglang-spec-patches(draft-padding-positions)" in spec.loader.get_source(RUNNER)
        return f"ok {how}"

    assert as_nobody(import_as_nobody) == "ok compiled"
    assert not list(tree_copy.rglob("__pycache__"))  # nothing written, no temporary file left
