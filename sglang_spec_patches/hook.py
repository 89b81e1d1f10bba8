"""The run-time hook: SGLang modules are born fixed.

A meta-path finder sits in front of the normal path finder. For any ``sglang.srt.*``
module that a fix touches it lets the normal finder locate the file, then swaps in a
loader that runs the patched text instead of the file's. Like pytest's assertion
rewriting, it never writes or reads SGLang's own ``.pyc``: the patched bytecode has
its own cache file (``bytecode.py``). It seeds ``linecache`` so tracebacks and
``inspect.getsource`` show the patched lines.

Loaded on the first ``sglang.srt`` import (the package's placeholder finder), not at start.
"""

from __future__ import annotations

# Loaded inside SGLang's first import: keep to modules SGLang has loaded already.
import importlib.machinery
import sys

from . import runtime

_PREFIX = "sglang.srt."


class _State:
    """The process's catalog and plan, made on first need (under runtime.LOCK)."""

    def __init__(self, settings: runtime.Settings):
        self.settings = settings
        self.fixes = None
        self.targets: dict[str, str] | None = None  # module name -> relpath
        self.plan = None

    def load_targets(self) -> dict[str, str]:
        if self.targets is None:
            from . import engine

            self.fixes = engine.load_fixes()
            self.targets = {
                engine.module_name(path): path
                for fix in self.fixes
                for fam in fix.families
                for path in fam.paths
            }
        return self.targets

    def ensure_plan(self, sglang_dir: str):
        if self.plan is None:
            from pathlib import Path

            from . import engine

            self.load_targets()
            tree = engine.SourceTree(Path(sglang_dir).parent)
            self.plan = engine.plan(tree, self.fixes, disabled=self.settings.disabled)
            runtime.record_plan(self.plan, self.settings)
            for d in self.plan.decisions:
                if d.state == engine.DECLINED:
                    message = f"fix {d.fix} declined: {d.reason}"
                    if self.settings.mode == "strict":
                        runtime.record_problem(message + " (strict mode)", self.settings)
                        raise runtime.StrictModeError(message)
                    runtime.record_problem(message, self.settings)
        return self.plan


def sglang_dir() -> str | None:
    pkg = sys.modules.get("sglang")
    paths = list(getattr(pkg, "__path__", None) or [])
    return paths[0] if paths else None


def seed_linecache(filename: str, text: str) -> None:
    import linecache

    # mtime None marks the entry as not backed by the file: checkcache keeps it.
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)


class PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module from its patched text, through our own bytecode cache (never SGLang's)."""

    def __init__(self, fullname: str, path: str, text: str, fixes: list[str], state: _State):
        super().__init__(fullname, path)
        self._text = text
        self._fixes = fixes
        self._state = state

    def get_source(self, fullname: str) -> str:
        return self._text

    def get_code(self, fullname: str):
        from . import bytecode

        code = bytecode.load(self.path, self._text)
        how = "read from cache"
        if code is None:
            code = compile(self._text, self.path, "exec", dont_inherit=True)
            how = "compiled, cache written" if bytecode.store(self.path, self._text, code) else "compiled"
        seed_linecache(self.path, self._text)
        runtime.record_module(fullname, {"how": "import-hook", "fixes": self._fixes, "bytecode": how},
                              self._state.settings)
        return code


class SpecPatchFinder:
    """A meta-path finder (``find_spec`` is all the import system asks of one)."""

    def __init__(self, settings: runtime.Settings):
        self.state = _State(settings)

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX):
            return None
        try:
            with runtime.LOCK:
                return self._find_spec(fullname, path, target)
        except runtime.StrictModeError:
            raise
        except Exception as exc:  # never stop SGLang from starting
            message = f"could not patch {fullname}: {type(exc).__name__}: {exc}"
            if self.state.settings.mode == "strict":
                raise runtime.StrictModeError(message) from exc
            runtime.record_problem(message, self.state.settings)
            return None

    def _find_spec(self, fullname, path, target):
        relpath = self.state.load_targets().get(fullname)
        if relpath is None:
            return None
        root = sglang_dir()
        if root is None:
            return None
        plan = self.state.ensure_plan(root)
        fixes = plan.fixes_for(relpath)
        if not fixes:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            runtime.record_problem(f"{fullname} is not loaded from source here; not patched", self.state.settings)
            return spec
        from pathlib import Path

        expected = Path(plan.root, relpath).resolve()
        if Path(spec.origin).resolve() != expected:
            runtime.record_problem(
                f"{fullname} comes from {spec.origin}, not the planned {expected}; not patched",
                self.state.settings,
            )
            return spec
        spec.loader = PatchedSourceLoader(fullname, spec.origin, plan.texts[relpath], fixes, self.state)
        from . import bytecode

        spec.cached = bytecode.cache_path(spec.origin)  # __cached__ names our file, not SGLang's
        return spec


def installed_finder() -> SpecPatchFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, SpecPatchFinder)), None)


def install(settings: runtime.Settings) -> SpecPatchFinder:
    """Put the finder on sys.meta_path (once per process): where the start-up placeholder
    stood (finders that start-up files put in front of it stay in front), else first."""
    from . import FirstSGLangImport

    with runtime.LOCK:
        finder = installed_finder()
        if finder is None:
            finder = SpecPatchFinder(settings)
            placeholders = [i for i, f in enumerate(sys.meta_path) if isinstance(f, FirstSGLangImport)]
            sys.meta_path.insert(placeholders[0] if placeholders else 0, finder)
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, FirstSGLangImport)]
    return finder
