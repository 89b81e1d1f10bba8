"""The run-time hook: SGLang modules are born fixed.

A meta-path finder sits in front of the normal path finder. For any ``sglang.srt.*``
module that a fix touches it lets the normal finder locate the file, then swaps in a
loader that runs the patched text instead of the file's. Like pytest's assertion
rewriting, it never writes or reads SGLang's own ``.pyc``: the patched bytecode has
its own cache file (``bytecode.py``). It seeds ``linecache`` so tracebacks and
``inspect.getsource`` show the patched lines.

Loaded on the first ``sglang.srt`` import (the start-up placeholder finder), not at start.
"""

from __future__ import annotations

# Loaded inside SGLang's first import: keep to modules SGLang has loaded already.
import importlib.machinery
import sys

from . import runtime

_PREFIX = "sglang.srt."


class NoPlan(Exception):
    """No plan could be made in this process; already reported once."""


class _State:
    """The process's plan, made on first need (under runtime.LOCK)."""

    def __init__(self, settings: runtime.Settings, use_plan_cache: bool = False):
        self.settings = settings
        self.fixes = None  # the catalog to plan with; None: the installed one (then cacheable)
        self.use_plan_cache = use_plan_cache
        self.plan = None  # plancache.HookPlan
        self.plan_error = None  # why no plan could be made: reported once, not per module

    def ensure_plan(self, sglang_dir: str):
        if self.plan is None:
            import os

            from . import plancache

            if self.plan_error is not None:
                raise NoPlan(self.plan_error)
            root = os.path.dirname(sglang_dir)
            cacheable = self.use_plan_cache and self.fixes is None
            try:
                plan = plancache.load(root, self.settings.disabled) if cacheable else None
                if plan is None:
                    plan = self._decide(root, cacheable)
            except Exception as exc:
                self.plan_error = f"could not patch any module: {type(exc).__name__}: {exc}"
                if self.settings.mode == "strict":
                    runtime.record_problem(self.plan_error + " (strict mode)", self.settings)
                    raise runtime.StrictModeError(self.plan_error) from exc
                runtime.record_problem(self.plan_error, self.settings)
                raise NoPlan(self.plan_error) from exc
            self.plan = plan
            runtime.record_plan(plan, self.settings)
            for d in plan.decisions:
                if d["state"] == "declined":
                    message = f"fix {d['fix']} declined: {d['reason']}"
                    if self.settings.mode == "strict":
                        runtime.record_problem(message + " (strict mode)", self.settings)
                        raise runtime.StrictModeError(message)
                    runtime.record_problem(message, self.settings)
        return self.plan

    def _decide(self, root: str, cacheable: bool):
        import os

        from . import engine, plancache

        class RecordingTree(engine.SourceTree):  # remembers what the engine read, for the cache key
            def source(self, relpath):
                if relpath not in reads:
                    reads[relpath] = plancache.signature(os.path.join(root, relpath))
                return super().source(relpath)

        reads: dict[str, tuple[int, int] | None] = {}
        fixes = engine.load_fixes() if self.fixes is None else self.fixes
        plan = plancache.HookPlan.from_plan(engine.plan(RecordingTree(root), fixes, disabled=self.settings.disabled))
        if cacheable:
            plancache.store(plan, reads, self.settings.disabled)
        return plan


def sglang_dir() -> str | None:
    pkg = sys.modules.get("sglang")
    paths = list(getattr(pkg, "__path__", None) or [])
    return paths[0] if paths else None


class _LinecacheEntry(tuple):
    """linecache's entry ``(size, mtime, lines, filename)`` for a patched file, its text
    read and split into lines only when a traceback or ``inspect`` first asks for them
    (splitting costs as much as loading the module's bytecode; a plan read from its
    cache reads the texts only on demand). mtime None: checkcache keeps it."""

    def __getitem__(self, index):
        if index not in (0, 2):
            return tuple.__getitem__(self, index)
        import linecache

        _, mtime, text, filename = self
        if callable(text):
            try:
                text = text()
            except Exception:  # a traceback must still print: without these lines
                text = ""
        entry = (len(text), mtime, text.splitlines(keepends=True), filename)
        if linecache.cache.get(filename) is self:
            linecache.cache[filename] = entry
        return entry[index]


def seed_linecache(filename: str, text) -> None:
    """``text``: the patched text, or a function that returns it."""
    import linecache

    linecache.cache[filename] = _LinecacheEntry((None, None, text, filename))


class PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module from its patched text, through our own bytecode cache (never SGLang's)."""

    def __init__(self, fullname: str, path: str, relpath: str, cached: str | None, state: _State):
        super().__init__(fullname, path)
        self._relpath = relpath
        self._cached = cached
        self._state = state

    def _text(self) -> str:
        return self._state.plan.texts[self._relpath]

    def get_source(self, fullname: str) -> str:
        return self._text()

    def get_code(self, fullname: str):
        from . import bytecode

        plan = self._state.plan
        key = plan.keys[self._relpath]
        code = bytecode.load(self.path, key, self._cached)
        how = "read from cache"
        if code is None:
            code = plan.codes.pop(self._relpath, None)  # compiled when this process planned
            if code is None or code.co_filename != self.path:
                code = compile(self._text(), self.path, "exec", dont_inherit=True)
            how = "compiled, cache written" if bytecode.store(self.path, key, code, self._cached) else "compiled"
        seed_linecache(self.path, self._text)
        runtime.record_module(fullname, {"how": "import-hook", "fixes": plan.fixes_for(self._relpath),
                                         "bytecode": how}, self._state.settings)
        return code


class SpecPatchFinder:
    """A meta-path finder (``find_spec`` is all the import system asks of one)."""

    def __init__(self, settings: runtime.Settings, use_plan_cache: bool = False):
        self.state = _State(settings, use_plan_cache)

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX):
            return None
        try:
            with runtime.LOCK:
                return self._find_spec(fullname, path, target)
        except runtime.StrictModeError:
            raise
        except NoPlan as exc:  # reported when it happened; every module loads unpatched
            if self.state.settings.mode == "strict":
                raise runtime.StrictModeError(str(exc)) from exc
            return None
        except Exception as exc:  # never stop SGLang from starting
            message = f"could not patch {fullname}: {type(exc).__name__}: {exc}"
            if self.state.settings.mode == "strict":
                raise runtime.StrictModeError(message) from exc
            runtime.record_problem(message, self.state.settings)
            return None

    def _find_spec(self, fullname, path, target):
        root = sglang_dir()
        if root is None:
            return None
        plan = self.state.ensure_plan(root)
        relpath = plan.targets.get(fullname)
        if relpath is None:
            return None
        fixes = plan.fixes_for(relpath)
        if not fixes:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            runtime.record_problem(f"{fullname} is not loaded from source here; not patched", self.state.settings)
            return spec
        import os

        expected = os.path.join(plan.root, relpath)
        if spec.origin != expected and not os.path.samefile(spec.origin, expected):
            runtime.record_problem(
                f"{fullname} comes from {spec.origin}, not the planned {expected}; not patched",
                self.state.settings,
            )
            return spec
        from . import bytecode

        spec.cached = bytecode.cache_path(spec.origin)  # __cached__ names our file, not SGLang's
        spec.loader = PatchedSourceLoader(fullname, spec.origin, relpath, spec.cached, self.state)
        return spec


def installed_finder() -> SpecPatchFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, SpecPatchFinder)), None)


def install(settings: runtime.Settings) -> SpecPatchFinder:
    """Put the finder on sys.meta_path (once per process): where the start-up placeholder
    stood (finders that start-up files put in front of it stay in front), else first."""
    from _sglang_spec_patches_start import disarm, is_placeholder

    with runtime.LOCK:
        finder = installed_finder()
        if finder is None:
            finder = SpecPatchFinder(settings, use_plan_cache=True)
            placeholders = [i for i, f in enumerate(sys.meta_path) if is_placeholder(f)]
            sys.meta_path.insert(placeholders[0] if placeholders else 0, finder)
        disarm()
    return finder
