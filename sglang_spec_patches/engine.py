"""The engine: which fix applies to which SGLang source tree, and the patched text.

A fix is a folder under ``patches/``: ``fix.json`` plus one unified diff per SGLang
family. Whether a fix applies is decided by the source alone:

* forward diff matches      -> ``applies``
* reverse diff matches      -> ``already-fixed`` (baked, or patched by hand), also
                               when found re-anchored and it round-trips exactly
* the fix's "fixed when"    -> ``not-applicable``: "the release carries the upstream fix"
  check proves the fix         where an upstream marker names what was found, else "the
                               tree carries an equivalent fix" (e.g. a downstream patch set)
* diff re-anchored, and the -> ``applies`` (a neighbouring downstream edit; see
  check holds on the result    ``diffs.apply_anchored``)
* target files absent       -> ``not-applicable`` (the release lacks the code)
* anything else             -> ``declined`` (code we do not recognise: never touched)

``not-applicable`` is a promise that the bug is absent, so it is given only on a proof:
an upstream marker (a regex on a line) never decides alone, whatever version the tree
reports; it only names what the check proved. A marker the check cannot back (dead
code, a partial fix, a spelling the check does not know) is reported in the ``declined``
reason. The version only decides which family's diff is tried first (and whether a
proven fix is called upstream's or a backport). A fix's "fixed when"
check is ``patches/<id>/fixed_when.py``: ``check(read) -> str | None``, where
``read(relpath)`` gives a file's text (or None) and the answer says what it proved.
The same file may define ``lacks_need(read) -> str | None``: a proof that the tree
lacks the code its bug needs in order to exist (the answer says what was proven), None
when it cannot prove it. Only a proof counts: then the two ``applies`` outcomes and
``declined`` become ``not-applicable`` ("release lacks what the bug needs"); every other
row keeps its order and reason, so a baked tree still reads ``already-fixed``. A tuple
``READS`` there names the files its functions read besides the fix's targets (the
matrix extracts them; the hook's plan cache tracks every file read anyway).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Callable, Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from . import diffs, sources

APPLIES = "applies"
ALREADY_FIXED = "already-fixed"
NOT_APPLICABLE = "not-applicable"
DECLINED = "declined"
DISABLED = "disabled"
STATES = (APPLIES, ALREADY_FIXED, NOT_APPLICABLE, DECLINED, DISABLED)

_FIX_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_FAMILY_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.diff$")
_VERSION_LINE = re.compile(r"""^__version__\s*=\s*(?:version\s*=\s*)?['"]([^'"]+)['"]""", re.M)
FIXED_WHEN_FILE = "fixed_when.py"
UPSTREAM_FIX = "release carries the upstream fix: "
TREE_FIX = "the tree carries an equivalent fix: "
LACKS_NEED = "release lacks what the bug needs: "


class FixDefinitionError(ValueError):
    """A fix folder is malformed: bad JSON, a bad field, a bad diff file."""


def default_patches_dir() -> Path:
    here = Path(__file__).resolve().parent
    shipped = here / "patches"  # inside an installed wheel
    return shipped if shipped.is_dir() else here.parent / "patches"  # source checkout


@dataclass(frozen=True)
class Family:
    name: str
    releases: SpecifierSet
    diff_file: Path
    patches: tuple[diffs.FilePatch, ...] | None  # None when the diff file is unusable
    problem: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.patches or ())


@dataclass(frozen=True)
class Marker:
    file: str
    pattern: re.Pattern[str]
    means: str


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    upstream: dict
    first_fixed: str
    families: tuple[Family, ...]
    markers: tuple[Marker, ...]
    folder: Path
    problem: str | None = None  # the folder is unusable: the fix is declined, never applied
    reads: tuple[str, ...] = ()  # other files its fixed_when.py reads (``READS``)

    @property
    def fixed_when(self) -> Path | None:
        path = self.folder / FIXED_WHEN_FILE
        return path if path.is_file() else None

    @property
    def paths(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for fam in self.families:
            seen.update(dict.fromkeys(fam.paths))
        seen.update(dict.fromkeys(m.file for m in self.markers))
        seen.update(dict.fromkeys(self.reads))
        return tuple(seen)


def _need(meta: dict, key: str, kind: type, where: Path):
    value = meta.get(key)
    if not isinstance(value, kind):
        raise FixDefinitionError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def load_fix(folder: Path) -> Fix:
    """Read one fix folder. A broken diff file marks its family unusable, not the fix."""
    meta_path = folder / "fix.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixDefinitionError(f"{meta_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise FixDefinitionError(f"{meta_path}: not a JSON object")
    fix_id = _need(meta, "id", str, meta_path)
    if not _FIX_ID.match(fix_id) or fix_id != folder.name:
        raise FixDefinitionError(f"{meta_path}: id {fix_id!r} must match folder name")
    families = []
    for raw in _need(meta, "families", list, meta_path):
        if not isinstance(raw, dict):
            raise FixDefinitionError(f"{meta_path}: a family must be an object")
        name = _need(raw, "name", str, meta_path)
        diff_name = _need(raw, "diff", str, meta_path)
        if not _FAMILY_FILE.match(diff_name):
            raise FixDefinitionError(f"{meta_path}: diff name {diff_name!r} is not a plain file name")
        try:
            releases = SpecifierSet(_need(raw, "releases", str, meta_path), prereleases=True)
        except InvalidSpecifier as exc:
            raise FixDefinitionError(f"{meta_path}: family {name}: {exc}") from exc
        diff_file = folder / diff_name
        try:
            if diff_file.is_symlink():
                raise diffs.DiffError("diff file is a symbolic link")
            patches, problem = diffs.parse(diff_file.read_text(encoding="utf-8")), None
        except (OSError, UnicodeDecodeError, diffs.DiffError) as exc:
            patches, problem = None, f"{diff_file.name}: {exc}"
        families.append(Family(name, releases, diff_file, patches, problem))
    if "needs" in meta:
        raise FixDefinitionError(f"{meta_path}: 'needs' is no longer read: prove what the bug needs "
                                 f"in {FIXED_WHEN_FILE} (lacks_need)")
    return Fix(
        id=fix_id,
        title=_need(meta, "title", str, meta_path),
        upstream=_need(meta, "upstream", dict, meta_path),
        first_fixed=_need(meta, "first_fixed", str, meta_path),
        families=tuple(families),
        markers=_patterns(meta.get("upstream_markers", []), "upstream marker", meta_path),
        folder=folder,
        reads=_declared_reads(folder, meta_path),
    )


def _declared_reads(folder: Path, meta_path: Path) -> tuple[str, ...]:
    """``READS`` of the fix's fixed_when.py, read from its syntax tree (not run here): a
    tuple of paths, spelled with string literals, module-level constants naming them (a
    path or a tuple of paths) and ``+``."""
    path = folder / FIXED_WHEN_FILE
    if not path.is_file():
        return ()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return ()  # the check itself reports it when it is loaded
    constants: dict[str, tuple] = {}

    def paths(node) -> tuple:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return (node.value,)
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(p for elt in node.elts for p in paths(elt))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return paths(node.left) + paths(node.right)
        raise TypeError(f"not a path or a tuple of paths: {ast.unparse(node)}")

    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name != "READS":
            try:
                constants[name] = paths(node.value)
            except TypeError:
                pass  # not a path constant
            continue
        try:
            if not isinstance(node.value, (ast.Tuple, ast.List, ast.Name, ast.BinOp)):
                raise TypeError("a tuple of paths expected")
            return tuple(diffs.check_path(rel) for rel in paths(node.value))
        except (TypeError, diffs.DiffError) as exc:
            raise FixDefinitionError(f"{meta_path}: bad READS in {FIXED_WHEN_FILE}: {exc}") from exc
    return ()


def _patterns(raws, what: str, meta_path: Path) -> tuple[Marker, ...]:
    """``upstream_markers``: a list of {file, pattern, means} objects."""
    if not isinstance(raws, list):
        raise FixDefinitionError(f"{meta_path}: bad {what}: a list of objects expected, got {type(raws).__name__}")
    out = []
    for raw in raws:
        try:
            file = diffs.check_path(raw["file"])
            if not isinstance(raw["means"], str) or not raw["means"].strip():
                raise TypeError(f"'means' of {file} must be a non-empty string")
            out.append(Marker(file, re.compile(raw["pattern"], re.M), raw["means"]))
        except (KeyError, TypeError, re.error, diffs.DiffError) as exc:
            raise FixDefinitionError(f"{meta_path}: bad {what}: {exc}") from exc
    return tuple(out)


def load_fixes(patches_dir: Path | None = None) -> tuple[Fix, ...]:
    """Every fix folder, in name order. A malformed folder becomes a fix that is
    always declined (with the reason), so one bad file cannot hide the others."""
    patches_dir = patches_dir or default_patches_dir()
    folders = sorted(p for p in patches_dir.iterdir() if (p / "fix.json").is_file())
    fixes = []
    for folder in folders:
        try:
            fixes.append(load_fix(folder))
        except FixDefinitionError as exc:
            fixes.append(Fix(folder.name, "", {}, "", (), (), folder, problem=str(exc)))
    return tuple(fixes)


class SourceTree:
    """An SGLang source tree: the directory that contains the ``sglang`` package.

    Files are read as Python reads them (``sources.py``: coding cookie, BOM, any line
    ending read as LF). Reads are cached, so one plan sees one snapshot of every file
    it looked at.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)
        if not (self.root / "sglang").is_dir():
            raise FileNotFoundError(f"{self.root} does not contain an 'sglang' package")
        self._files: dict[str, sources.Source | sources.UnreadableSource | None] = {}

    def source(self, relpath: str) -> sources.Source | None:
        """The file's bytes, text and form; None when it does not exist. Raises
        ``sources.UnreadableSource`` (every time) when it exists but cannot be read."""
        if relpath not in self._files:
            try:
                self._files[relpath] = sources.read(self.root / relpath, relpath)
            except sources.UnreadableSource as exc:
                self._files[relpath] = exc
        found = self._files[relpath]
        if isinstance(found, sources.UnreadableSource):
            raise sources.UnreadableSource(found.relpath, found.why)
        return found

    def read(self, relpath: str) -> str | None:
        """The file's text as Python reads it (LF line endings), None when it does not
        exist; raises ``sources.UnreadableSource`` when it cannot be read."""
        found = self.source(relpath)
        return None if found is None else found.text

    def files_read(self) -> set[str]:
        """The files this tree was asked for that exist (readable or not)."""
        return {rel for rel, found in self._files.items() if found is not None}

    def text_or_empty(self, relpath: str) -> str:
        """The file's text, or "" when it is absent or unreadable: for reports that only
        look for a name (the plugin loader, an environment variable), never for a fix."""
        try:
            return self.read(relpath) or ""
        except sources.UnreadableSource:
            return ""

    def version(self) -> str | None:
        """The release the source says it is: version files first, then dist-info."""
        for rel in ("sglang/_version.py", "sglang/version.py"):
            try:
                match = _VERSION_LINE.search(self.read(rel) or "")
            except sources.UnreadableSource:
                continue
            if match:
                return match[1]
        for meta in sorted(self.root.glob("sglang-*.dist-info/METADATA")):
            try:
                lines = meta.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
        return None


def parse_version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


@dataclass
class Decision:
    fix: str
    state: str
    reason: str
    family: str | None = None
    files: tuple[str, ...] = ()
    recognised: str | None = None  # what the fix's "fixed when" check found in the tree
    reanchored: tuple[str, ...] = ()  # per re-anchored hunk: where, and what differed

    def as_dict(self) -> dict:
        return {
            "fix": self.fix,
            "state": self.state,
            "reason": self.reason,
            "family": self.family,
            "files": list(self.files),
            "recognised": self.recognised,
            "reanchored": list(self.reanchored),
        }


def _families_in_order(fix: Fix, version: Version | None) -> list[Family]:
    """Families whose releases contain the version first; the rest after, newest first."""
    first = [f for f in fix.families if version is not None and version in f.releases]
    rest = [f for f in reversed(fix.families) if f not in first]
    return first + rest


def _apply_all(tree_texts: dict[str, str], fam: Family, reverse: bool) -> dict[str, str]:
    return {p.path: diffs.apply(tree_texts[p.path], p, reverse=reverse) for p in fam.patches}


def _apply_anchored(tree_texts: dict[str, str], fam: Family, reverse: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    texts, notes = {}, []
    for p in fam.patches:
        texts[p.path], hunk_notes = diffs.apply_anchored(tree_texts[p.path], p, reverse=reverse)
        notes += [f"{p.path} {note}" for note in hunk_notes]
    return texts, tuple(notes)


class CheckError(Exception):
    """A fix's fixed_when.py cannot be loaded or its check failed to run."""


_CHECK_MODULES: dict[Path, object] = {}


def _check_module(fix: Fix):
    """The fix's ``fixed_when.py``, loaded by path once per process (folder names have
    hyphens, so it is no importable module). None when the fix has none."""
    path = fix.fixed_when
    if path is None:
        return None
    key = path.resolve()
    if key not in _CHECK_MODULES:
        try:
            spec = importlib.util.spec_from_file_location(f"_sglang_spec_patches_fixed_when_{fix.id.replace('-', '_')}", key)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if not callable(getattr(module, "check", None)):
                raise CheckError(f"{FIXED_WHEN_FILE} has no check(read) function")
            _CHECK_MODULES[key] = module
        except CheckError as exc:
            _CHECK_MODULES[key] = exc
        except Exception as exc:  # any fault in a shipped check declines its fix, nothing more
            _CHECK_MODULES[key] = CheckError(f"{FIXED_WHEN_FILE} does not load: {type(exc).__name__}: {exc}")
    found = _CHECK_MODULES[key]
    if isinstance(found, CheckError):
        raise found
    return found


def load_check(fix: Fix) -> Callable | None:
    """The fix's ``check(read)``; None when the fix has no fixed_when.py."""
    module = _check_module(fix)
    return None if module is None else module.check


def load_lacks_need(fix: Fix) -> Callable | None:
    """The fix's ``lacks_need(read)``; None when its fixed_when.py has none."""
    module = _check_module(fix)
    found = getattr(module, "lacks_need", None)
    if found is not None and not callable(found):
        raise CheckError(f"{FIXED_WHEN_FILE}: lacks_need is not a function")
    return found


def run_check(check: Callable, read: Callable[[str], str | None]) -> str | None:
    try:
        found = check(read)
    except sources.UnreadableSource:
        raise  # the tree's file is at fault, not the check: decide() declines the fix for it
    except Exception as exc:  # a check that crashes on odd source must not crash the hook
        raise CheckError(f"{FIXED_WHEN_FILE} failed: {type(exc).__name__}: {exc}") from exc
    if found is not None and not isinstance(found, str):
        raise CheckError(f"{FIXED_WHEN_FILE} returned {type(found).__name__}, not str or None")
    return found or None


def _predates(version: Version | None, fix: Fix) -> bool:
    """A plain release tag older than the fix's first upstream release (an editable
    build's ``0.0.0.dev1+g<sha>`` says nothing)."""
    first = parse_version(fix.first_fixed)
    return (version is not None and first is not None and not version.is_devrelease
            and version.local is None and version < first)


def _unless_unneeded(fix: Fix, tree: SourceTree, decision: Decision) -> Decision:
    """``decision`` (applies or declined), or ``not-applicable`` when the fix's
    ``lacks_need`` proves the tree lacks what its bug needs."""
    lacks_need = load_lacks_need(fix)
    proof = run_check(lacks_need, tree.read) if lacks_need is not None else None
    return Decision(fix.id, NOT_APPLICABLE, LACKS_NEED + proof) if proof else decision


def decide(fix: Fix, tree: SourceTree, version: Version | None, disabled: Iterable[str] = ()) -> Decision:
    if fix.id in set(disabled):
        return Decision(fix.id, DISABLED, "switched off by SGLANG_SPEC_PATCHES_DISABLE")
    if fix.problem:
        return Decision(fix.id, DECLINED, f"fix definition unusable: {fix.problem}")
    try:
        return _decide(fix, tree, version)
    except CheckError as exc:
        return Decision(fix.id, DECLINED, f"fixed-when check unusable: {exc}")
    except sources.UnreadableSource as exc:  # only the fixes that read the file pay for it
        return Decision(fix.id, DECLINED, str(exc))


def _decide(fix: Fix, tree: SourceTree, version: Version | None) -> Decision:
    tried = []
    usable = []
    for fam in _families_in_order(fix, version):
        if fam.patches is None:
            tried.append(f"family {fam.name}: diff unusable ({fam.problem})")
            continue
        texts = {path: tree.read(path) for path in fam.paths}
        missing = [p for p, t in texts.items() if t is None]
        if missing:
            tried.append(f"family {fam.name}: {', '.join(missing)} absent")
            continue
        usable.append((fam, texts))
        try:
            _apply_all(texts, fam, reverse=False)
            return _unless_unneeded(fix, tree, Decision(fix.id, APPLIES, f"family {fam.name} matches", fam.name, fam.paths))
        except diffs.DoesNotApply as forward_error:
            try:
                _apply_all(texts, fam, reverse=True)
                return Decision(fix.id, ALREADY_FIXED, f"family {fam.name} already in the source", fam.name, fam.paths)
            except diffs.DoesNotApply:
                tried.append(f"family {fam.name}: {forward_error}")
    for fam, texts in usable:  # baked after re-anchoring: reverting and re-applying round-trips
        try:
            original, notes = _apply_anchored(texts, fam, reverse=True)
            if _apply_anchored(original, fam, reverse=False)[0] == texts:
                return Decision(fix.id, ALREADY_FIXED, f"family {fam.name} already in the source, re-anchored",
                                fam.name, fam.paths, reanchored=notes)
        except diffs.DoesNotApply:
            pass
    check = load_check(fix)  # only now: a release our diffs match never needs (nor loads) it
    markers = [m for m in fix.markers if (t := tree.read(m.file)) is not None and m.pattern.search(t)]
    if check is None:
        tried += [f"upstream marker found ({m.means}), but the fix has no check to prove it" for m in markers]
    else:
        recognised = run_check(check, tree.read)
        if recognised and markers and not _predates(version, fix):
            return Decision(fix.id, NOT_APPLICABLE, f"{UPSTREAM_FIX}{markers[0].means} (proven: {recognised})")
        if recognised:  # (with a marker in a tagged release older than the fix: a backport)
            return Decision(fix.id, NOT_APPLICABLE, TREE_FIX + recognised, recognised=recognised)
        tried += [f"upstream marker found ({m.means}), but the fix's check does not prove the fix there"
                  for m in markers]
        for fam, texts in usable:
            try:
                patched, notes = _apply_anchored(texts, fam, reverse=False)
            except diffs.DoesNotApply as exc:
                tried.append(f"family {fam.name} re-anchored: {exc}")
                continue
            if run_check(check, lambda rel: patched[rel] if rel in patched else tree.read(rel)):
                return _unless_unneeded(fix, tree, Decision(
                    fix.id, APPLIES, f"family {fam.name} matches after re-anchoring: " + "; ".join(notes),
                    fam.name, fam.paths, reanchored=notes))
            tried.append(f"family {fam.name} re-anchored, but its fixed-when check fails on the result")
    targets = [p for fam in fix.families for p in fam.paths]
    if targets and all(tree.read(p) is None for p in targets):
        return Decision(fix.id, NOT_APPLICABLE, f"release lacks the code ({', '.join(sorted(set(targets)))} absent)")
    return _unless_unneeded(fix, tree, Decision(fix.id, DECLINED, "source not recognised: " + "; ".join(tried)))


@dataclass
class Plan:
    """Every fix decided for one tree, and the final text of every file to change."""

    root: Path
    version: str | None
    decisions: list[Decision]
    texts: dict[str, str]  # relpath -> patched text (LF line endings), all applicable fixes composed
    forms: dict[str, sources.SourceForm] = field(default_factory=dict)  # relpath -> how to write it
    codes: dict[str, CodeType] = field(default_factory=dict)  # relpath -> the text compiled, as the hook would

    def decision(self, fix_id: str) -> Decision | None:
        return next((d for d in self.decisions if d.fix == fix_id), None)

    def fixes_for(self, relpath: str) -> list[str]:
        return [d.fix for d in self.decisions if d.state == APPLIES and relpath in d.files]

    def encoded(self, relpath: str) -> bytes:
        """The patched file's bytes, in the form of the file it replaces."""
        return sources.encode(self.texts[relpath], self.forms.get(relpath, sources.PLAIN))


def plan(tree: SourceTree, fixes: Iterable[Fix] | None = None, disabled: Iterable[str] = (),
         version: str | None = None) -> Plan:
    """Decide every fix for one tree and compose the patched texts."""
    fixes = tuple(load_fixes() if fixes is None else fixes)
    version = version or tree.version()
    parsed = parse_version(version)
    disabled = set(disabled)
    decisions = [decide(fix, tree, parsed, disabled) for fix in fixes]
    texts, codes = _compose(tree, fixes, decisions)
    return Plan(tree.root, version, decisions, texts, {rel: tree.source(rel).form for rel in texts}, codes)


def _compose(tree: SourceTree, fixes: tuple[Fix, ...], decisions: list[Decision]) -> tuple[dict[str, str], dict]:
    """The patched texts, every applicable fix composed, and their code.

    Fixes that touch one file are written to be independent; each is applied on top
    of the previous one's output in catalog order. One that no longer matches there is
    declined as a whole, so a fix is never half applied. So is every fix on a file whose
    patched text does not compile or cannot be written back in the file's own form;
    the texts are then composed again without them.
    """
    while True:
        texts: dict[str, str] = {}
        for fix, decision in zip(fixes, decisions):
            if decision.state != APPLIES:
                continue
            fam = next(f for f in fix.families if f.name == decision.family)
            # A re-anchored fix is placed the same bounded way on the composed text; exact
            # fixes stay exact, so fixes sharing a file compose as before.
            place = (lambda t, p: diffs.apply_anchored(t, p)[0]) if decision.reanchored else diffs.apply
            try:
                new = {p.path: place(texts.get(p.path, tree.read(p.path)), p) for p in fam.patches}
            except diffs.DoesNotApply as exc:
                others = ", ".join(d.fix for d in decisions if d.state == APPLIES and d is not decision
                                   and set(d.files) & set(decision.files) and d.fix < fix.id)
                decision.state, decision.reason = DECLINED, f"does not compose with {others}: {exc}"
                continue
            texts.update(new)
        codes, unusable = {}, {}
        for rel, text in texts.items():
            found = _compiled(tree, rel, text)
            (unusable if isinstance(found, str) else codes)[rel] = found
        if not unusable:
            return texts, codes
        for decision in decisions:
            hit = [rel for rel in decision.files if rel in unusable]
            if decision.state == APPLIES and hit:
                decision.state, decision.reason = DECLINED, "; ".join(unusable[rel] for rel in hit)


def _compiled(tree: SourceTree, relpath: str, text: str) -> CodeType | str:
    """The patched text of one file compiled (as the hook compiles it, under the file's
    path, so the hook of this process need not compile it again), or why it cannot be
    used: it does not compile, or it cannot be written back the way the file is stored."""
    form = tree.source(relpath).form
    why = form.unwritable()
    if why:
        return f"{relpath} is left alone: {why}"
    if form.encoding not in ("utf-8", "utf-8-sig"):
        try:
            sources.encode(text, form)
        except UnicodeEncodeError as exc:
            return f"{relpath} is left alone: the fix's text has {exc.object[exc.start]!r}, which {form.encoding} lacks"
    code = _compile(text, os.path.join(str(tree.root), relpath))
    if isinstance(code, str):
        alone = "without the fix either" if isinstance(_compile(tree.read(relpath), relpath), str) \
            else "with the fix in"
        return f"{relpath} does not compile {alone}: {code}"
    return code


def _compile(text: str, filename: str) -> CodeType | str:
    """The module's code, or the parser's one-line complaint."""
    try:
        return compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes (Python 3.11)
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        return (exc.msg if isinstance(exc, SyntaxError) else str(exc)) + where


def module_name(relpath: str) -> str:
    return relpath[: -len(".py")].replace("/", ".").removesuffix(".__init__")
