"""The plan a process starts from, and its cache beside SGLang's bytecode.

Deciding every fix reads the target files, applies diffs and runs each fix's
``fixed_when`` check on the syntax tree: tens of milliseconds, in every SGLang process.
The outcome depends only on the files the engine read, the shim's own files (engine,
catalog) and the disabled fixes, so it is cached in
``sglang/__pycache__/sglang-spec-patches-<version>.<cache tag>.plan`` and reused while

* every file the engine read has the same size and modification time (in ns, as Python
  checks its own ``.pyc``; a tree file is stat'ed before it is read, so a change while
  planning only makes the next process plan again),
* the shim's own files are the same: installed from a wheel, that is the wheel's
  ``RECORD`` (pip rewrites it on every install, upgrade or reinstall: one stat instead
  of one per module, diff and check). A file of an installed shim edited by hand is
  not seen until the ``RECORD`` changes (reinstall, or touch it). Anywhere else (a
  source checkout, an editable install) every file is stat'ed,
* the disabled fixes and the Python are the same.

Anything else (no cache, a read-only tree, a corrupt file) plans from scratch; writing
is atomic and never fatal. ``HookPlan`` is what the hook needs of a plan, either way.
The patched texts are stored after the rest and unmarshalled only when asked for (a
bytecode miss, a traceback, ``inspect``, a live patch): a process whose modules come
from our bytecode cache never needs them.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys

from . import __version__, bytecode

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_VERSION_FILES = ("sglang/_version.py", "sglang/version.py")
# File layout: this tag, the length of the marshalled plan (8 bytes), the plan, the texts.
_FORMAT = b"sglang-spec-patches plan 2\n"


class HookPlan:
    """A decided plan, as plain data: decisions as dicts, patched texts, fixes per file,
    and the bytecode cache key of each text. ``texts`` may be given as a function that
    returns them (read lazily from the cache file)."""

    __slots__ = ("root", "version", "decisions", "_texts", "fixes", "keys", "targets", "from_cache", "codes")

    def __init__(self, root: str, version, decisions: list[dict], texts, fixes: dict[str, list[str]],
                 keys: dict[str, bytes], from_cache: bool = False, codes: dict | None = None):
        self.root, self.version, self.decisions, self._texts, self.fixes = root, version, decisions, texts, fixes
        self.keys, self.from_cache = keys, from_cache
        self.codes = codes or {}  # the texts compiled by the engine in this process (never cached)
        # module name -> relpath of every module the plan changes
        self.targets = {rel[: -len(".py")].replace("/", ".").removesuffix(".__init__"): rel for rel in keys}

    @property
    def texts(self) -> dict[str, str]:
        if callable(self._texts):
            self._texts = self._texts()
        return self._texts

    @classmethod
    def from_plan(cls, plan) -> "HookPlan":
        root, texts = str(plan.root), dict(plan.texts)
        return cls(root, plan.version, [d.as_dict() for d in plan.decisions], texts,
                   {rel: plan.fixes_for(rel) for rel in texts},
                   {rel: bytecode.key(os.path.join(root, rel), text) for rel, text in texts.items()},
                   codes=dict(plan.codes))

    def fixes_for(self, relpath: str) -> list[str]:
        return self.fixes.get(relpath, [])


def cache_path(root: str) -> str | None:
    try:
        init_pyc = importlib.util.cache_from_source(os.path.join(root, "sglang", "__init__.py"))
    except (NotImplementedError, ValueError):
        return None
    return os.path.join(os.path.dirname(init_pyc),
                        f"sglang-spec-patches-{__version__}.{sys.implementation.cache_tag}.plan")


def _shim_files() -> list[tuple[str, int, int]]:
    """(path, mtime_ns, size) of every file that can change a decision: the package's
    modules, and each fix's fix.json, diffs and fixed_when.py."""
    catalog = os.path.join(_PACKAGE_DIR, "patches")  # inside a wheel
    if not os.path.isdir(catalog):
        catalog = os.path.join(os.path.dirname(_PACKAGE_DIR), "patches")  # a source checkout
    paths = [os.path.join(_PACKAGE_DIR, n) for n in os.listdir(_PACKAGE_DIR) if n.endswith(".py")]
    for fix in os.listdir(catalog):
        folder = os.path.join(catalog, fix)
        if os.path.isdir(folder):
            paths += [os.path.join(folder, n) for n in os.listdir(folder)
                      if n.endswith((".json", ".diff")) or n == "fixed_when.py"]
    out = []
    for path in sorted(paths):
        st = os.stat(path)
        out.append((path, st.st_mtime_ns, st.st_size))
    return out


def signature(path: str) -> tuple | None:
    """(mtime_ns, size) of a file, None when it does not exist, ("stat failed", errno)
    when it cannot be looked at (a symlink loop, a folder we may not enter)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return "stat failed", exc.errno
    return st.st_mtime_ns, st.st_size


def _shim_stamp() -> tuple:
    """What stands for the shim's own files in the key (see the module docstring)."""
    record = os.path.join(os.path.dirname(_PACKAGE_DIR), f"sglang_spec_patches-{__version__}.dist-info", "RECORD")
    seen = signature(record)
    if seen is not None:
        return ("wheel", record, *seen)
    return ("files", *_shim_files())


def _key(disabled) -> tuple:
    return (importlib.util.MAGIC_NUMBER, __version__, tuple(sorted(disabled)), _shim_stamp())


def _read_texts(data: bytes, offset: int, root: str, keys: dict[str, bytes]) -> dict[str, str] | None:
    """The patched texts stored after the plan, checked against the keys the process
    imported with; None if they are unreadable or do not match (a damaged tail)."""
    try:
        texts = marshal.loads(memoryview(data)[offset:])
        if isinstance(texts, dict) and texts.keys() == keys.keys() and all(
                bytecode.key(os.path.join(root, rel), text) == keys[rel] for rel, text in texts.items()):
            return texts
    except (EOFError, ValueError, TypeError, AttributeError):
        pass
    return None


def load(root: str, disabled) -> HookPlan | None:
    """The cached plan for this tree, if every input is unchanged; else None."""
    path = cache_path(root)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.startswith(_FORMAT):
            return None
        start = len(_FORMAT) + 8
        size = int.from_bytes(data[start - 8: start], "little")
        head = marshal.loads(data[start: start + size])
        if head["key"] != _key(disabled) or head["root"] != root:
            return None
        for file, seen in head["reads"]:
            if signature(file) != seen:
                return None
        keys = head["keys"]

        def texts():
            found = _read_texts(data, start + size, root, keys)
            if found is None:  # the file's tail is damaged: the texts of these very keys, anew
                from . import engine

                plan = engine.plan(engine.SourceTree(root), engine.load_fixes(), disabled=disabled)
                if plan.texts.keys() != keys.keys():
                    raise RuntimeError(f"the plan cache {path} is damaged and the SGLang tree changed since this "
                                       "process read it; start the process again")
                found = plan.texts
            return found

        return HookPlan(root, head["version"], head["decisions"], texts, head["fixes"], keys, from_cache=True)
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def store(plan: HookPlan, reads: dict[str, tuple[int, int] | None], disabled) -> bool:
    """Write the plan with the signature of every file it read (taken before reading);
    False (and nothing left behind) if it cannot be written."""
    path = cache_path(plan.root)
    if path is None or sys.dont_write_bytecode:
        return False
    if not any(reads.get(rel) for rel in _VERSION_FILES):
        return False  # the version came from dist-info metadata, which is not tracked
    try:
        head = marshal.dumps({
            "key": _key(disabled),
            "root": plan.root,
            "reads": sorted((os.path.join(plan.root, rel), seen) for rel, seen in reads.items()),
            "version": plan.version,
            "decisions": plan.decisions,
            "fixes": plan.fixes,
            "keys": plan.keys,
        })
        texts = marshal.dumps(plan.texts)
    except ValueError:  # not marshallable: never expected, never fatal
        return False
    return bytecode.write_cache_file(path, _FORMAT + len(head).to_bytes(8, "little") + head + texts)
