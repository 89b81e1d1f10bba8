#!/usr/bin/env python3
"""The release matrix: every fix against every SGLang release on PyPI from 0.4.10 on.

For each release the wheel is fetched without dependencies (cached), and only the files
the fixes and the activation report need are read out of it (a zip read of those
members, no full unpack). Then, per release:

* every fix is classified from the source by the engine;
* the import hook's text (``PatchedSourceLoader``) equals the text bake mode writes,
  and every patched module compiles;
* a baked copy plans as ``already-fixed`` for every fix that applied, and the hook
  leaves it alone;
* fixes that touch the same file compose in either order, to the same text;
* GNU ``patch -p1 -F0`` agrees with the engine (the fix format's own contract), and no
  family still applies to a release that carries the upstream fix;
* a copy re-labelled as an untagged editable build (``0.0.0.dev1+g<sha>``, no
  dist-info, as slime images report) is classified exactly like the release.

Writes ``ci/support-matrix.md`` and ``ci/support-matrix.json``; exits non-zero on any
``declined`` cell, failed check, engine error or release it cannot fetch.

  ci/matrix.py                          # every release on PyPI, rewrite the table
  ci/matrix.py --check-only             # same, but fail if the table would change
  ci/matrix.py --releases table --shard 2/4 --check-only   # what CI runs per shard
  ci/matrix.py --releases 0.5.2,0.5.9   # re-check two releases, merge their rows
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from sglang_spec_patches import bake, diffs, engine, hook, runtime  # noqa: E402

import sglang_releases  # noqa: E402  (tests/: the cached wheel download)

FIRST_RELEASE = Version("0.4.10")
TABLE_MD = REPO / "ci" / "support-matrix.md"
TABLE_JSON = REPO / "ci" / "support-matrix.json"
EDITABLE_VERSION = "0.0.0.dev1+g0123abcd"  # what an untagged editable git install reports

# Engine state -> the word in the table.
FIXES, BAKED, CARRIES, NO_CODE, DECLINED = "fixes", "baked", "carries fix", "no code", "declined"
WORDS = {engine.APPLIES: FIXES, engine.ALREADY_FIXED: BAKED, engine.DECLINED: DECLINED,
         engine.DISABLED: "disabled"}

PLUGINS_INIT = "sglang/srt/plugins/__init__.py"
PLUGIN_GROUP = re.compile(r"""["']sglang\.srt\.plugins["']""")
# Process entry modules that may call load_plugins() (short name used in the table).
PLUGIN_CALLERS = {
    "sglang/srt/entrypoints/engine.py": "engine",
    "sglang/srt/entrypoints/http_server.py": "http_server",
    "sglang/srt/managers/tokenizer_manager.py": "tokenizer",
    "sglang/srt/managers/scheduler.py": "scheduler",
    "sglang/srt/managers/detokenizer_manager.py": "detokenizer",
    "sglang/srt/managers/data_parallel_controller.py": "dp_controller",
    "sglang/launch_server.py": "launch_server",
    "sglang/cli/serve.py": "cli_serve",
}
PLUGIN_CALL = re.compile(r"^[ \t]*(?:[\w.]+\.)?load_plugins\(\)", re.M)
VERSION_FILES = ("sglang/version.py", "sglang/_version.py")


class MatrixError(Exception):
    """The matrix cannot run at all (no release list, bad arguments)."""


# ----------------------------------------------------------------------------- releases

def pypi_releases() -> list[str]:
    """Every sglang release on PyPI from 0.4.10 on, pre- and post-releases included."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", "--pre", "sglang"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MatrixError(f"cannot list SGLang releases ({' '.join(cmd[2:])}): {exc}") from exc
    line = next((x for x in proc.stdout.splitlines() if x.startswith("Available versions:")), None)
    if proc.returncode != 0 or line is None:
        tail = [x for x in (proc.stderr or proc.stdout).strip().splitlines() if not x.startswith("WARNING")][-2:]
        raise MatrixError("cannot list SGLang releases on PyPI (offline?): "
                          + " / ".join(tail)
                          + "\n  run without the index: --releases table (the checked-in rows), "
                            "--releases cached (wheels already cached) or --releases 0.5.2,0.5.9")
    versions = [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return sort_versions(v for v in versions if Version(v) >= FIRST_RELEASE)


def cached_releases() -> list[str]:
    found = set()
    cache = Path(sglang_releases.CACHE_DIR)
    for wheel in [*cache.glob("sglang-*.whl"), *cache.glob("wheels/sglang-*.whl")]:
        found.add(wheel.name.split("-")[1])
    return sort_versions(v for v in found if Version(v) >= FIRST_RELEASE)


def sort_versions(versions) -> list[str]:
    return sorted(set(versions), key=Version)


def select_releases(spec: list[str]) -> list[str]:
    """--releases: 'pypi' (default), 'table', 'cached', or versions (comma/space separated)."""
    chosen: list[str] = []
    for item in spec or ["pypi"]:
        for word in re.split(r"[,\s]+", item.strip()):
            if not word:
                continue
            if word == "pypi":
                chosen += pypi_releases()
            elif word == "table":
                chosen += [r["version"] for r in load_table()["releases"]]
            elif word == "cached":
                chosen += cached_releases()
            else:
                try:
                    Version(word)
                except InvalidVersion as exc:
                    raise MatrixError(f"--releases: {word!r} is not a version") from exc
                chosen.append(word)
    if not chosen:
        raise MatrixError("no releases selected")
    return sort_versions(chosen)


def shard(versions: list[str], spec: str | None) -> list[str]:
    """--shard K/N: every N-th release starting at the K-th (1-based), so shards spread families."""
    if not spec:
        return versions
    match = re.fullmatch(r"(\d+)/(\d+)", spec)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise MatrixError(f"--shard {spec!r}: expected K/N with 1 <= K <= N")
    k, n = int(match[1]), int(match[2])
    return versions[k - 1 :: n]


# ----------------------------------------------------------------------------- one release

def needed_members(fixes) -> set[str]:
    paths = {p for fix in fixes for p in fix.paths}  # fix.paths holds what its check READS too
    return paths | set(VERSION_FILES) | {PLUGINS_INIT}


def extract(wheel: Path, members: set[str], dest: Path) -> tuple[Path, dict[str, str]]:
    """Write just ``members`` (those present) and the dist-info METADATA under ``dest``.

    Returns the root and the texts of the plugin caller modules (read, not written)."""
    callers: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = [n for n in names if re.fullmatch(r"sglang-[^/]+\.dist-info/METADATA", n)]
        for name in sorted(members & names) + metadata:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
        for name in PLUGIN_CALLERS.keys() & names:
            callers[name] = zf.read(name).decode("utf-8", errors="replace")
    (dest / "sglang").mkdir(exist_ok=True)
    return dest, callers


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def family_patch(fix: engine.Fix, family: str, path: str) -> diffs.FilePatch:
    fam = next(f for f in fix.families if f.name == family)
    return next(p for p in fam.patches if p.path == path)


def hook_text(root: Path, relpath: str, fixes) -> str | None:
    """The text the import hook would compile for this module (found, not executed),
    or None when the hook leaves the module alone."""
    saved = sys.modules.get("sglang")
    stub = types.ModuleType("sglang")
    stub.__path__ = [str(root / "sglang")]
    sys.modules["sglang"] = stub
    try:
        finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
        # The hook reads the installed catalog; hand it the one under test instead.
        finder.state.fixes = tuple(fixes)
        finder.state.targets = {engine.module_name(p): p for f in fixes for fam in f.families for p in fam.paths}
        name = engine.module_name(relpath)
        spec = finder.find_spec(name, [str((root / relpath).parent)])
        if spec is None or not isinstance(spec.loader, hook.PatchedSourceLoader):
            return None
        return spec.loader.get_source(name)
    finally:
        if saved is None:
            sys.modules.pop("sglang", None)
        else:
            sys.modules["sglang"] = saved


def word_for(decision: engine.Decision, fix: engine.Fix, tree: engine.SourceTree) -> str:
    if decision.state != engine.NOT_APPLICABLE:
        return WORDS[decision.state]
    # A fix's own check recognising the upstream fix counts like a marker.
    carried = marker_hits(fix, tree) or decision.reason.startswith(engine.TREE_FIX)
    return CARRIES if carried else NO_CODE


def marker_hits(fix: engine.Fix, tree: engine.SourceTree) -> list[str]:
    return [m.file for m in fix.markers if (t := tree.read(m.file)) is not None and m.pattern.search(t)]


def family_for_version(fix: engine.Fix, version: str) -> str | None:
    v = engine.parse_version(version)
    return next((f.name for f in fix.families if v is not None and v in f.releases), None)


def gnu_patch(diff_file: Path, cwd: Path, *flags: str) -> subprocess.CompletedProcess:
    if shutil.which("patch") is None:
        raise MatrixError("GNU patch is not installed (apt-get install patch): it cross-checks every diff")
    return subprocess.run(["patch", "-p1", "-F0", "-s", "--no-backup-if-mismatch", *flags, "-i", str(diff_file)],
                          cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def gnu_patch_errors(fix: engine.Fix, decision: engine.Decision, tree: engine.SourceTree, work: Path) -> list[str]:
    """The format's own contract, checked with GNU patch: the chosen family applies with zero
    fuzz and gives the engine's text, and reverts; on a release that carries the upstream fix,
    no family applies forward."""
    errors = []
    if decision.state == engine.APPLIES:
        fam = next(f for f in fix.families if f.name == decision.family)
        copy = work / f"gnu-{fix.id}"
        for p in fam.patches:
            (copy / p.path).parent.mkdir(parents=True, exist_ok=True)
            (copy / p.path).write_text(tree.read(p.path), encoding="utf-8", newline="")
        proc = gnu_patch(fam.diff_file, copy, "-N")
        if proc.returncode != 0:
            return [f"{fix.id}: GNU patch -F0 refuses {fam.diff_file.name}: {proc.stdout.strip()[-300:]}"]
        for p in fam.patches:
            if (copy / p.path).read_text(encoding="utf-8") != diffs.apply(tree.read(p.path), p):
                errors.append(f"{fix.id}: GNU patch and the engine give different {p.path}")
        if gnu_patch(fam.diff_file, copy, "-R", "--dry-run").returncode != 0:
            errors.append(f"{fix.id}: GNU patch cannot revert {fam.diff_file.name}")
    elif decision.state == engine.NOT_APPLICABLE and not decision.reason.startswith(engine.LACKS_NEED):
        # (Where the release lacks what the bug needs, the diff may well apply: the fix
        # is left out because the bug cannot happen there.)
        for fam in fix.families:
            if fam.patches and all(tree.read(p) is not None for p in fam.paths):
                if gnu_patch(fam.diff_file, tree.root, "-N", "--dry-run").returncode == 0:
                    errors.append(f"{fix.id}: {fam.diff_file.name} still applies (GNU patch -F0) "
                                  "on a release that carries the upstream fix")
    return errors


def check_release(version: str, wheel: Path, fixes, work: Path) -> dict:
    """Classify every fix for one release and run every check; returns its table entry."""
    errors: list[str] = []
    notes: list[str] = []
    root, callers = extract(wheel, needed_members(fixes), work / "release")
    tree = engine.SourceTree(root)
    plan = engine.plan(tree, fixes, disabled=())
    by_id = {f.id: f for f in fixes}
    applied = [d for d in plan.decisions if d.state == engine.APPLIES]

    # The hook's text is the baked text, and it compiles.
    baked_root = work / "baked"
    shutil.copytree(root, baked_root)
    baked_plan = engine.plan(engine.SourceTree(baked_root), fixes, disabled=())
    bake.write_plan(baked_plan)
    for rel, text in sorted(plan.texts.items()):
        runtime_text = hook_text(root, rel, fixes)
        on_disk = (baked_root / rel).read_text(encoding="utf-8")
        if runtime_text is None:
            errors.append(f"{rel}: the import hook does not patch it")
        elif runtime_text != on_disk:
            errors.append(f"{rel}: the import hook's text differs from the baked file")
        if on_disk != text:
            errors.append(f"{rel}: the baked file differs from the plan's text")
        try:
            compile(text, rel, "exec", dont_inherit=True)
        except SyntaxError as exc:
            errors.append(f"{rel}: patched text does not compile: {exc}")

    # A baked copy: every fix that applied is already-fixed, nothing left to write or hook.
    again = engine.plan(engine.SourceTree(baked_root), fixes, disabled=())
    for d in applied:
        state = again.decision(d.fix).state
        if state != engine.ALREADY_FIXED:
            errors.append(f"{d.fix}: a baked copy plans as {state}, not {engine.ALREADY_FIXED}")
    if again.texts:
        errors.append(f"baking twice would change {', '.join(sorted(again.texts))}")
    for rel in sorted(plan.texts):
        if hook_text(baked_root, rel, fixes) is not None:
            errors.append(f"{rel}: the import hook still patches the baked copy")

    # Fixes sharing a file compose in either order, to one text.
    for a, b in itertools.combinations(applied, 2):
        for rel in sorted(set(a.files) & set(b.files)):
            pa = family_patch(by_id[a.fix], a.family, rel)
            pb = family_patch(by_id[b.fix], b.family, rel)
            try:
                ab = diffs.apply(diffs.apply(tree.read(rel), pa), pb)
                ba = diffs.apply(diffs.apply(tree.read(rel), pb), pa)
            except diffs.DoesNotApply as exc:
                errors.append(f"{a.fix} and {b.fix} do not compose on {rel}: {exc}")
                continue
            if ab != ba:
                errors.append(f"{a.fix} and {b.fix} give different {rel} depending on the order")
            elif ab != plan.texts[rel] and sum(rel in d.files for d in applied) == 2:
                errors.append(f"{a.fix} and {b.fix}: {rel} differs from the plan's composed text")
    # Three or more fixes on one file: all of them, in reverse name order, give the plan's text.
    for rel in sorted(plan.texts):
        sharing = [d for d in applied if rel in d.files]
        if len(sharing) > 2:
            text = tree.read(rel)
            try:
                for d in reversed(sharing):
                    text = diffs.apply(text, family_patch(by_id[d.fix], d.family, rel))
            except diffs.DoesNotApply as exc:
                errors.append(f"{', '.join(d.fix for d in sharing)} do not compose on {rel} in reverse order: {exc}")
                continue
            if text != plan.texts[rel]:
                errors.append(f"{', '.join(d.fix for d in sharing)}: {rel} in reverse order differs from the plan's text")

    # Re-labelled as an untagged editable build: no dist-info, 0.0.0.dev1+g<sha>.
    editable = work / "editable"
    shutil.copytree(root / "sglang", editable / "sglang")
    for rel in VERSION_FILES:
        (editable / rel).write_text(f'__version__ = "{EDITABLE_VERSION}"\n', encoding="utf-8")
    relabelled = engine.plan(engine.SourceTree(editable), fixes, disabled=())
    if relabelled.version != EDITABLE_VERSION:
        errors.append(f"re-labelled copy reads as version {relabelled.version!r}")
    if [d.as_dict() for d in relabelled.decisions] != [d.as_dict() for d in plan.decisions]:
        diff = [f"{x.fix}: {x.state} vs {y.state}" for x, y in zip(plan.decisions, relabelled.decisions)
                if x.as_dict() != y.as_dict()]
        errors.append("as an editable build it is classified differently: " + "; ".join(diff))
    if relabelled.texts != plan.texts:
        errors.append("as an editable build its patched texts differ")

    # Per-fix states and what they tell about the fix definitions.
    cells = {}
    for d in plan.decisions:
        fix = by_id[d.fix]
        word = word_for(d, fix, tree)
        cells[d.fix] = {"state": word, "engine": d.state, "family": d.family, "reason": d.reason}
        if word == CARRIES and marker_hits(fix, tree):
            cells[d.fix]["marker"] = marker_hits(fix, tree)[0]
        if d.state == engine.DECLINED:
            errors.append(f"{d.fix} declined: {d.reason}")
        errors += gnu_patch_errors(fix, d, tree, work)
        expected = family_for_version(fix, version)
        if d.state == engine.APPLIES and expected != d.family:
            notes.append(f"{d.fix}: the version selects family {expected}, but family {d.family} matched")
        first_fixed = engine.parse_version(fix.first_fixed)
        if first_fixed is not None:
            before = Version(version) < first_fixed
            if before and word not in (FIXES, NO_CODE):
                notes.append(f"{d.fix}: before its first_fixed {fix.first_fixed}, yet {word}")
            if not before and word == FIXES:
                notes.append(f"{d.fix}: at or after its first_fixed {fix.first_fixed}, yet the diff applies")
        if d.state == engine.APPLIES and marker_hits(fix, tree):
            notes.append(f"{d.fix}: an upstream marker matches although the diff applies")

    plugins = tree.read(PLUGINS_INIT)
    all_paths = sorted({p for f in fixes for p in f.paths})
    return {
        "version": version,
        "wheel": wheel.name,
        "sha256": sha256(wheel),
        "fixes": cells,
        "activation": {
            "pth": True,  # site-packages .pth: every Python process, any release
            "plugin_entry_point": bool(plugins and PLUGIN_GROUP.search(plugins)),
            "plugin_loaded_in": sorted(PLUGIN_CALLERS[p] for p, text in callers.items() if PLUGIN_CALL.search(text)),
        },
        "modules": [engine.module_name(rel) for rel in sorted(plan.texts)],
        "absent": [p for p in all_paths if tree.read(p) is None],
        "notes": notes,
        "errors": errors,
    }


def run_one(version: str) -> tuple[str, dict | None, str | None, float]:
    """Worker: fetch (cached) and check one release. Never raises."""
    start = time.perf_counter()
    try:
        wheel = Path(sglang_releases.fetch_wheel(version))
    except subprocess.CalledProcessError as exc:
        return version, None, (f"cannot fetch sglang=={version}: pip download failed (exit {exc.returncode}): "
                               "offline, or no wheel for CPython 3.11 on manylinux x86_64"), 0.0
    except Exception as exc:  # noqa: BLE001 - reported per release
        return version, None, f"cannot fetch sglang=={version}: {type(exc).__name__}: {exc}", 0.0
    try:
        with tempfile.TemporaryDirectory(prefix=f"sglang-matrix-{version}-") as tmp:
            entry = check_release(version, wheel, FIX_SET, Path(tmp))
    except Exception as exc:  # noqa: BLE001 - an engine error is a failed cell, not a crash
        entry = {"version": version, "wheel": wheel.name, "errors": [f"engine error: {type(exc).__name__}: {exc}"]}
    return version, entry, None, time.perf_counter() - start


FIX_SET: tuple = ()


# ----------------------------------------------------------------------------- the table

def load_table() -> dict:
    try:
        return json.loads(TABLE_JSON.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"fixes": [], "releases": []}


def fix_digest(fix: engine.Fix) -> str:
    """Of fix.json and the diffs: the table is only true for the fix it was made from."""
    digest = hashlib.sha256()
    for path in sorted([fix.folder / "fix.json", *fix.folder.glob("*.diff")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def fix_columns(fixes) -> list[dict]:
    return [{"id": f.id, "title": f.title, "first_fixed": f.first_fixed, "digest": fix_digest(f)} for f in fixes]


def drift(old: dict, new: dict) -> str:
    """Why the regenerated table differs from the checked-in one, in a few words."""
    old_rows = {r["version"]: r for r in old["releases"]}
    new_rows = {r["version"]: r for r in new["releases"]}
    why = []
    if [c["id"] for c in old["fixes"]] != [c["id"] for c in new["fixes"]]:
        why.append("the set of fixes changed")
    elif old["fixes"] != new["fixes"]:
        changed = [c["id"] for c in new["fixes"] if c not in old["fixes"]]
        why.append("fix definitions changed: " + ", ".join(changed))
    for label, versions in (("releases not in the table", new_rows.keys() - old_rows.keys()),
                            ("releases no longer listed", old_rows.keys() - new_rows.keys()),
                            ("rows that differ", {v for v in new_rows.keys() & old_rows.keys()
                                                  if new_rows[v] != old_rows[v]})):
        if versions:
            why.append(f"{label}: {', '.join(sort_versions(versions))}")
    return "; ".join(why) or "the rendering changed"


def merge(table: dict, fixes, entries: list[dict], replace_all: bool) -> dict:
    columns = fix_columns(fixes)
    if not replace_all and table["releases"] and [c["id"] for c in table["fixes"]] != [c["id"] for c in columns]:
        raise MatrixError("the fix set changed since the table was made: regenerate every release "
                          "(ci/matrix.py with no --releases)")
    rows = {} if replace_all else {r["version"]: r for r in table["releases"]}
    rows.update({e["version"]: e for e in entries})
    return {
        "generated_by": "ci/matrix.py",
        "first_release": str(FIRST_RELEASE),
        "states": {FIXES: "the fix applies; the shim patches this release",
                   CARRIES: "the release carries the upstream fix (an upstream marker matches, or the fix's check recognises it)",
                   NO_CODE: "the release lacks the code the fix touches, or the code the bug needs",
                   BAKED: "the source already holds our patched text",
                   DECLINED: "source not recognised: never touched (a failure)"},
        "fixes": columns,
        "releases": [rows[v] for v in sort_versions(rows)],
    }


def runs(versions: list[str], value) -> list[tuple[str, str, object]]:
    """Consecutive releases with the same value: [(first, last, value)]."""
    out = []
    for key, group in itertools.groupby(versions, key=value):
        group = list(group)
        out.append((group[0], group[-1], key))
    return out


def span(first: str, last: str) -> str:
    return first if first == last else f"{first} … {last}"


def render_md(table: dict) -> str:
    fixes = [c["id"] for c in table["fixes"]]
    rows = table["releases"]
    versions = [r["version"] for r in rows]
    by_version = {r["version"]: r for r in rows}
    out = [
        "# SGLang support matrix",
        "",
        "Generated by `ci/matrix.py` from the SGLang wheels on PyPI (every release from "
        f"{table['first_release']} on, pre- and post-releases included); do not edit by hand. "
        "The state of each fix is decided from the release's source, as the shim decides it at run "
        "time, and every row also passed these checks: the import hook's text equals the baked text, "
        "patched modules compile, a baked copy reads as already fixed, fixes sharing a file compose "
        "in either order, GNU `patch -F0` gives the engine's text (and applies no family where the "
        "release carries the upstream fix), and the same source re-labelled as an untagged editable "
        "build (`0.0.0.dev1+g<sha>`, no dist-info) gets the same answer.",
        "",
        "States: " + "; ".join(f"`{k}`: {v}" for k, v in table["states"].items()) + ".",
        "",
        "Activation: `.pth` is the site-packages `.pth` file (every Python process, every release). "
        "`plugin` is the `sglang.srt.plugins` entry point: `-` where the release has no such group, "
        "else the process entry modules that call `load_plugins()`.",
        "",
        "Fixes: " + "; ".join(f"`{c['id']}` (" + (f"fixed upstream in {c['first_fixed']}"
                                                  if engine.parse_version(c["first_fixed"]) else "open upstream")
                              + ")" for c in table["fixes"]) + ".",
        "",
        "| SGLang | " + " | ".join(fixes) + " | .pth | plugin | modules patched |",
        "|---|" + "---|" * len(fixes) + "---|---|---|",
    ]
    for r in rows:
        cells = [r.get("fixes", {}).get(f, {}).get("state", "error") for f in fixes]
        if r.get("errors"):
            cells = [c if c != FIXES else f"{c} (check failed)" for c in cells]
        act = r.get("activation", {})
        plugin = ", ".join(act.get("plugin_loaded_in") or ["group only"]) if act.get("plugin_entry_point") else "-"
        modules = ", ".join(m.rsplit(".", 1)[-1] for m in r.get("modules", [])) or "-"
        out.append(f"| {r['version']} | " + " | ".join(cells) + f" | {'yes' if act.get('pth') else '?'} | {plugin} | {modules} |")

    out += ["", "## Summary", "", "| fix | " + " | ".join(table["states"]) + " |",
            "|---|" + "---|" * len(table["states"])]
    for f in fixes:
        counts = [sum(1 for r in rows if r.get("fixes", {}).get(f, {}).get("state") == s) for s in table["states"]]
        out.append(f"| {f} | " + " | ".join(map(str, counts)) + " |")

    out += ["", "## What the source shows", ""]
    for fix in fixes:
        def how(v, fix=fix):
            cell = by_version[v].get("fixes", {}).get(fix, {})
            return cell.get("state"), cell.get("family"), cell.get("marker")

        parts = [f"{span(a, b)}: {s}" + (f" (family {fam})" if fam else "") + (f" (seen in `{m}`)" if m else "")
                 for a, b, (s, fam, m) in runs(versions, how)]
        out.append(f"- `{fix}`: " + "; ".join(parts) + ".")
    absent = runs(versions, lambda v: tuple(by_version[v].get("absent", [])))
    for a, b, paths in absent:
        if paths:
            out.append(f"- Absent in {span(a, b)}: " + ", ".join(f"`{p}`" for p in paths) + ".")
    plugin_runs = runs(versions, lambda v: (by_version[v].get("activation", {}).get("plugin_entry_point"),
                                            tuple(by_version[v].get("activation", {}).get("plugin_loaded_in", []))))
    for a, b, (group, callers) in plugin_runs:
        if group:
            where = ", ".join(callers) if callers else "no process entry module"
            out.append(f"- `sglang.srt.plugins` in {span(a, b)}: `load_plugins()` called in {where}.")
    notes = {}
    for r in rows:
        for n in r.get("notes", []):
            notes.setdefault(n, []).append(r["version"])
    for note, where in notes.items():
        out.append(f"- {note}: " + ", ".join(where) + ".")
    return "\n".join(out) + "\n"


def render_json(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    global FIX_SET
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", action="append", metavar="WHICH",
                        help="pypi (default: every release on PyPI from 0.4.10), table (the rows of the "
                             "checked-in table), cached (wheels in the cache), or versions, comma-separated")
    parser.add_argument("--shard", metavar="K/N", help="only every N-th release, starting at the K-th")
    parser.add_argument("--check-only", action="store_true",
                        help="write nothing; fail if the checked-in table differs from what the engine says")
    parser.add_argument("--jobs", type=int, default=2, help="releases checked in parallel (default 2)")
    parser.add_argument("--bench", action="store_true", help="print per-phase and slowest-release timings")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        versions = shard(select_releases(args.releases), args.shard)
    except MatrixError as exc:
        print(f"matrix: {exc}", file=sys.stderr)
        return 2
    listed = time.perf_counter()
    FIX_SET = engine.load_fixes()
    print(f"matrix: {len(versions)} release(s) x {len(FIX_SET)} fix(es): {versions[0]} … {versions[-1]}",
          file=sys.stderr)

    results = []
    if args.jobs > 1 and len(versions) > 1:
        with multiprocessing.get_context("fork").Pool(min(args.jobs, len(versions))) as pool:
            results = list(pool.imap(run_one, versions))
    else:
        results = [run_one(v) for v in versions]

    failed = False
    entries = []
    for version, entry, fetch_error, _ in results:
        if fetch_error:
            print(f"matrix: {fetch_error}", file=sys.stderr)
            failed = True
            continue
        entries.append(entry)
        for err in entry.get("errors", []):
            print(f"matrix: {version}: {err}", file=sys.stderr)
            failed = True
    checked = time.perf_counter()

    status = 1 if failed else 0
    full = not args.releases and not args.shard
    if not any(r[2] for r in results):  # never write a table that misses a release
        try:
            table = merge(load_table(), FIX_SET, entries, replace_all=full)
        except MatrixError as exc:
            print(f"matrix: {exc}", file=sys.stderr)
            return 2
        md, js = render_md(table), render_json(table)
        old_md = TABLE_MD.read_text(encoding="utf-8") if TABLE_MD.exists() else ""
        old_js = TABLE_JSON.read_text(encoding="utf-8") if TABLE_JSON.exists() else ""
        if args.check_only:
            if (md, js) != (old_md, old_js):
                print(f"matrix: ci/support-matrix.md/.json are out of date ({drift(load_table(), table)}); "
                      "run ci/matrix.py and commit the result", file=sys.stderr)
                status = 1
        elif (md, js) != (old_md, old_js):
            TABLE_MD.write_text(md, encoding="utf-8")
            TABLE_JSON.write_text(js, encoding="utf-8")
            print(f"matrix: wrote {TABLE_MD.relative_to(REPO)} and {TABLE_JSON.relative_to(REPO)}", file=sys.stderr)

    end = time.perf_counter()
    if args.bench:
        print(f"matrix: listing {listed - start:.1f} s, fetch+check {checked - listed:.1f} s "
              f"({args.jobs} job(s)), table {end - checked:.1f} s", file=sys.stderr)
        for version, _, _, secs in sorted(results, key=lambda r: -r[3])[:5]:
            print(f"matrix:   {version}: {secs:.2f} s", file=sys.stderr)
    cells = sum(len(e.get("fixes", {})) for e in entries)
    print(f"matrix: {len(versions)} release(s), {cells} cell(s), "
          f"{'FAILED' if status else 'ok'} in {end - start:.1f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
