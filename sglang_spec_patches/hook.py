"""The run-time hook: SGLang modules are born fixed.

A meta-path finder sits in front of the normal path finder. For any ``sglang.srt.*``
module that a fix touches it lets the normal finder locate the file, then swaps in a
loader that compiles the patched text instead of the file's. Like pytest's assertion
rewriting, it never writes or reads SGLang's own ``.pyc`` (the patched bytecode is
not cached at all: a handful of modules compile in milliseconds), and it seeds
``linecache`` so tracebacks and ``inspect.getsource`` show the patched lines.

Nothing heavy is imported until an ``sglang.srt`` module is imported.
"""

from __future__ import annotations

# Imported at every interpreter start: keep to modules Python has already loaded.
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
    """Loads a module from its patched text; bytecode caches are neither read nor written."""

    def __init__(self, fullname: str, path: str, text: str, fixes: list[str], state: _State):
        super().__init__(fullname, path)
        self._text = text
        self._fixes = fixes
        self._state = state

    def get_source(self, fullname: str) -> str:
        return self._text

    def get_code(self, fullname: str):
        code = compile(self._text, self.path, "exec", dont_inherit=True)
        seed_linecache(self.path, self._text)
        runtime.record_module(fullname, {"how": "import-hook", "fixes": self._fixes}, self._state.settings)
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
        return spec


def installed_finder() -> SpecPatchFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, SpecPatchFinder)), None)


def install(settings: runtime.Settings) -> SpecPatchFinder:
    """Put the finder first on sys.meta_path (once per process)."""
    finder = installed_finder()
    if finder is None:
        finder = SpecPatchFinder(settings)
        sys.meta_path.insert(0, finder)
    return finder
