"""Bake mode on real SGLang trees: apply, verify, revert, and the faults they must survive.

Every tree is a copy of an unpacked release wheel. "Consistent" below means: every file a
run touches is wholly original or wholly baked (byte-checked against the release and the
engine's plan), the manifest says exactly that, no journal or temporary file is left, and
no other file of the tree changed.

Each test's docstring says how it was checked to fail with its protection removed (the
protection was taken out of a scratch copy of the package, the test run, and restored).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import pwd
import py_compile
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sglang_spec_patches import bake, cli, engine, hook, runtime
from sglang_releases import unpack

REPO = Path(__file__).resolve().parent.parent
FIXES = engine.load_fixes()
RELEASE = "0.5.2"  # every fix that can applies; 8 files
STATE = bake.STATE_DIR


# --- helpers ------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_tree(version: str, dest: Path) -> Path:
    shutil.copytree(unpack(version), dest, symlinks=True)
    return dest


def clone(src: Path, dest: Path) -> Path:
    """A cheap copy for the many-step fault tests: hard links. Safe because bake only ever
    replaces files by rename; a write in place would change the template and show up as a
    changed file in every later check."""
    shutil.copytree(src, dest, symlinks=True, copy_function=os.link)
    return dest


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under root except bytecode (and the bake's own state)."""
    return {str(p.relative_to(root)): sha(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and STATE not in p.parts}


class Release:
    """One release's original bytes and the engine's baked bytes for every target file."""

    def __init__(self, version: str, fixes=FIXES):
        self.root = unpack(version)
        plan = engine.plan(engine.SourceTree(self.root), fixes)
        self.baked = {rel: text.encode() for rel, text in plan.texts.items()}
        self.original = {rel: (self.root / rel).read_bytes() for rel in plan.texts}
        self.fixes = {rel: sorted(plan.fixes_for(rel)) for rel in plan.texts}
        self.applies = [f for f in fixes if plan.decision(f.id).state == engine.APPLIES]
        self.snapshot = snapshot(self.root)


@pytest.fixture(scope="module")
def rel52():
    return Release(RELEASE)


# The step-by-step fault tests bake three fixes in three files (one file holds two of them):
# every kind of step and every mix a crash could leave, at a third of the steps (and time).
SUBSET = ("draft-padding-buffers", "draft-padding-positions", "verify-mask-padding")
SUB_FIXES = tuple(f for f in FIXES if f.id in SUBSET)
ONLY = [a for fix in SUBSET for a in ("--only", fix)]


@pytest.fixture(scope="module")
def sub52():
    rel = Release(RELEASE, SUB_FIXES)
    assert len(rel.baked) == 3
    return rel


def cli_in_child(*args, **env) -> int:
    """The CLI's main() in a forked child process (a real process, no interpreter start-up):
    its exit code, or minus the signal that killed it."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 99
        try:
            for key in [k for k in os.environ if k.startswith("SGLANG_SPEC_PATCHES")]:
                del os.environ[key]
            os.environ.update({k: str(v) for k, v in env.items()})
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            code = cli.main([str(a) for a in args])
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def cli_here(capsys, *args) -> tuple[int, str, str]:
    """The CLI in this process (the 'next command' after a crash)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_SPEC_PATCHES")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sglang_spec_patches.cli", *map(str, args)], cwd=REPO,
                          env=clean_env(**env), capture_output=True, text=True, timeout=60)


def seed_bytecode(root: Path, texts: dict[str, bytes]) -> None:
    """A .pyc for every target, as an installer would leave it."""
    for rel in texts:
        path = root / rel
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)


def leftovers(root: Path) -> list[str]:
    temps = [str(p) for p in root.rglob(".*.sgsp-*")]
    state = root / STATE
    return temps + [str(p) for p in (state.glob("journal.json*") if state.is_dir() else ())]


def consistent(root: Path, rel: Release, pyc_gone_when: str | None = None) -> str:
    """Check the tree is wholly 'original' or wholly 'baked' (see the module docstring)."""
    now = {r: (root / r).read_bytes() for r in rel.baked}
    if now == rel.original:
        kind = "original"
    elif now == rel.baked:
        kind = "baked"
    else:
        mixed = {r: "original" if b == rel.original[r] else "baked" if b == rel.baked[r] else "other"
                 for r, b in now.items()}
        pytest.fail(f"mixed tree: {mixed}")
    assert not leftovers(root), leftovers(root)
    assert snapshot(root) == {**rel.snapshot, **{r: sha(b) for r, b in now.items()}}
    manifest = bake.load_manifest(root)
    if kind == "baked":
        assert manifest["files"] == {
            r: {"original_sha256": sha(rel.original[r]), "baked_sha256": sha(rel.baked[r]),
                "fixes": rel.fixes[r]} for r in rel.baked}
        blobs = root / STATE / bake.BLOBS
        assert {p.name for p in blobs.iterdir()} == {sha(b) for b in rel.original.values()}
        assert all(sha(p.read_bytes()) == p.name for p in blobs.iterdir())
    else:
        assert manifest["files"] == {}
    if pyc_gone_when == kind:
        assert not [p for r in rel.baked for p in bake.bytecode_files(root / r)]
    return kind


# --- the basics -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.5.2", "0.4.10"])
def test_apply_verify_revert_round_trip(version, tmp_path, monkeypatch):
    """apply writes exactly the hook's text and records it; applying twice changes nothing;
    the hook then sees ``already-fixed`` and leaves every module alone; verify passes;
    revert restores every byte.

    Checked to fail without its protections: apply writing the text with CRLF line ends
    (fails: 'mixed tree', files neither original nor baked); revert skipping one file
    (fails: 'mixed tree')."""
    rel = Release(version)
    root = copy_tree(version, tmp_path / "tree")
    proc = run_cli("apply", "--sglang-root", root)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {len(rel.baked)} file(s)" in proc.stdout
    assert consistent(root, rel) == "baked"
    manifest_bytes = (root / STATE / bake.MANIFEST).read_bytes()

    again = run_cli("apply", "--sglang-root", root, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["written"] == []
    assert (root / STATE / bake.MANIFEST).read_bytes() == manifest_bytes
    states = {d["fix"]: d["state"] for d in json.loads(again.stdout)["fixes"]}
    assert {fix for fix, state in states.items() if state == engine.ALREADY_FIXED} == {f.id for f in rel.applies}
    assert engine.APPLIES not in states.values()

    # The run-time hook: nothing to do for any module of a baked tree.
    stub = type(sys)("sglang")
    stub.__path__ = [str(root / "sglang")]
    monkeypatch.setitem(sys.modules, "sglang", stub)
    finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
    for r in rel.baked:
        spec = finder.find_spec(engine.module_name(r), [str((root / r).parent)])
        assert not isinstance(getattr(spec, "loader", None), hook.PatchedSourceLoader)

    ok = run_cli("verify", "--sglang-root", root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    back = run_cli("revert", "--sglang-root", root)
    assert back.returncode == 0, back.stderr
    assert consistent(root, rel) == "original"
    assert snapshot(root) == rel.snapshot
    not_baked = run_cli("verify", "--sglang-root", root)
    assert not_baked.returncode == 1 and "applies but is not baked" in not_baked.stdout


def test_dry_run_and_read_only_commands_create_nothing(rel52, tmp_path):
    """--dry-run says what it would do and writes nothing, not even the state folder.

    Checked to fail without the protection: with apply's dry run going on into the run
    (``_run`` called regardless of ``dry_run``) the command tried to write (fails: exit 2)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    for args in (["apply", "--dry-run"], ["revert", "--dry-run"], ["revert"], ["verify"], ["status"], ["plan"]):
        proc = run_cli(*args, "--sglang-root", root)
        assert proc.returncode in (0, 1), proc.stderr
        assert snapshot(root) == rel52.snapshot and not (root / STATE).exists(), args
    assert f"would write {len(rel52.baked)} file(s)" in run_cli("apply", "--dry-run", "--sglang-root", root).stdout


def test_only_composes_to_the_same_bytes_and_revert_respects_shared_files(rel52, tmp_path):
    """Baking fix by fix gives the same bytes as baking all at once; the manifest keeps the
    first original; revert refuses to take one fix out of a file that holds another.

    Checked to fail without the protection: with the shared-file check removed, revert
    --only draft-padding-positions went ahead and took draft-padding-buffers out with it
    (fails: DID NOT RAISE)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    for fix in reversed(rel52.applies):
        assert bake.apply(root, [fix]).written
    assert consistent(root, rel52) == "baked"
    before = snapshot(root)
    with pytest.raises(bake.BakeError, match="share files with baked fix.*draft-padding-buffers"):
        bake.revert(root, only=["draft-padding-positions"])
    assert snapshot(root) == before
    bake.revert(root, only=["draft-padding-positions", "draft-padding-buffers", "draft-seq-lens-sum"])
    assert bake.verify(root, FIXES).problems == [
        "draft-padding-buffers: applies but is not baked: run apply",
        "draft-padding-positions: applies but is not baked: run apply",
        "draft-seq-lens-sum: applies but is not baked: run apply"]
    bake.revert(root)
    assert consistent(root, rel52) == "original"


def test_reinstalled_sglang_is_noticed_and_rebaked(rel52, tmp_path):
    """A reinstall puts the original files back under a stale manifest: verify says so,
    apply bakes again, revert still restores the originals.

    Checked to fail without the protection: with verify's original-hash check removed the
    message became the generic 'changed since it was baked' (fails the match)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    bake.apply(root, FIXES)
    for r, data in rel52.original.items():  # what pip install --force-reinstall does
        (root / r).write_bytes(data)
    problems = bake.verify(root, FIXES).problems
    assert any("back to its original bytes" in p for p in problems), problems
    assert len(bake.apply(root, FIXES).written) == 8
    assert consistent(root, rel52) == "baked"
    bake.revert(root)
    assert consistent(root, rel52) == "original"


# --- kill -9 at every step ------------------------------------------------------------------


_STEPS: dict[str, list[str]] = {}


def checkpoints(op: str, tmp_path: Path) -> list[str]:
    """The checkpoints one clean run of ``op`` passes, in order (found once per session)."""
    if op not in _STEPS:
        scratch = copy_tree(RELEASE, tmp_path / f"scratch-{op}")
        if op == "revert":
            bake.apply(scratch, SUB_FIXES)
        getattr(bake, op)(scratch, **({"fixes": SUB_FIXES} if op == "apply" else {}))
        _STEPS[op] = bake.checkpoints_reached()
        shutil.rmtree(scratch)
    return _STEPS[op]


def test_kill_9_at_every_step_of_apply(sub52, tmp_path, capsys):
    """apply is SIGKILLed at each of its checkpoints in turn (``SGLANG_SPEC_PATCHES_CRASH_AT``),
    then ``status`` settles the tree. Outcome per step: killed before every temporary file is
    complete -> rolled back to the original bytes; from then on -> finished (baked), bytecode
    gone. Never a mix.

    Checked to fail without the protection: with the journal never written, the next command
    had nothing to settle (fails: no 'rolled back' report, and a mixed tree after a kill
    among the renames); with recovery trusting a temporary file without its hash, the kill
    half-way through the last temporary file rolled a truncated file forward (fails: 'mixed
    tree')."""
    names = checkpoints("apply", tmp_path)
    last_temp = max(i for i, n in enumerate(names) if n.startswith("temp-written:"))
    journal_from, journal_gone = names.index("journal-written"), names.index("journal-removed")
    outcomes = {}
    template = copy_tree(RELEASE, tmp_path / "template")
    for n, name in enumerate(names, 1):
        root = clone(template, tmp_path / f"t{n}")
        seed_bytecode(root, sub52.baked)
        assert cli_in_child("apply", "--sglang-root", root, *ONLY, SGLANG_SPEC_PATCHES_CRASH_AT=n) == -signal.SIGKILL
        code, _, err = cli_here(capsys, "status", "--sglang-root", root)
        assert code == 0, (name, err)
        outcomes[name] = consistent(root, sub52, pyc_gone_when="baked")
        expected = "original" if n - 1 < last_temp else "baked"
        assert outcomes[name] == expected, (name, err)
        if journal_from <= n - 1 < journal_gone:  # a journal was left: settling says what it did
            assert ("finished" if expected == "baked" else "rolled back") in err
        shutil.rmtree(root)
    print(json.dumps(outcomes, indent=1))  # the fault list for the report (-s shows it)


def test_kill_9_at_every_step_of_revert(sub52, tmp_path, capsys):
    """revert is SIGKILLed at each checkpoint, then ``verify`` settles the tree: still
    baked (verify passes) before every original is in a complete temporary file, wholly
    original (verify fails: nothing baked) after.

    Checked to fail without the protection: with the journal's manifest not written on
    roll-forward, the reverted tree kept a manifest naming baked files (fails the manifest
    check in ``consistent``)."""
    names = checkpoints("revert", tmp_path)
    last_temp = max(i for i, n in enumerate(names) if n.startswith("temp-written:"))
    baked = copy_tree(RELEASE, tmp_path / "baked")
    bake.apply(baked, SUB_FIXES)
    for n, name in enumerate(names, 1):
        root = clone(baked, tmp_path / f"t{n}")
        for r in sub52.baked:  # bytecode of the baked code, which revert must remove
            py_compile.compile(str(root / r), cfile=importlib.util.cache_from_source(str(root / r)))
        assert cli_in_child("revert", "--sglang-root", root, SGLANG_SPEC_PATCHES_CRASH_AT=n) == -signal.SIGKILL
        code, out, err = cli_here(capsys, "verify", "--sglang-root", root, *ONLY)
        expected = "baked" if n - 1 < last_temp else "original"
        assert consistent(root, sub52, pyc_gone_when="original") == expected, name
        assert code == (0 if expected == "baked" else 1), (name, out, err)
        shutil.rmtree(root)


def test_kill_9_while_settling_a_crashed_run(sub52, tmp_path, capsys):
    """The settling itself is killed at each of its steps, both directions, then settled
    again. Forward: apply (a real ``python -m`` process) killed after its second rename.
    Back: the same, then the remaining temporary file is truncated (as a power cut could
    leave unsynced data), so recovery must restore the two renamed files from their saved
    copies.

    Checked to fail without the protection: with the restore written in place (truncate
    and write the target) instead of temporary file + rename, the kill half-way left a
    truncated target; with recovery not hash-checking temporary files, the truncated one
    was renamed into place. Both times the next command found a file that was neither
    original nor baked (fails: it says 'changed by someone else' and exits 1)."""
    names = checkpoints("apply", tmp_path)
    second = [n for n in names if n.startswith("renamed:")][1]
    for direction in ("forward", "back"):
        crashed_tree = copy_tree(RELEASE, tmp_path / f"crashed-{direction}")
        proc = run_cli("apply", "--sglang-root", crashed_tree, *ONLY, SGLANG_SPEC_PATCHES_CRASH_AT=second)
        assert proc.returncode == -signal.SIGKILL
        if direction == "back":
            for tmp in crashed_tree.rglob(".*.sgsp-*.tmp"):
                tmp.write_bytes(tmp.read_bytes()[:100])
        step = 1
        while True:
            root = clone(crashed_tree, tmp_path / f"{direction}{step}")
            code = cli_in_child("status", "--sglang-root", root, SGLANG_SPEC_PATCHES_CRASH_AT=step)
            if code != -signal.SIGKILL:
                assert code == 0
                break
            code, _, err = cli_here(capsys, "status", "--sglang-root", root)
            assert code == 0, err
            assert consistent(root, sub52) == ("baked" if direction == "forward" else "original")
            shutil.rmtree(root)
            step += 1
        assert step > {"forward": 4, "back": 7}[direction]  # it did pass every recovery step


@pytest.mark.parametrize("next_command", ["apply", "revert"])
def test_apply_and_revert_settle_a_crashed_run_first(next_command, sub52, tmp_path, capsys):
    """apply and revert settle a crashed run before doing their own work: a run killed
    after a rename is finished by the next apply (then nothing is left to write) and by the
    next revert (then reverted); one killed half-way through a temporary file is rolled back.

    Checked to fail without the protection: with the settling step removed from apply and
    revert, apply planned on the half-baked tree, declined draft-padding-positions (one of
    its two files patched) and left it half applied; revert restored nothing (fails: no
    settling reported, and 'mixed tree')."""
    names = checkpoints("apply", tmp_path)
    for at, settled in ((next(n for n in names if n.startswith("renamed:")), "finished"),
                        (next(n for n in names if n.startswith("temp-half-written:")), "rolled back")):
        root = copy_tree(RELEASE, tmp_path / f"{next_command}-{settled}")
        assert cli_in_child("apply", "--sglang-root", root, *ONLY, SGLANG_SPEC_PATCHES_CRASH_AT=at) == -signal.SIGKILL
        code, out, err = cli_here(capsys, next_command, "--sglang-root", root, *ONLY)
        assert code == 0 and settled in err, (out, err)
        assert consistent(root, sub52) == ("baked" if next_command == "apply" else "original")


def test_disk_error_at_every_step_rolls_back(sub52, tmp_path, monkeypatch):
    """An OSError(EROFS) raised at each checkpoint up to the manifest (the disk turning
    read-only mid-run: ``SGLANG_SPEC_PATCHES_FAIL_AT``) rolls the run back before apply
    returns: clear error, original tree, no journal. After the manifest the run is complete:
    an error there is reported and the next command finishes the clean-up.

    Checked to fail without the protection: with the in-process rollback removed, the fault
    left the journal behind (fails: leftovers) and, at a rename, a mixed tree."""
    names = checkpoints("apply", tmp_path)
    committed = names.index("manifest-written")
    template = copy_tree(RELEASE, tmp_path / "template")
    for n, name in enumerate(names, 1):
        root = clone(template, tmp_path / f"t{n}")
        monkeypatch.setenv(bake.FAIL_ENV, str(n))
        with pytest.raises(bake.BakeError) as err:
            bake.apply(root, SUB_FIXES)
        monkeypatch.delenv(bake.FAIL_ENV)
        if n - 1 <= committed:
            assert "nothing was changed" in str(err.value) and "injected fault" in str(err.value), name
            assert consistent(root, sub52) == "original", name
        else:
            assert "complete but its clean-up failed" in str(err.value)
            done = bake.recover(root)  # None when the fault hit after the journal was gone
            assert done is None or done.startswith("finished"), done
            assert consistent(root, sub52) == "baked", name
        shutil.rmtree(root)


# --- hostile input --------------------------------------------------------------------------


def hostile_catalog(tmp_path: Path, diff_text: str, fix_id: str = "zz-hostile") -> Path:
    """The real catalog plus one fix folder with the given diff."""
    patches = tmp_path / "patches"
    shutil.copytree(REPO / "patches", patches, ignore=shutil.ignore_patterns("test_*", "__pycache__"))
    folder = patches / fix_id
    folder.mkdir()
    (folder / "fix.json").write_text(json.dumps({
        "id": fix_id, "title": "hostile test fix", "upstream": {"issues": [], "prs": []},
        "first_fixed": "9.9", "families": [{"name": "0.4.10", "releases": ">=0.4.10", "diff": "0.4.10.diff"}],
        "upstream_markers": []}))
    (folder / "0.4.10.diff").write_text(diff_text)
    return patches


def one_hunk(path: str, rel52: Release, target: str) -> str:
    """A well-formed hunk against ``target``'s first lines, under a header naming ``path``."""
    lines = [" " + line for line in rel52.original[target].decode().splitlines(keepends=True)[:6]]
    body = "".join(lines[:3]) + "+# hostile\n" + "".join(lines[3:])
    return f"--- a/{path}\n+++ b/{path}\n@@ -1,6 +1,7 @@\n{body}"


@pytest.mark.parametrize("case", ["dotdot", "absolute", "other-package", "truncated"])
def test_hostile_or_broken_diff_is_declined_and_not_written(case, rel52, tmp_path, monkeypatch, capsys):
    """A diff naming a path outside the sglang package, or cut short, declines its fix:
    apply reports it, exits 1, writes the other fixes and nothing of that one.

    Checked to fail without the protection: with ``diffs.check_path`` accepting every path,
    bake's own path and containment checks still refused the run (fails: exit 2, not 1;
    nothing written); with those removed too, the ``..`` and ``torch/`` hunks were written
    outside the package (fails: exit 0, outside files changed). With the truncation and
    hunk-count checks in ``diffs`` removed the fix was still declined, by unipatch, but not
    as an unusable diff (fails on the reason); both of its files stayed original."""
    target = "sglang/srt/speculative/eagle_utils.py"
    # draft-kv-indices-topk has one family and two files: cut inside the second file's hunk
    real_diff = (REPO / "patches/draft-kv-indices-topk/0.4.10.diff").read_text()
    diff = {"dotdot": one_hunk("sglang/../../outside.py", rel52, target),
            "absolute": one_hunk(str(tmp_path / "tree" / target), rel52, target),
            "other-package": one_hunk("torch/__init__.py", rel52, target),
            "truncated": "".join(real_diff.splitlines(keepends=True)[:-4])}[case]
    fix_id = "draft-kv-indices-topk" if case == "truncated" else "zz-hostile"
    patches = tmp_path / "patches"
    if case == "truncated":
        shutil.copytree(REPO / "patches", patches, ignore=shutil.ignore_patterns("test_*", "__pycache__"))
        (patches / fix_id / "0.4.10.diff").write_text(diff)
    else:
        hostile_catalog(tmp_path, diff)
    root = copy_tree(RELEASE, tmp_path / "tree")
    outside = tmp_path / "outside.py"  # where sglang/../../outside.py leads
    outside.write_bytes(rel52.original[target])
    torch = root / "torch/__init__.py"  # a neighbour package, as in a site-packages
    torch.parent.mkdir()
    torch.write_bytes(rel52.original[target])
    monkeypatch.setattr(engine, "default_patches_dir", lambda: patches)
    assert cli.main(["apply", "--sglang-root", str(root)]) == cli.EXIT_DECLINED
    out = capsys.readouterr().out
    assert f"not written: 1 declined fix(es): {fix_id}" in out
    written = {r for r in rel52.baked if (root / r).read_bytes() != rel52.original[r]}
    if case == "truncated":  # neither of its two files, though the first section is whole
        assert fix_id in rel52.fixes["sglang/srt/layers/attention/flashinfer_mla_backend.py"]
        assert written == {rel for rel, fixes in rel52.fixes.items() if set(fixes) - {fix_id}}
        assert "diff unusable" in out and "truncated" in out
    else:
        assert written == set(rel52.baked) and b"# hostile" not in (root / target).read_bytes()
    assert outside.read_bytes() == rel52.original[target] == torch.read_bytes()


@pytest.mark.parametrize("where", ["file", "directory"])
def test_symlink_leading_out_of_the_tree_is_refused(where, rel52, tmp_path, capsys):
    """A target file, or a directory on its path, that is a symbolic link to somewhere
    outside the sglang package: the whole apply is refused (exit 2), nothing anywhere changes.

    Checked to fail without the protection: with the symlink and containment checks in
    ``bake.target`` removed, apply wrote through the link (fails: exit 0, outside changed)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    rel = "sglang/srt/configs/model_config.py"
    outside = tmp_path / "elsewhere"
    if where == "file":
        outside.mkdir()
        shutil.copy2(root / rel, outside / "model_config.py")
        (root / rel).unlink()
        (root / rel).symlink_to(outside / "model_config.py")
    else:
        shutil.move(root / "sglang/srt/configs", outside)
        (root / "sglang/srt/configs").symlink_to(outside, target_is_directory=True)
    before_out, before_tree = snapshot(outside), snapshot(root)
    assert cli.main(["apply", "--sglang-root", str(root)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert ("symbolic link" if where == "file" else "leads outside the sglang package") in err
    assert snapshot(outside) == before_out and snapshot(root) == before_tree
    assert not (root / STATE).exists()


def test_hostile_manifest_and_journal_are_refused(rel52, tmp_path):
    """A manifest or journal naming a file outside the package is refused, not followed.

    Checked to fail without the protection: with ``load_manifest``'s path check removed,
    revert was still refused, by the path check in ``bake.target`` (fails on the message;
    the two checks back each other up)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    bake.apply(root, FIXES)
    manifest_path = root / STATE / bake.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    entry = next(iter(manifest["files"].values()))
    manifest["files"]["sglang/../../outside.py"] = entry
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(bake.BakeError, match="not ours"):
        bake.revert(root)
    journal = {"format": 1, "op": "apply", "txid": "0123456789ab", "files": [
        {"path": "sglang/../x.py", "before_sha256": "0" * 64, "after_sha256": "1" * 64}],
        "manifest": None, "manifest_before": None}
    (root / STATE / bake.JOURNAL).write_text(json.dumps(journal))
    with pytest.raises(bake.BakeError, match="refusing to write"):
        bake.recover(root)


# --- files changed by someone else ------------------------------------------------------------


def test_revert_refuses_a_file_edited_since_the_bake(rel52, tmp_path):
    """A hand edit to one baked file: revert names it, exits 2 and changes nothing at all
    (not even the other, unedited files); verify fails naming it.

    Checked to fail without the protection: with the baked-hash check in revert removed,
    revert exited 0 and overwrote the edit (fails: exit code, edit lost)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    assert run_cli("apply", "--sglang-root", root).returncode == 0
    edited = root / "sglang/srt/speculative/eagle_utils.py"
    edited.write_bytes(edited.read_bytes() + b"# local tweak\n")
    before = snapshot(root)
    manifest = (root / STATE / bake.MANIFEST).read_bytes()
    proc = run_cli("revert", "--sglang-root", root)
    assert proc.returncode == 2
    assert "refusing to revert" in proc.stderr and "eagle_utils.py changed since it was baked" in proc.stderr
    assert snapshot(root) == before and (root / STATE / bake.MANIFEST).read_bytes() == manifest
    verify = run_cli("verify", "--sglang-root", root)
    assert verify.returncode == 1 and "eagle_utils.py: changed since it was baked" in verify.stdout


def test_file_changed_between_plan_and_write_is_refused(rel52, tmp_path, monkeypatch):
    """Someone edits a target after the plan read it, or while the run writes: the run
    refuses (rolls back), their edit survives, every other file is original.

    Checked to fail without the protection: with the re-hash before each rename removed,
    the edit made during the run was overwritten by the baked text (fails: DID NOT RAISE);
    with the snapshot comparison removed, the edit made after the plan was overwritten too."""
    victim = "sglang/srt/speculative/eagle_utils.py"
    edit = b"# edited by someone else\n"
    real_plan, real_checkpoint = engine.plan, bake._checkpoint

    def plan_then_edit(tree, *a, **k):
        result = real_plan(tree, *a, **k)
        (tree.root / victim).write_bytes(rel52.original[victim] + edit)
        return result

    def edit_at(name):
        real_checkpoint(name)
        if name == "journal-marked-written":
            (root / victim).write_bytes(rel52.original[victim] + edit)

    for hook_point in ("after-plan", "during-run"):
        root = copy_tree(RELEASE, tmp_path / hook_point)
        with monkeypatch.context() as m:
            if hook_point == "after-plan":
                m.setattr(engine, "plan", plan_then_edit)
            else:
                m.setattr(bake, "_checkpoint", edit_at)
            with pytest.raises(bake.BakeError, match="eagle_utils.py changed") as err:
                bake.apply(root, FIXES)
            assert "nothing was changed" in str(err.value)
        assert (root / victim).read_bytes() == rel52.original[victim] + edit
        assert all((root / r).read_bytes() == rel52.original[r] for r in rel52.baked if r != victim)
        assert not leftovers(root) and bake.load_manifest(root)["files"] == {}


# --- read-only trees, as an unprivileged user ---------------------------------------------------


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


def as_unprivileged(fn) -> str:
    """Run ``fn`` in a forked child as user ``nobody`` (root ignores file modes) - or as
    ourselves when we are not root. Returns 'ok' or the exception's text."""
    user = nobody()
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
            fn()
            message = "ok"
        except BaseException as exc:  # reported to the parent
            message, code = f"{type(exc).__name__}: {exc}", 1
        os.write(w, message.encode())
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        message = fh.read().decode()
    os.waitpid(pid, 0)
    return message


@pytest.fixture
def shared_tmp():
    """A folder an unprivileged user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="bake-ro-"))
    folder.chmod(0o755)
    yield folder
    for p in [folder, *folder.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(folder, ignore_errors=True)


def chown_tree(root: Path, user) -> None:
    if os.geteuid() == 0:
        for p in [root, *root.rglob("*")]:
            os.lchown(p, user.pw_uid, user.pw_gid)


@pytest.mark.parametrize("how", ["whole-tree", "one-directory", "one-file"])
def test_read_only_tree_is_refused_without_change(how, rel52, shared_tmp):
    """As an unprivileged user: a tree it may not write (whole, one target directory, one
    target file): apply refuses up front with a clear message and creates nothing, not
    even the state folder.

    Checked to fail without the protection: with the writability check and the dry-run
    pre-flight removed, one-file: the rename replaced the 0444 file (fails: 'ok');
    one-directory: EACCES half-way, rolled back, but no up-front refusal (fails the
    message). whole-tree is refused by the lock as well (no state folder can be made)."""
    root = copy_tree(RELEASE, shared_tmp / "tree")
    user = nobody()
    if how != "whole-tree":
        chown_tree(root, user)
    ro = {"whole-tree": root, "one-directory": root / "sglang/srt/speculative",
          "one-file": root / "sglang/srt/configs/model_config.py"}[how]
    for p in [root, *root.rglob("*")] if how == "whole-tree" else [ro]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = snapshot(root)
    message = as_unprivileged(lambda: bake.apply(root, FIXES))
    assert message.startswith("BakeError: the tree is read-only here"), message
    assert str(ro) in message or how == "whole-tree"
    assert "nothing was changed" in message
    assert snapshot(root) == before and not (root / STATE).exists()


def test_permission_error_half_way_rolls_back(rel52, shared_tmp, monkeypatch):
    """The kernel's own EACCES in the middle of a run (the up-front check bypassed to get
    there: a directory that is read-only for an unprivileged user): the run rolls back,
    says so, and the tree's files are as they were.

    Checked to fail without the protection: with the in-process rollback removed, the
    journal was left behind with the run half done (fails: leftovers)."""
    root = copy_tree(RELEASE, shared_tmp / "tree")
    chown_tree(root, nobody())
    (root / "sglang/srt/speculative").chmod(0o555)  # temporaries there: EACCES
    monkeypatch.setattr(bake, "_check_writable", lambda *a: None)
    message = as_unprivileged(lambda: bake.apply(root, FIXES))
    assert message.startswith("BakeError: apply failed and was rolled back, nothing was changed")
    assert "Permission denied" in message
    assert snapshot(root) == rel52.snapshot and not leftovers(root)
    assert bake.load_manifest(root)["files"] == {}


def test_verify_and_refused_revert_on_a_read_only_baked_tree(rel52, shared_tmp):
    """A baked tree made read-only (an image layer): verify passes as an unprivileged user,
    revert refuses with a clear message and changes nothing.

    Checked to fail without the protection: with revert's writability check removed, revert
    failed on EACCES while creating the journal, with the raw error (fails the message match)."""
    root = copy_tree(RELEASE, shared_tmp / "tree")
    bake.apply(root, FIXES)
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = snapshot(root)
    def verify_passes():
        problems = bake.verify(root, FIXES).problems
        assert not problems, problems

    assert as_unprivileged(verify_passes) == "ok"
    message = as_unprivileged(lambda: bake.revert(root))
    assert message.startswith("BakeError: the tree is read-only here"), message
    assert snapshot(root) == before


# --- two bakes at once -------------------------------------------------------------------------


HOLD_LOCK = """
import sys
from sglang_spec_patches import bake
with bake.locked(sys.argv[1], exclusive=True):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_second_bake_is_refused_while_one_holds_the_lock(rel52, tmp_path):
    """Another process holds the bake lock: apply and revert say 'another bake is running',
    exit 2 and change nothing; once it lets go, apply runs.

    Checked to fail without the protection: with the flock call removed from
    ``bake.locked``, the apply ran while the lock was held (fails: exit code 0)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)], cwd=REPO, env=clean_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for command in ("apply", "revert"):
            proc = run_cli(command, "--sglang-root", root)
            assert proc.returncode == 2 and "another bake is running" in proc.stderr, proc.stderr
        assert snapshot(root) == rel52.snapshot
    finally:
        holder.communicate("")
    assert run_cli("apply", "--sglang-root", root).returncode == 0
    assert consistent(root, rel52) == "baked"


def test_racing_bakes_leave_one_consistent_bake(rel52, tmp_path):
    """Several applies started together: each either bakes or is told another bake is
    running; the tree ends baked and consistent. (A sanity check: the lock test above is
    the one that fails without the lock.)"""
    root = copy_tree(RELEASE, tmp_path / "tree")
    procs = [subprocess.Popen([sys.executable, "-m", "sglang_spec_patches.cli", "apply", "--sglang-root",
                               str(root)], cwd=REPO, env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.communicate(timeout=60)[1], p.returncode)[::-1] for p in procs]
    for code, err in results:
        assert code == 0 or (code == 2 and "another bake is running" in err), err
    assert any(code == 0 for code, _ in results)
    assert consistent(root, rel52) == "baked"


def test_bake_starting_during_the_first_check_of_a_fresh_tree_is_another_bake(rel52, tmp_path, monkeypatch):
    """On a tree never baked, apply's up-front check runs without a lock (no lock file yet):
    a bake that starts and writes meanwhile is reported as another bake, not as a stranger's
    edit (the race the test above runs into under load).

    Checked to fail without it: "eagle_utils.py changed since the plan was made"."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    victim = "sglang/srt/speculative/eagle_utils.py"
    real_plan, calls = engine.plan, []

    def plan_then_another_bake(tree, *a, **k):
        result = real_plan(tree, *a, **k)
        if not calls:
            calls.append(tree.root)
            bake.state_dir(tree.root).mkdir()
            (tree.root / victim).write_bytes(rel52.baked[victim])
        return result

    monkeypatch.setattr(engine, "plan", plan_then_another_bake)
    with pytest.raises(bake.BakeError, match="another bake is running"):
        bake.apply(root, FIXES)
    assert calls


# --- bytecode ----------------------------------------------------------------------------------


def loaded_code(path: Path):
    """What ``import`` would run for this file, cached bytecode included."""
    return importlib.machinery.SourceFileLoader("m", str(path)).get_code("m")


@pytest.mark.parametrize("kind", ["unchecked-hash", "timestamp-same-second"])
def test_stale_bytecode_cannot_bring_old_code_back(kind, rel52, tmp_path):
    """A .pyc of the old source that Python would trust after the bake - an unchecked-hash
    one (``compileall --invalidation-mode unchecked-hash``), or a timestamp one whose
    mtime and size happen to match - is removed by apply and by revert, so the module runs
    the code on disk; verify names an unchecked-hash .pyc that was put back.

    Checked to fail without the protection: with ``_remove_bytecode`` made a no-op, the
    loader returned the unpatched code object after apply (fails the code comparison);
    with verify's unchecked-hash check removed, verify found nothing (fails)."""
    root = copy_tree(RELEASE, tmp_path / "tree")
    rel = "sglang/srt/speculative/eagle_utils.py"
    path = root / rel
    cfile = importlib.util.cache_from_source(str(path))

    def plant(old: bytes, new_size: int) -> None:
        if kind == "unchecked-hash":
            py_compile.compile(str(path), cfile=cfile, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        else:  # a timestamp .pyc of the old source claiming the new file's mtime and size
            py_compile.compile(str(path), cfile=cfile)
            data = bytearray(Path(cfile).read_bytes())
            data[8:16] = int(1_700_000_000).to_bytes(4, "little") + new_size.to_bytes(4, "little")
            Path(cfile).write_bytes(bytes(data))

    def settle_mtime() -> None:
        if kind != "unchecked-hash":
            os.utime(path, (1_700_000_000, 1_700_000_000))  # "the same second"

    plant(rel52.original[rel], len(rel52.baked[rel]))
    bake.apply(root, FIXES)
    settle_mtime()
    assert loaded_code(path) == compile(rel52.baked[rel], str(path), "exec", dont_inherit=True)
    if kind == "unchecked-hash":
        (root / rel).write_bytes(rel52.original[rel])
        plant(rel52.original[rel], 0)
        (root / rel).write_bytes(rel52.baked[rel])
        problems = bake.verify(root, FIXES).problems
        assert problems == [f"{rel}: {Path(cfile).name} holds old code that Python loads unchecked"]
    plant(rel52.baked[rel], len(rel52.original[rel]))
    bake.revert(root)
    settle_mtime()
    assert loaded_code(path) == compile(rel52.original[rel], str(path), "exec", dont_inherit=True)
