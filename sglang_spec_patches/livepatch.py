"""Fixing a module that was imported before the hook arrived.

The patched text is compiled whole (the same text the hook and bake mode produce);
then every function that the diff changes gets the new function's code object,
found by qualified name. A change outside a function (module level, a class body),
or a function whose closure differs, cannot be swapped in: it is reported as missed.
"""

from __future__ import annotations

import ast
import difflib
import types

from . import hook, runtime


def _changed_lines(old: str, new: str) -> list[int]:
    """1-based line numbers in ``new`` that the patch added or that sit where lines were removed."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    lines: list[int] = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            lines.extend(range(j1 + 1, max(j2, j1 + 1) + 1))
    return lines


def _enclosing_functions(tree: ast.Module, line: int) -> list[str]:
    """Qualified name of the innermost function containing ``line`` (as a path)."""
    path: list[str] = []
    body = tree.body
    found: str | None = None
    while True:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                    node.lineno <= line <= node.end_lineno:
                path.append(node.name)
                if not isinstance(node, ast.ClassDef):
                    found = ".".join(path)
                body = node.body
                break
        else:
            return [found] if found else []


def _code_by_qualname(code: types.CodeType, prefix: str = "") -> dict[str, types.CodeType]:
    out = {}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            name = f"{prefix}{const.co_name}"
            out[name] = const
            out.update(_code_by_qualname(const, name + "."))
    return out


def _live_function(module, qualname: str):
    obj = module
    for part in qualname.split("."):
        owner = obj
        obj = owner.__dict__.get(part) if hasattr(owner, "__dict__") else None
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if obj is None:
            return None
    return obj if isinstance(obj, types.FunctionType) else None


def patch_module(module, old_text: str, new_text: str) -> tuple[list[str], list[str]]:
    """Swap in the patched functions. Returns (patched qualnames, missed reasons)."""
    tree = ast.parse(new_text)
    new_code = compile(new_text, module.__file__, "exec", dont_inherit=True)
    codes = _code_by_qualname(new_code)
    wanted: dict[str, None] = {}
    missed: list[str] = []
    for line in _changed_lines(old_text, new_text):
        names = _enclosing_functions(tree, min(line, len(new_text.splitlines())))
        if not names:
            missed.append(f"line {line} is outside any function")
        wanted.update(dict.fromkeys(names))
    patched = []
    for qualname in wanted:
        func = _live_function(module, qualname)
        code = codes.get(qualname)
        if func is None or code is None:
            missed.append(f"{qualname} not found in the live module")
        elif func.__code__.co_freevars != code.co_freevars:
            missed.append(f"{qualname} has a different closure")
        else:
            func.__code__ = code
            patched.append(qualname)
    if patched:
        hook.seed_linecache(module.__file__, new_text)
    return patched, sorted(set(missed))


def patch_imported(state: "hook._State") -> None:
    """Fix every target module already in sys.modules; report anything it cannot fix."""
    import sys

    root = hook.sglang_dir()
    if root is None:
        return
    try:
        plan = state.ensure_plan(root)
    except hook.NoPlan:
        return  # reported once, when it happened
    targets = plan.targets
    for name in [name for name in targets if name in sys.modules]:
        relpath = targets[name]
        fixes = plan.fixes_for(relpath)
        if not fixes:
            continue
        module = sys.modules[name]
        if getattr(getattr(module, "__spec__", None), "loader", None).__class__ is hook.PatchedSourceLoader:
            continue  # born fixed
        try:
            from .engine import SourceTree

            old = SourceTree(plan.root).read(relpath)
            patched, missed = patch_module(module, old, plan.texts[relpath])
        except Exception as exc:
            patched, missed = [], [f"{type(exc).__name__}: {exc}"]
        entry = {"how": "live", "fixes": fixes, "functions": patched, "missed": missed}
        runtime.record_module(name, entry, state.settings)
        if missed:
            message = f"{name} was imported before the hook; missed: {'; '.join(missed)}"
            if state.settings.mode == "strict":
                runtime.record_problem(message + " (strict mode)", state.settings)
                raise runtime.StrictModeError(message)
            runtime.record_problem(message, state.settings)
