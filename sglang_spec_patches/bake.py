"""Bake mode: write the fixes into an SGLang tree on disk, check them, take them out.

The text written is ``plan.texts`` - the very text the import hook compiles - in the
file's own encoding, byte-order mark and line endings (``sources.py``), so Python reads
the same text from a baked file as the hook compiles, and the hook sees a baked tree as
``already-fixed``.

State lives in ``<root>/.sglang-spec-patches/`` (``<root>`` contains the ``sglang``
package). It sits beside the package, not inside it: ``pip uninstall sglang`` must not
leave an ``sglang/`` folder behind that would import as an empty namespace package, and
a dotted, dashed name can never be imported.

* ``manifest.json`` - what is baked: per file the original and baked sha256 and the fixes
  in it; per fix its family. Written only after every file of a run is in place.
* ``blobs/<sha256>`` - byte copies of the original files (revert restores them byte for
  byte) and, during a run, of every file's previous bytes (for rolling back).
* ``journal.json`` - exists only while a run is in flight. Written and fsynced before
  anything else: the files, their hashes before and after, the temporary file names, the
  manifest to write at the end and the one to put back on a rollback.
* ``lock`` - ``flock``ed: one bake at a time (readers share it). Never deleted, so two
  processes can never lock two different lock files.

A run (each step is a numbered checkpoint, see the fault injectors below): write the
journal; save every file's previous bytes as blobs; write each new file to a temporary
file beside its target (fsync); re-hash each target and rename the temporary file over it
(fsync the directory); write the manifest; remove the modules' bytecode; remove the
journal. An error (EACCES, EROFS, a file edited meanwhile) rolls the run back before it
returns. A run killed at any point is settled by the next apply, revert, verify or status:
finished when every file is either in place or has a complete, hash-verified temporary
file, rolled back otherwise - never a mix of old and new files of one run.

Before anything is created, ``apply`` and ``revert`` do a dry run of themselves, so every
refusal (read-only files, a symlink leading out, an edited file) leaves the tree as it was.

Stale bytecode: after writing, ``__pycache__/<module>.*.pyc`` of every written file is
removed. A timestamp ``.pyc`` is only checked against the source's mtime and size (one
second resolution, so a rename in the same second may look current), and an
``unchecked-hash`` ``.pyc`` is never checked at all: either would bring back old code.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import secrets
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from . import __version__, diffs, engine

STATE_DIR = ".sglang-spec-patches"
MANIFEST, JOURNAL, LOCK, BLOBS = "manifest.json", "journal.json", "lock", "blobs"
FORMAT = 1

# Test-only fault injectors, read by nothing but this module. Every step of a run passes a
# numbered checkpoint; the value names a checkpoint by number or by name.
CRASH_ENV = "SGLANG_SPEC_PATCHES_CRASH_AT"  # SIGKILL this process there (a crash)
FAIL_ENV = "SGLANG_SPEC_PATCHES_FAIL_AT"  # raise OSError(EROFS) there (a disk turned read-only)

_SHA = re.compile(r"^[0-9a-f]{64}$")
_TXID = re.compile(r"^[0-9a-f]{12}$")
_reached: list[str] = []


class BakeError(Exception):
    """Refused or failed; the message says why and whether anything changed."""


def _checkpoint(name: str) -> None:
    _reached.append(name)
    here = {str(len(_reached)), name}
    if os.environ.get(CRASH_ENV) in here:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(FAIL_ENV) in here:
        raise OSError(errno.EROFS, f"injected fault at checkpoint {len(_reached)} ({name})")


def checkpoints_reached() -> list[str]:
    """The checkpoints the last operation passed, in order (for the fault tests)."""
    return list(_reached)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _write_new(path: Path, data: bytes, like: Path | None = None, halfway: str | None = None) -> None:
    """Create ``path`` (never following or reusing an existing entry) with ``data``, fsynced,
    with the mode and, where allowed, the owner of ``like``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if like is not None:
            st = like.stat()
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                with contextlib.suppress(OSError):
                    os.fchown(fd, st.st_uid, st.st_gid)
        else:
            os.fchmod(fd, 0o644)
        view = memoryview(data)
        half = len(data) // 2 if halfway else 0
        _write_all(fd, view[:half])
        if halfway:
            _checkpoint(halfway)  # a crash here leaves a truncated temporary file
        _write_all(fd, view[half:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes, checkpoint: str | None = None) -> None:
    """State files: temp + fsync + rename + fsync(dir)."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        _write_new(tmp, data)
        if checkpoint:
            _checkpoint(checkpoint)  # a crash here leaves only a temporary file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def bytecode_files(path: Path) -> list[Path]:
    """Every interpreter's and optimisation level's cached bytecode of a module file."""
    cache = path.parent / "__pycache__"
    return sorted(cache.glob(f"{path.stem}.*.pyc")) if cache.is_dir() else []


def bytecode_loading_old_code(path: Path) -> list[Path]:
    """This interpreter's ``.pyc`` files of ``path`` that Python would load although they
    were not compiled from the file's current bytes: unchecked-hash ones with another hash.
    (A timestamp ``.pyc`` cannot be judged from its header; bake removes them all.)"""
    data = path.read_bytes()
    bad = []
    for pyc in bytecode_files(path):
        head = (_read(pyc) or b"")[:16]
        if len(head) == 16 and head[:4] == importlib.util.MAGIC_NUMBER:
            flags = int.from_bytes(head[4:8], "little")
            if flags == 0b01 and head[8:16] != importlib.util.source_hash(data):
                bad.append(pyc)
    return bad


# --- where things are -------------------------------------------------------------------


def state_dir(root: Path) -> Path:
    state = Path(root) / STATE_DIR
    if state.is_symlink():
        raise BakeError(f"{state} is a symbolic link; refusing to use it (nothing was changed)")
    return state


def _package(root: Path) -> Path:
    pkg = Path(root) / "sglang"
    if not pkg.is_dir():
        raise BakeError(f"{root} does not contain an 'sglang' package")
    return pkg.resolve()


def target(root: Path, rel: str, must_exist: bool = True) -> Path:
    """The real path of a file a fix may write: a regular file (not a symbolic link) that
    resolves inside the ``sglang`` package, whatever symlinks the path goes through."""
    try:
        diffs.check_path(rel)
        if os.path.isabs(rel) or os.path.normpath(rel) != rel or not rel.startswith("sglang/"):
            raise diffs.DiffError(f"path {rel!r} is not a plain path inside the sglang package")
    except diffs.DiffError as exc:
        raise BakeError(f"refusing to write {rel!r}: {exc}") from exc
    path = Path(root) / rel
    if path.is_symlink():
        raise BakeError(f"refusing to write {rel}: it is a symbolic link (bake writes regular files only)")
    real = path.resolve()
    if not real.is_relative_to(_package(root)):
        raise BakeError(f"refusing to write {rel}: it leads outside the sglang package, to {real}")
    if must_exist and not real.is_file():
        raise BakeError(f"refusing to write {rel}: not a regular file")
    return real


def _tmp_name(real: Path, txid: str, kind: str) -> Path:
    return real.with_name(f".{real.name}.sgsp-{txid}.{kind}")


# --- lock, manifest, journal --------------------------------------------------------------


@contextlib.contextmanager
def locked(root: Path, exclusive: bool):
    """Hold the bake lock (exclusive for writers, shared for readers). Yields None when the
    lock file cannot be created because the tree is read-only."""
    state = state_dir(root)
    fd = None
    try:
        if exclusive:
            state.mkdir(exist_ok=True)
        fd = os.open(state / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
            raise
        with contextlib.suppress(OSError):
            fd = os.open(state / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    if fd is None:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _another_bake(root) from None
        yield fd
    finally:
        os.close(fd)


def _another_bake(root: Path) -> BakeError:
    return BakeError(f"another bake is running on {root} (lock {state_dir(root) / LOCK} is held); "
                     "nothing was changed - try again when it has finished")


class ChangedSincePlan(BakeError):
    """A target's bytes differ from what the plan read."""


def _empty_manifest() -> dict:
    return {"format": FORMAT, "files": {}, "fixes": {}}


def load_manifest(root: Path) -> dict:
    """The manifest, checked: a hostile one must not name files outside the package."""
    path = state_dir(root) / MANIFEST
    raw = _read(path)
    if raw is None:
        return _empty_manifest()
    try:
        manifest = json.loads(raw)
        if manifest["format"] != FORMAT or not isinstance(manifest["fixes"], dict):
            raise ValueError("unknown format")
        for rel, entry in manifest["files"].items():
            diffs.check_path(rel)
            if not (_SHA.match(entry["original_sha256"]) and _SHA.match(entry["baked_sha256"])
                    and all(isinstance(f, str) for f in entry["fixes"])):
                raise ValueError(f"bad entry for {rel}")
    except (ValueError, KeyError, TypeError, AttributeError, diffs.DiffError) as exc:
        raise BakeError(f"{path} is unreadable or not ours ({type(exc).__name__}: {exc}); "
                        "refusing to act on it") from exc
    return manifest


def _blob_path(state: Path, digest: str) -> Path:
    return state / BLOBS / digest


def _put_blob(state: Path, data: bytes) -> str:
    digest = sha256(data)
    path = _blob_path(state, digest)
    if _read(path) is not None and sha256(path.read_bytes()) == digest:
        return digest
    path.parent.mkdir(exist_ok=True)
    _replace_atomically(path, data)
    return digest


def _get_blob(state: Path, digest: str) -> bytes | None:
    data = _read(_blob_path(state, digest))
    return data if data is not None and sha256(data) == digest else None


def _gc_blobs(state: Path, manifest: dict | None) -> None:
    keep = {e["original_sha256"] for e in (manifest or {}).get("files", {}).values()}
    folder = state / BLOBS
    for blob in folder.iterdir() if folder.is_dir() else ():
        if blob.name not in keep:
            blob.unlink(missing_ok=True)


# --- one run: a set of file changes and the manifest after them ---------------------------


@dataclass
class Change:
    rel: str
    real: Path
    before: bytes
    after: bytes


def _journal_entry(c: Change, txid: str) -> dict:
    tmp = PurePosixPath(c.rel).parent / _tmp_name(c.real, txid, "tmp").name
    return {"path": c.rel, "before_sha256": sha256(c.before), "after_sha256": sha256(c.after),
            "before_blob": f"{BLOBS}/{sha256(c.before)}", "tmp": str(tmp)}


def _write_journal(state: Path, journal: dict, checkpoint: str | None = None) -> None:
    _replace_atomically(state / JOURNAL, json.dumps(journal, indent=1).encode(), checkpoint)


def _remove_bytecode(reals: Iterable[Path]) -> None:
    for real in reals:
        for pyc in bytecode_files(real):
            pyc.unlink(missing_ok=True)


def _write_manifest(state: Path, manifest: dict | None) -> None:
    """Replace the manifest atomically; None (or no files left) removes it."""
    if manifest is None or not manifest["files"]:
        (state / MANIFEST).unlink(missing_ok=True)
        _fsync_dir(state)
    else:
        _replace_atomically(state / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _finish(state: Path, txid: str, reals: list[Path], manifest: dict | None, prefix: str = "") -> None:
    for real in reals:  # whatever a crash left of this run's temporary files
        for kind in ("tmp", "restore"):
            _tmp_name(real, txid, kind).unlink(missing_ok=True)
    _remove_bytecode(reals)
    _checkpoint(prefix + "bytecode-removed")
    (state / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(state)
    _checkpoint(prefix + "journal-removed")
    _gc_blobs(state, manifest)


def _run(root: Path, op: str, changes: list[Change], manifest: dict | None) -> None:
    """Write ``changes`` and then ``manifest`` (None: remove it) as one recoverable run."""
    state = state_dir(root)
    txid = secrets.token_hex(6)
    journal = {"format": FORMAT, "op": op, "txid": txid, "pid": os.getpid(), "started": time.time(),
               "tool_version": __version__, "phase": "prepared",
               "files": [_journal_entry(c, txid) for c in changes],
               "manifest": manifest,
               "manifest_before": load_manifest(root) if (state / MANIFEST).exists() else None}
    try:
        _write_journal(state, journal, "journal-temp-written")  # on disk before anything else is
    except OSError as exc:
        raise BakeError(f"{op} could not start, nothing was changed: {exc}") from exc
    try:
        _checkpoint("journal-written")
        for c in changes:  # the previous bytes, so that a rollback can restore them
            _put_blob(state, c.before)
        _fsync_dir(state)
        _checkpoint("blobs-saved")
        for c in changes:
            _write_new(_tmp_name(c.real, txid, "tmp"), c.after, like=c.real, halfway=f"temp-half-written:{c.rel}")
            _checkpoint(f"temp-written:{c.rel}")
        journal["phase"] = "written"
        _write_journal(state, journal)
        _checkpoint("journal-marked-written")
        for c in changes:
            now = _read(c.real)
            if now is None or sha256(now) != sha256(c.before):
                raise BakeError(f"{c.rel} changed while this run was writing (someone else edited it)")
            os.replace(_tmp_name(c.real, txid, "tmp"), c.real)
            _fsync_dir(c.real.parent)
            _checkpoint(f"renamed:{c.rel}")
        journal["phase"] = "renamed"
        _write_journal(state, journal)
        _checkpoint("journal-marked-renamed")
        _write_manifest(state, manifest)
        _checkpoint("manifest-written")
    except BaseException as exc:
        try:
            _settle(root, state, journal, force_back=True)
        except Exception as undo_exc:
            raise BakeError(f"{op} failed ({exc}) and rolling it back failed too ({undo_exc}); "
                            f"{state / JOURNAL} is kept: the next command retries") from exc
        if isinstance(exc, (OSError, BakeError)):
            raise BakeError(f"{op} failed and was rolled back, nothing was changed: {exc}") from exc
        raise
    try:
        _finish(state, txid, [c.real for c in changes], manifest)
    except OSError as exc:
        raise BakeError(f"{op} is complete but its clean-up failed ({exc}); the next command finishes it") from exc


def _settle(root: Path, state: Path, journal: dict, force_back: bool = False) -> str:
    """Finish or roll back the run the journal describes; return what was done.

    Forward when every file is either already new or has a complete temporary file
    (hash-verified); otherwise back. Both directions are safe to interrupt and repeat.
    """
    txid = journal["txid"]
    if not _TXID.match(txid):
        raise BakeError(f"{state / JOURNAL} has a bad run id {txid!r}")
    entries = []
    for e in journal["files"]:
        real = target(root, e["path"], must_exist=False)
        now = _read(real)
        tmp = _tmp_name(real, txid, "tmp")
        tmp_ok = (not tmp.is_symlink() and tmp.is_file() and sha256(tmp.read_bytes()) == e["after_sha256"])
        entries.append((e, real, None if now is None else sha256(now), tmp, tmp_ok))
    reals = [real for _, real, *_ in entries]
    forward = not force_back and all(
        cur == e["after_sha256"] or (cur == e["before_sha256"] and tmp_ok) for e, _, cur, _, tmp_ok in entries)
    if forward:
        for e, real, cur, tmp, _ in entries:
            if cur != e["after_sha256"]:
                fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    os.fsync(fd)  # the crashed run may not have
                finally:
                    os.close(fd)
                os.replace(tmp, real)
                _fsync_dir(real.parent)
                _checkpoint(f"recover-renamed:{e['path']}")
        _write_manifest(state, journal["manifest"])
        _checkpoint("recover-manifest-written")
        _finish(state, txid, reals, journal["manifest"], prefix="recover-")
        return f"finished an interrupted {journal['op']} ({len(entries)} file(s))"
    # Back: temporaries go first, so that a crash from here on can only roll back again.
    for _, _, _, tmp, _ in entries:
        tmp.unlink(missing_ok=True)
    left_alone = []
    for e, real, cur, _, _ in entries:
        if cur == e["after_sha256"]:
            old = _get_blob(state, e["before_sha256"])
            if old is None:
                raise BakeError(f"cannot roll back {e['path']}: its saved copy {e['before_blob']} is "
                                f"missing or damaged; {state / JOURNAL} is kept")
            restore = _tmp_name(real, txid, "restore")
            restore.unlink(missing_ok=True)
            _write_new(restore, old, like=real, halfway=f"recover-restore-half-written:{e['path']}")
            os.replace(restore, real)
            _fsync_dir(real.parent)
            _checkpoint(f"recover-restored:{e['path']}")
        elif cur != e["before_sha256"]:
            left_alone.append(e["path"])  # neither ours nor what we found: someone else's edit
    _write_manifest(state, journal["manifest_before"])
    _checkpoint("recover-manifest-restored")
    _finish(state, txid, reals, journal["manifest_before"], prefix="recover-")
    note = f" ({', '.join(left_alone)} changed by someone else meanwhile: left as it is)" if left_alone else ""
    return f"rolled back an interrupted {journal['op']} ({len(entries)} file(s)){note}"


def pending(root: Path) -> bool:
    """Whether a crashed run awaits settling (or left a half-written journal to sweep)."""
    state = state_dir(root)
    return (state / JOURNAL).is_file() or any(state.glob(f"{JOURNAL}.*.tmp"))


def _recover_locked(root: Path) -> str | None:
    state = state_dir(root)
    for leftover in state.glob(f"{JOURNAL}.*.tmp") if state.is_dir() else ():
        leftover.unlink(missing_ok=True)  # a journal never completed: no target was touched
    if not (state / JOURNAL).is_file():
        return None
    try:
        journal = json.loads((state / JOURNAL).read_bytes())
    except ValueError as exc:
        raise BakeError(f"{state / JOURNAL} is unreadable ({exc}); refusing to guess") from exc
    try:
        return _settle(root, state, journal)
    except (KeyError, TypeError) as exc:
        raise BakeError(f"{state / JOURNAL} is not a journal of ours ({exc!r}); refusing to guess") from exc


def recover(root: Path) -> str | None:
    """Settle a crashed run, if there is one (takes the lock). Returns what was done."""
    _reached.clear()
    if not pending(root):
        return None
    with locked(root, exclusive=True) as lock:
        if lock is None:
            raise BakeError(f"an interrupted bake in {root} needs finishing but the tree is not writable")
        return _recover_locked(root)


# --- apply / revert / verify ----------------------------------------------------------------


@dataclass
class Outcome:
    op: str
    root: Path
    plan: engine.Plan | None = None
    written: list[str] = field(default_factory=list)
    recovered: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def manifest_path(self) -> Path:
        return self.root / STATE_DIR / MANIFEST

    def as_dict(self) -> dict:
        return {"op": self.op, "sglang_root": str(self.root), "dry_run": self.dry_run,
                "written": self.written, "recovered": self.recovered, "problems": self.problems,
                "notes": self.notes, "manifest": str(self.manifest_path)}


def _check_writable(root: Path, reals: Iterable[Path]) -> None:
    bad: dict[Path, None] = {}
    for real in reals:
        for p in (real, real.parent):
            if not os.access(p, os.W_OK):
                bad[p] = None
        if bytecode_files(real) and not os.access(real.parent / "__pycache__", os.W_OK):
            bad[real.parent / "__pycache__"] = None  # stale bytecode could not be removed
    state = state_dir(root)
    if not os.access(state if state.is_dir() else root, os.W_OK):
        bad[state if state.is_dir() else root] = None
    if bad:
        raise BakeError("the tree is read-only here: cannot write " + ", ".join(map(str, bad))
                        + "; nothing was changed")


def _baked_manifest(manifest: dict, plan: engine.Plan, changes: list[Change]) -> tuple[dict, list[str]]:
    files = {rel: dict(e) for rel, e in manifest["files"].items()}
    notes = []
    for c in changes:
        old = files.get(c.rel)
        if old and old["baked_sha256"] == sha256(c.before):
            original, prior = old["original_sha256"], old["fixes"]  # more fixes on a baked file
        else:
            if old:
                notes.append(f"{c.rel}: manifest entry was stale (file changed since it was baked); "
                             "revert will restore the file as it was before this run")
            original, prior = sha256(c.before), []
        files[c.rel] = {"original_sha256": original, "baked_sha256": sha256(c.after),
                        "fixes": sorted(set(prior) | set(plan.fixes_for(c.rel)))}
    fixes = dict(manifest["fixes"])
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for d in plan.decisions:
        if d.state == engine.APPLIES:
            fixes[d.fix] = {"family": d.family, "files": list(d.files), "baked_at": now}
    in_use = {f for e in files.values() for f in e["fixes"]}
    fixes = {k: v for k, v in fixes.items() if k in in_use}
    return {"format": FORMAT, "tool": "sglang-spec-patches", "tool_version": __version__,
            "sglang_version": plan.version, "updated": now, "files": files, "fixes": fixes}, notes


def _bake_locked(root: Path, plan: engine.Plan, tree: engine.SourceTree | None, can_write: bool,
                 out: Outcome) -> None:
    changes = []
    for rel in plan.texts:
        real = target(root, rel)
        before = real.read_bytes()
        seen = tree.source(rel) if tree is not None else None
        if seen is not None and seen.data != before:
            raise ChangedSincePlan(f"{rel} changed since the plan was made; nothing was changed")
        after = plan.encoded(rel)  # the hook's text in the file's own encoding and line endings
        if after != before:
            changes.append(Change(rel, real, before, after))
    out.written = sorted(c.rel for c in changes)
    if not changes:
        return
    if not can_write:
        raise BakeError(f"the tree is read-only here: cannot create {state_dir(root)}; nothing was changed")
    _check_writable(root, [c.real for c in changes])
    manifest, out.notes = _baked_manifest(load_manifest(root), plan, changes)
    if not out.dry_run:
        _run(root, "apply", changes, manifest)


def _settle_first(root: Path, lock, out: Outcome) -> None:
    """Writers settle a crashed run before anything else; a dry run only says so."""
    if not pending(root):
        return
    if out.dry_run:
        out.notes.append("an interrupted bake awaits settling; the next apply, revert, verify or status does it")
    elif lock is None:
        raise BakeError(f"an interrupted bake in {root} needs finishing but the tree is not writable")
    else:
        out.recovered = _recover_locked(root)


def apply(root: Path, fixes: Iterable[engine.Fix] | None = None, disabled: Iterable[str] = (),
          version: str | None = None, dry_run: bool = False) -> Outcome:
    """Plan under the lock and write the plan's texts. Declined fixes are not written (the
    plan leaves them out); the outcome's plan says which."""
    root = Path(root)
    _package(root)
    fixes = tuple(engine.load_fixes() if fixes is None else fixes)
    if not dry_run and not pending(root):
        fresh = not state_dir(root).exists()
        try:
            apply(root, fixes, disabled, version, dry_run=True)  # refusals come before anything is created
        except ChangedSincePlan:
            # On a tree never baked the check runs without a lock (there is no lock file to
            # share yet): a bake that started meanwhile, not a stranger's edit, changed it.
            if fresh and state_dir(root).exists():
                raise _another_bake(root) from None
            raise
    _reached.clear()
    out = Outcome("apply", root, dry_run=dry_run)
    with locked(root, exclusive=not dry_run) as lock:
        _settle_first(root, lock, out)
        tree = engine.SourceTree(root)
        out.plan = engine.plan(tree, fixes, disabled=disabled, version=version)
        _bake_locked(root, out.plan, tree, dry_run or lock is not None, out)
    return out


def write_plan(plan: engine.Plan, dry_run: bool = False) -> list[str]:
    """Bake a plan the caller made (same run, lock and journal as ``apply``); return the
    files written. ``apply`` is preferred: it plans under the lock."""
    _reached.clear()
    root = Path(plan.root)
    out = Outcome("apply", root, plan=plan, dry_run=dry_run)
    with locked(root, exclusive=not dry_run) as lock:
        _settle_first(root, lock, out)
        _bake_locked(root, plan, None, dry_run or lock is not None, out)
    return out.written


def baked_fixes(manifest: dict) -> set[str]:
    return {f for e in manifest["files"].values() for f in e["fixes"]}


def revert(root: Path, only: Iterable[str] = (), dry_run: bool = False) -> Outcome:
    """Restore the original bytes of every baked file (of the named fixes). Refuses, changing
    nothing, when a file changed since it was baked or shares files with a fix not named."""
    root, only = Path(root), tuple(only)
    _package(root)
    if not dry_run and not pending(root):
        revert(root, only, dry_run=True)  # refusals come before anything is created
    _reached.clear()
    out = Outcome("revert", root, dry_run=dry_run)
    if not state_dir(root).is_dir():
        out.notes += [f"{fix} is not baked here: nothing to revert for it" for fix in sorted(set(only))]
        return out  # never baked: nothing to do, and nothing to create
    with locked(root, exclusive=not dry_run) as lock:
        _settle_first(root, lock, out)
        manifest = load_manifest(root)
        baked = baked_fixes(manifest)
        named = set(only) or baked
        for fix in sorted(set(only) - baked):
            out.notes.append(f"{fix} is not baked here: nothing to revert for it")
        rels = sorted(rel for rel, e in manifest["files"].items() if set(e["fixes"]) & named)
        also = {f for rel in rels for f in manifest["files"][rel]["fixes"]} - named
        if also:
            raise BakeError(f"the named fix(es) share files with baked fix(es) {', '.join(sorted(also))}; "
                            "a file is reverted whole, so name those too (or none); nothing was changed")
        state = state_dir(root)
        changes, refused = [], []
        for rel in rels:
            entry = manifest["files"][rel]
            real = target(root, rel)
            now = real.read_bytes()
            if sha256(now) == entry["original_sha256"]:
                out.notes.append(f"{rel} is already the original (SGLang reinstalled?)")
                continue
            if sha256(now) != entry["baked_sha256"]:
                refused.append(f"{rel} changed since it was baked (sha256 {sha256(now)[:12]}, "
                               f"baked {entry['baked_sha256'][:12]})")
                continue
            original = _get_blob(state, entry["original_sha256"])
            if original is None:
                refused.append(f"{rel}: the saved original {BLOBS}/{entry['original_sha256']} is missing or damaged")
                continue
            changes.append(Change(rel, real, now, original))
        if refused:
            raise BakeError("refusing to revert, nothing was changed: " + "; ".join(refused)
                            + f" (if SGLang was upgraded since, {state} records an old bake: remove it)")
        out.written = [c.rel for c in changes]
        if not rels:
            return out
        files = {r: e for r, e in manifest["files"].items() if r not in rels}
        new = dict(manifest, files=files, fixes={k: v for k, v in manifest["fixes"].items()
                                                 if k in {f for e in files.values() for f in e["fixes"]}})
        if lock is None and not dry_run:
            raise BakeError(f"the tree is read-only here: cannot write {state}; nothing was changed")
        _check_writable(root, [c.real for c in changes])
        if not dry_run:
            _run(root, "revert", changes, new if files else None)
    return out


def verify(root: Path, fixes: Iterable[engine.Fix] | None = None, only: Iterable[str] = (),
           disabled: Iterable[str] = (), version: str | None = None) -> Outcome:
    """Check the tree is as baked: every manifest file has its baked hash, the engine says
    ``already-fixed`` for every baked fix, no fix still applies, no bytecode would load old
    code. Problems are listed in the outcome (empty: verified)."""
    _reached.clear()
    root = Path(root)
    _package(root)
    out = Outcome("verify", root)
    if pending(root):
        out.recovered = recover(root)
    with locked(root, exclusive=False):
        manifest = load_manifest(root)
        only = set(only)
        for rel, entry in sorted(manifest["files"].items()):
            if only and not only & set(entry["fixes"]):
                continue
            real = target(root, rel)
            data = _read(real)
            if data is None:
                out.problems.append(f"{rel}: baked file is missing")
            elif sha256(data) == entry["original_sha256"]:
                out.problems.append(f"{rel}: back to its original bytes (SGLang reinstalled?): run apply")
            elif sha256(data) != entry["baked_sha256"]:
                out.problems.append(f"{rel}: changed since it was baked (sha256 {sha256(data)[:12]}, "
                                    f"baked {entry['baked_sha256'][:12]})")
            else:
                out.problems += [f"{rel}: {pyc.name} holds old code that Python loads unchecked"
                                 for pyc in bytecode_loading_old_code(real)]
        out.plan = engine.plan(engine.SourceTree(root), fixes, version=version)
        baked, disabled = baked_fixes(manifest), set(disabled)
        for d in out.plan.decisions:
            if d.fix in baked and d.state != engine.ALREADY_FIXED:
                out.problems.append(f"{d.fix}: baked, but the engine says {d.state}: {d.reason}")
            elif d.state == engine.APPLIES and d.fix not in disabled:
                out.problems.append(f"{d.fix}: applies but is not baked: run apply")
            elif d.state == engine.DECLINED:
                out.problems.append(f"{d.fix}: declined: {d.reason}")
        known = {d.fix for d in out.plan.decisions}
        for fix in sorted(baked - known):
            if not only or fix in only:
                out.notes.append(f"{fix}: baked, but not in this version's catalog")
    return out


def summary(root: Path) -> dict:
    """What the manifest says (for ``status``); never raises."""
    try:
        manifest = load_manifest(root)
    except BakeError as exc:
        return {"manifest": str(Path(root) / STATE_DIR / MANIFEST), "error": str(exc)}
    return {"manifest": str(Path(root) / STATE_DIR / MANIFEST) if manifest["files"] else None,
            "fixes": sorted(baked_fixes(manifest)), "files": sorted(manifest["files"]),
            "pending": pending(root)}
