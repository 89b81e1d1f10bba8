"""Bad input costs no more than the file it is in.

SGLang's files are read as Python reads them (coding cookie, BOM, any line ending); a
file that cannot be read, or that would not compile patched, declines only the fixes
that read it; no command ends in a traceback. Real releases, one file damaged at a time:
first the cases users reported on 0.5.2, then a seeded property test on three releases.
"""

import contextlib
import functools
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import types
from pathlib import Path

import pytest

import sglang_releases
from sglang_releases import unpack
from sglang_spec_patches import bake, cli, engine, hook, runtime, sources
from sglang_spec_patches import doctor  # noqa: F401 - loaded before forking as nobody, who may
# not reach this Python's standard library (in root's home) to load what doctor imports
from test_hook import as_nobody

RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"  # three fixes
EAGLE_UTILS = "sglang/srt/speculative/eagle_utils.py"  # verify-mask-padding on 0.5.2
RUNNER_FIXES = {"draft-padding-buffers", "draft-padding-positions", "draft-seq-lens-sum"}
FIXES = engine.load_fixes()


def tree_copy(version: str, dest: Path, real: tuple[str, ...] = ()) -> Path:
    """The release as a tree of symbolic links to the cached copy (cheap for 130 MB), with
    the files in ``real`` as real copies that a test may damage."""
    src = unpack(version)
    shutil.copytree(src, dest, copy_function=os.symlink, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in real:
        (dest / rel).unlink()
        shutil.copyfile(src / rel, dest / rel)
    return dest


def python_reads(data: bytes) -> str:
    """The text Python reads from a file's bytes (tokenize.open, minus the file)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return io.TextIOWrapper(io.BytesIO(data), encoding).read()


def decisions(plan: engine.Plan) -> dict[str, dict]:
    return {d.fix: d.as_dict() for d in plan.decisions}


# --- the damage ------------------------------------------------------------------------------

LATIN1_COOKIE = b"# -*- coding: latin-1 -*-\n# r\xe9sum\xe9: saved by an editor set to latin-1\n"
TEXT_BITS = list("abcxyz_ 0123456789()[]{}:=.,'\"#\\\t\n\r\x0c") + ["\u00e9", "\u20ac", "def ", "    ", "'''"]


def truncated(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def random_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.choice([1, 2, 8, 64, 3000])) + data[at:]


def random_text(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + "".join(rng.choices(TEXT_BITS, k=rng.randint(1, 12))).encode("utf-8") + data[at:]


def crlf(data: bytes, rng=None) -> bytes:
    return data.replace(b"\n", b"\r\n")


def bom(data: bytes, rng=None) -> bytes:
    return b"\xef\xbb\xbf" + data


def latin1_cookie(data: bytes, rng=None) -> bytes:
    try:
        body = data.decode("utf-8").encode("latin-1")
    except UnicodeEncodeError:  # characters latin-1 lacks: their UTF-8 bytes, read as latin-1
        body = data
    return LATIN1_COOKIE + body


def tab_indented(data: bytes, rng=None) -> bytes:
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        n = len(line) - len(line.lstrip(b" "))
        lines[i] = b"\t" * (n // 4) + b" " * (n % 4) + line[n:]
    return b"\n".join(lines)


WHOLE_FILE = (crlf, bom, latin1_cookie, tab_indented)  # valid Python, each once per file
AT_RANDOM = (truncated, random_bytes, random_text)  # RANDOM_ROUNDS times per file


# --- reading as Python reads ------------------------------------------------------------------

SAMPLES = {  # valid Python in every form a file may take, and bytes Python refuses to read
    "plain": b"x = 'caf\xc3\xa9'\n",
    "crlf": b"x = 1\r\ny = '''a\r\nb'''\r\n",
    "cr": b"x = 1\ry = 2\r",
    "bom": b"\xef\xbb\xbfx = 1\n",
    "latin-1": b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n",
    "cookie on line 2": b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '\x80'\n",
    "no final newline": b"x = 1\r\ny = 2",
    "not utf-8": b"x = 1\n# \xff\n",
    "not utf-8 on line 1": b"# \xff\nx = 1\n",
    "unknown encoding": b"# coding: nonsense\nx = 1\n",
    "bom and latin-1": b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
    "no text encoding": b"# coding: rot13\nx = 1\n",
}


@pytest.mark.parametrize("name", SAMPLES)
def test_sources_are_read_as_python_reads_them(name):
    """As Python's ``tokenize.open`` (``inspect``, ``linecache``) reads them. Its compiler
    is laxer in one place: it skips a comment's bytes undecoded, so a file with bytes that
    are not UTF-8 only in comments imports; such a file's fixes are declined all the same."""
    data = SAMPLES[name]
    try:
        expected = python_reads(data)
    except (SyntaxError, ValueError, LookupError):
        with pytest.raises(sources.UnreadableSource, match=r"^f\.py cannot be read as Python source: [^\n]+$"):
            sources.decode(data, "f.py")
        return
    source = sources.decode(data, "f.py")
    assert source.text == expected and "\r" not in source.text
    assert compile(source.text, "f.py", "exec").co_consts == compile(data, "f.py", "exec").co_consts
    assert sources.encode(source.text, source.form) == data and source.form.unwritable() is None


def test_mixed_line_endings_read_but_cannot_be_written_back():
    source = sources.decode(b"x = 1\r\ny = 2\n", "f.py")
    assert source.text == "x = 1\ny = 2\n" and "mixes line endings" in source.form.unwritable()


# --- the three cases reported on 0.5.2 ---------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """A real copy of 0.5.2 (11 MB), that bake may write."""
    return shutil.copytree(unpack("0.5.2"), tmp_path / "tree", ignore=shutil.ignore_patterns("__pycache__"))


def test_a_latin1_cookie_file_is_read_as_python_reads_it(tree):
    pristine = engine.plan(engine.SourceTree(unpack("0.5.2")), FIXES)
    (tree / RUNNER).write_bytes(latin1_cookie((tree / RUNNER).read_bytes()))
    plan = engine.plan(engine.SourceTree(tree), FIXES)
    assert [d.state for d in plan.decisions] == [d.state for d in pristine.decisions]
    assert {d.fix for d in plan.decisions if d.state == engine.APPLIES} >= RUNNER_FIXES
    assert plan.forms[RUNNER].encoding == "iso-8859-1"
    assert plan.texts[RUNNER] == python_reads(LATIN1_COOKIE) + pristine.texts[RUNNER]
    assert plan.encoded(RUNNER).startswith(LATIN1_COOKIE)


def test_garbage_declines_only_the_fixes_that_read_the_file(tree):
    pristine = decisions(engine.plan(engine.SourceTree(unpack("0.5.2")), FIXES))
    data = (tree / EAGLE_UTILS).read_bytes()
    (tree / EAGLE_UTILS).write_bytes(data[:5000] + random.Random(21).randbytes(3000) + data[5000:])
    got = decisions(engine.plan(engine.SourceTree(tree), FIXES))
    # The fixes that read the file to be decided (its diff's, or its check's, as
    # the MLA draft check follows the backend's imports into it).
    readers = {fix for fix, reads in files_read_per_fix(unpack("0.5.2")).items() if EAGLE_UTILS in reads}
    assert "verify-mask-padding" in readers and len(readers) < len(FIXES) // 2
    for fix in readers:
        declined = got.pop(fix)
        assert declined["state"] == engine.DECLINED
        assert declined["reason"].startswith(f"{EAGLE_UTILS} cannot be read as Python source: byte 0x")
        assert "\n" not in declined["reason"]
        del pristine[fix]
    assert got == pristine


@pytest.mark.parametrize("form", [crlf, bom, latin1_cookie, lambda d: bom(d.replace(b"\n", b"\r")), ],
                         ids=["crlf", "bom", "latin-1", "bom-cr"])
def test_a_file_in_another_form_is_patched_and_baked_back_in_its_form(tree, form, monkeypatch):
    original = form((tree / RUNNER).read_bytes())
    (tree / RUNNER).write_bytes(original)
    plan = engine.plan(engine.SourceTree(tree), FIXES)
    assert {d.fix for d in plan.decisions if d.state == engine.APPLIES} >= RUNNER_FIXES
    compile(plan.texts[RUNNER], RUNNER, "exec")
    # the hook compiles the text; bake writes it in the file's form: Python reads it back
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(tree / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    name = engine.module_name(RUNNER)
    hook_text = finder.find_spec(name, [str((tree / RUNNER).parent)]).loader.get_source(name)
    bake.apply(tree)
    baked = (tree / RUNNER).read_bytes()
    assert baked == sources.encode(hook_text, plan.forms[RUNNER]) and python_reads(baked) == hook_text
    assert baked.startswith(original[:30])  # its mark, its cookie
    assert sources.decode(baked, RUNNER).form == sources.decode(original, RUNNER).form  # its line endings
    assert bake.verify(tree).problems == []
    assert {d.state for d in engine.plan(engine.SourceTree(tree), FIXES).decisions if d.fix in RUNNER_FIXES} \
        == {engine.ALREADY_FIXED}
    bake.revert(tree)
    assert (tree / RUNNER).read_bytes() == original


def test_the_hook_runs_the_code_the_plan_compiled(tree, monkeypatch):
    """The plan compiles every patched text (to decline what does not compile); the hook
    of the same process loads that code instead of compiling the text again."""
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(tree / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    name = engine.module_name(RUNNER)
    spec = finder.find_spec(name, [str((tree / RUNNER).parent)])
    planned = finder.state.plan.codes[RUNNER]
    assert spec.loader.get_code(name) is planned and planned.co_filename == str(tree / RUNNER)


def test_mixed_line_endings_are_declined_with_the_reason(tree):
    data = (tree / RUNNER).read_bytes()
    (tree / RUNNER).write_bytes(data.replace(b"\n", b"\r\n", 10))
    plan = engine.plan(engine.SourceTree(tree), FIXES)
    for fix in RUNNER_FIXES:
        assert plan.decision(fix).state == engine.DECLINED
        assert plan.decision(fix).reason == f"{RUNNER} is left alone: it mixes line endings (CRLF, CR, LF), " \
                                            "which a patched copy could not keep"
    assert RUNNER not in plan.texts and plan.decision("verify-mask-padding").state == engine.APPLIES


def test_a_file_that_does_not_compile_is_never_patched(tree):
    (tree / RUNNER).write_bytes((tree / RUNNER).read_bytes() + b"\ndef (:\n")  # after every hunk
    plan = engine.plan(engine.SourceTree(tree), FIXES)
    for fix in RUNNER_FIXES:
        assert plan.decision(fix).state == engine.DECLINED
        assert plan.decision(fix).reason.startswith(f"{RUNNER} does not compile without the fix either: ")
    assert RUNNER not in plan.texts and plan.decision("verify-mask-padding").state == engine.APPLIES


def test_the_hook_warns_once_per_declined_fix_not_per_module(tree, monkeypatch, capsys):
    (tree / RUNNER).write_bytes(b"\xff\xfe" + (tree / RUNNER).read_bytes())
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(tree / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    spec = finder.find_spec("sglang.srt.speculative.eagle_utils", [str(tree / "sglang/srt/speculative")])
    assert isinstance(spec.loader, hook.PatchedSourceLoader)  # the fix on another file: applied
    for name in ("sglang.srt.speculative.eagle_draft_cuda_graph_runner", "sglang.srt.utils",
                 "sglang.srt.layers.sampler", "sglang.srt.server_args"):
        finder.find_spec(name, [str(tree / "sglang/srt")])
    assert sorted(runtime.RECORD["problems"]) == sorted(
        f"fix {fix} declined: {RUNNER} cannot be read as Python source: byte 0xff on line 1 is not valid utf-8 "
        "(invalid start byte)" for fix in readers_of(RUNNER))
    assert capsys.readouterr().err.count("declined") == len(readers_of(RUNNER))


@pytest.mark.parametrize("damage", ["directory", "symlink-loop"])
def test_the_hook_patches_the_other_files_past_a_file_it_cannot_read(tree, damage, monkeypatch):
    (tree / RUNNER).unlink()
    (tree / RUNNER).mkdir() if damage == "directory" else (tree / RUNNER).symlink_to(Path(RUNNER).name)
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(tree / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    why = "Is a directory" if damage == "directory" else "Too many levels of symbolic links"
    for process in ("plans", "reads the cached plan"):
        finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None), use_plan_cache=True)
        spec = finder.find_spec("sglang.srt.speculative.eagle_utils", [str(tree / "sglang/srt/speculative")])
        assert isinstance(spec.loader, hook.PatchedSourceLoader), process
        assert finder.state.plan.from_cache == (process == "reads the cached plan")
    assert runtime.RECORD["problems"] == [f"fix {fix} declined: {RUNNER} cannot be read as Python source: {why}"
                                          for fix in sorted(readers_of(RUNNER))] * 2


def test_a_failed_plan_warns_once_per_process(tree, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("engine exploded")

    stub = types.ModuleType("sglang")
    stub.__path__ = [str(tree / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    monkeypatch.setitem(runtime.RECORD, "problems", [])
    monkeypatch.setattr(engine, "plan", boom)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    for name in ("sglang.srt.speculative.eagle_utils", "sglang.srt.utils", "sglang.srt.server_args"):
        assert finder.find_spec(name, [str(tree / "sglang/srt")]) is None
    assert runtime.RECORD["problems"] == ["could not patch any module: RuntimeError: engine exploded"]
    assert capsys.readouterr().err.count("engine exploded") == 1


# --- no traceback from any command -------------------------------------------------------------

COMMANDS = (["status"], ["plan"], ["plan", "--json"], ["apply", "--dry-run"], ["apply"], ["verify"],
            ["revert"], ["doctor", "--", "--speculative-algorithm", "EAGLE", "--attention-backend", "flashinfer"])


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)  # an exception here is the traceback a user would see
    return code, out.getvalue(), err.getvalue()


def every_command(root: Path) -> list[tuple[str, int, str, str]]:
    results = []
    for command in COMMANDS:
        code, out, err = run_cli([command[0], "--sglang-root", str(root), *command[1:]])
        results.append((" ".join(command[:2]), code, out, err))
    return results


def damage_garbage(path: Path):
    path.write_bytes(random.Random(21).randbytes(3000))


def damage_truncated(path: Path):
    path.write_bytes(path.read_bytes()[:7777])


def damage_directory(path: Path):
    path.unlink()
    path.mkdir()


def damage_symlink_loop(path: Path):
    path.unlink()
    path.symlink_to(path.name)


@pytest.mark.parametrize("damage", [damage_garbage, damage_truncated, damage_directory, damage_symlink_loop],
                         ids=["garbage", "truncated", "directory", "symlink-loop"])
@pytest.mark.parametrize("baked", [False, True], ids=["as-shipped", "baked"])
def test_no_command_ends_in_a_traceback(tree, damage, baked):
    if baked:
        bake.apply(tree)
    damage(tree / RUNNER)
    for command, code, out, err in every_command(tree):
        assert "Traceback" not in err and "internal error" not in err, (command, err)
        lines = err.strip().splitlines()
        if code == cli.EXIT_ERROR:  # refused: one line says why
            assert len(lines) == 1 and lines[0].startswith("sglang-spec-patches: "), (command, err)
            assert baked and command in ("verify", "revert"), (command, err)  # only a bake's files refuse
        else:  # the fixes on the file read declined, with a one-line reason; the rest as usual
            assert code == (0 if command == "revert" else cli.EXIT_DECLINED), (command, code, err)
            if command in ("status", "plan", "apply --dry-run", "apply"):
                assert "declined" in out and "draft-context-length" in out


def test_an_unreadable_file_as_a_non_root_user(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="damaged-"))  # pytest's tmp_path is private to root
    try:
        folder.chmod(0o755)
        root = shutil.copytree(unpack("0.5.2"), folder / "tree", ignore=shutil.ignore_patterns("__pycache__"))
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / RUNNER).chmod(0)
        results = json.loads(as_nobody(lambda: json.dumps(every_command(root))))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    by_command = {command: (code, out, err) for command, code, out, err in results}
    for command, (code, out, err) in by_command.items():
        assert "Traceback" not in err and "internal error" not in err, (command, err)
    assert by_command["status"][0] == cli.EXIT_DECLINED  # even where nobody may not look into root's home
    code, out, _ = by_command["plan --json"]
    got = {d["fix"]: d for d in json.loads(out)}
    assert code == cli.EXIT_DECLINED
    for fix in RUNNER_FIXES:
        assert got[fix]["state"] == engine.DECLINED
        assert got[fix]["reason"] == f"{RUNNER} cannot be read as Python source: Permission denied"
    assert got["verify-mask-padding"]["state"] == engine.APPLIES
    code, _, err = by_command["apply"]  # nobody may not write the tree: refused, nothing changed
    assert code == cli.EXIT_ERROR and "read-only" in err and len(err.strip().splitlines()) == 1


# --- the property test: one file damaged at a time, on three releases -------------------------

# 290 damaged trees (70 + 110 + 110). Measured: the plan checks take about 13 s of CPU in
# all, the import checks about 42 s of CPU in the three children (a third of it loading
# torch and SGLang once per release); each test prints its numbers under ``pytest -s``.
RELEASES = ["0.5.2", "0.5.13.post1", "0.5.23"]
RANDOM_ROUNDS = 1  # per file and kind of random damage (the fixes now read some 25 files a release)
VERSION_FILES = ("sglang/version.py", "sglang/_version.py")  # pick the family order, not a fix's file


class ReadLog(engine.SourceTree):
    def __init__(self, root):
        super().__init__(root)
        self.log: set[str] = set()

    def source(self, relpath):
        self.log.add(relpath)
        return super().source(relpath)


def files_read_per_fix(root: Path) -> dict[str, set[str]]:
    """What each fix reads to be decided (its diffs' files, markers, needs, fixed-when check)."""
    tree = ReadLog(root)
    version = engine.parse_version(tree.version())
    reads = {}
    for fix in FIXES:
        tree.log = set()
        engine.decide(fix, tree, version)
        reads[fix.id] = {rel for rel in tree.log if (root / rel).is_file()} - set(VERSION_FILES)
    return reads


@functools.lru_cache(maxsize=None)
def readers_of(rel: str, version: str = "0.5.2") -> frozenset[str]:
    """The fixes that read ``rel`` to be decided on the plain release (diffs, checks)."""
    found = frozenset(fix for fix, reads in files_read_per_fix(unpack(version)).items() if rel in reads)
    assert RUNNER_FIXES <= found if rel == RUNNER else found
    return found


def damage_cases(version: str, targets: list[str]):
    """(case id, file, damage, seed): the same list every run."""
    rng = random.Random(f"issue-21 {version}")
    for rel in targets:
        for damage in WHOLE_FILE:
            yield f"{damage.__name__}:{rel}", rel, damage, None
        for damage in AT_RANDOM:
            for _ in range(RANDOM_ROUNDS):
                seed = rng.randrange(1 << 30)
                yield f"{damage.__name__}#{seed}:{rel}", rel, damage, seed


@pytest.fixture(scope="module")
def damaged_release(tmp_path_factory):
    """Per release: a tree whose target files are real copies, the files each fix reads, the
    pristine plan, and the seeded cases."""
    made = {}

    def get(version):
        if version not in made:
            pristine = unpack(version)
            reads = files_read_per_fix(pristine)
            targets = sorted(set().union(*reads.values()))
            root = tree_copy(version, tmp_path_factory.mktemp(version) / "tree", real=tuple(targets))
            made[version] = root, reads, decisions(engine.plan(engine.SourceTree(pristine), FIXES)), \
                list(damage_cases(version, targets))
        return made[version]

    return get


@contextlib.contextmanager
def damaged(root: Path, rel: str, damage, seed):
    """The file damaged for the ``with`` block, then restored."""
    path = root / rel
    original = path.read_bytes()
    path.write_bytes(damage(original, random.Random(seed)))
    try:
        yield
    finally:
        path.write_bytes(original)


def check_plan(root: Path, rel: str, damage, reads: dict[str, set[str]], pristine: dict[str, dict]) -> engine.Plan:
    plan = engine.plan(engine.SourceTree(root), FIXES)  # never raises
    got = decisions(plan)
    for fix, decision in got.items():
        assert "\n" not in decision["reason"], decision
        if rel not in reads[fix] or damage in (crlf, bom):  # other files, or the same text: as pristine
            assert decision == pristine[fix], (fix, decision, pristine[fix])
        if damage is latin1_cookie:  # the same text below the cookie: the same states
            assert decision["state"] == pristine[fix]["state"], (fix, decision, pristine[fix])
        elif decision["state"] == engine.APPLIES:  # on the damaged file: only if it compiles patched
            for path in decision["files"]:
                compile(plan.texts[path], path, "exec", dont_inherit=True)
                assert sources.decode(plan.encoded(path), path).text == plan.texts[path]  # hook == bake
    return plan


@pytest.mark.parametrize("version", RELEASES)
def test_plans_of_damaged_trees(version, damaged_release):
    root, reads, pristine, cases = damaged_release(version)
    started, cpu, outcomes = time.perf_counter(), time.process_time(), {}
    for case, rel, damage, seed in cases:
        with damaged(root, rel, damage, seed):
            try:
                plan = check_plan(root, rel, damage, reads, pristine)
            except AssertionError as exc:
                raise AssertionError(f"{version} {case}: {exc}") from None
        for fix in (f for f, files in reads.items() if rel in files):
            outcomes.setdefault(plan.decision(fix).state, set()).add(damage.__name__)
    # the damage reached the outcomes that matter: declined, and (where the release needs a
    # fix) patched in another form
    assert "random_bytes" in outcomes[engine.DECLINED]
    if any(d["state"] == engine.APPLIES for d in pristine.values()):
        assert {"crlf", "bom", "latin1_cookie"} <= outcomes[engine.APPLIES]
    print(f"{version}: {len(cases)} damaged trees planned in {time.perf_counter() - started:.1f} s "
          f"({time.process_time() - cpu:.1f} s CPU)")


IMPORT_CASES = 48  # damaged imports checked per release


@pytest.mark.slow
@pytest.mark.parametrize("version", RELEASES)
def test_imports_of_damaged_trees(version, damaged_release, cpu_env, tmp_path):
    """Wherever ``import M`` works with the shim off, it works with the shim on: one child
    imports the damaged module after each damage, off and on (tests/damaged_imports.py)."""
    root, reads, _, cases = damaged_release(version)
    modules = sorted({engine.module_name(rel) for _, rel, _, _ in cases})
    env = {**os.environ, **sglang_releases.RELEASE_ENV, "PYTHONPATH": str(root), "SGLANG_SPEC_PATCHES": "off",
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONHOME", None)
    log = tmp_path / "child.stderr"
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = before.ru_utime + before.ru_stime
    with open(log, "w") as stderr:
        child = subprocess.Popen([str(cpu_env), str(Path(__file__).with_name("damaged_imports.py")), *modules],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                 env=env, cwd=root)
    try:
        warmed = [json.loads(child.stdout.readline()) for _ in modules]
        # A module that does not import undamaged with the shim off (a GPU-only name the
        # CPU stand-ins lack) has nothing to compare; the rest must be most of them.
        importable = {w["warmed"] for w in warmed if w["error"] is None}
        assert len(importable) > len(modules) // 2, (warmed, log.read_text()[-3000:])
        cases = [c for c in cases if engine.module_name(c[1]) in importable]
        # Each import costs ~0.7 s of CPU: a seeded sample keeps the test near half a minute
        # a release; the plan test above decides every case.
        cases = sorted(random.Random(f"imports {version}").sample(cases, min(len(cases), IMPORT_CASES)))
        worked = 0
        for case, rel, damage, seed in cases:
            with damaged(root, rel, damage, seed):
                child.stdin.write(json.dumps({"module": engine.module_name(rel)}) + "\n")
                child.stdin.flush()
                line = child.stdout.readline()
            assert line, f"{version} {case}: the child died:\n{log.read_text()[-3000:]}"
            answer = json.loads(line)
            if answer["off"] is None:
                worked += 1
                assert answer["on"] is None, f"{version} {case}: imports with the shim off, not on: {answer}"
            assert len(set(answer["problems"])) == len(answer["problems"]), answer  # one warning per fix
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    assert worked >= len(cases) // 3, f"only {worked} of {len(cases)} damaged modules import at all"
    child_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = child_cpu.ru_utime + child_cpu.ru_stime - cpu
    print(f"{version}: {len(cases)} damaged imports ({worked} import with the shim off) in "
          f"{time.perf_counter() - started:.1f} s ({child_cpu:.1f} s CPU in the child)")
