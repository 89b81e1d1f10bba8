"""Load single functions of the SGLang under test, without importing SGLang.

The kernel-level tests must run on a bare GPU box: PyTorch and Triton, an SGLang wheel
unpacked next to them, but no sgl-kernel (a compiled package that cannot be carried)
and none of SGLang's other dependencies. Importing ``sglang.srt.speculative.eagle_utils``
pulls in sgl_kernel at module level, so the tests do not import SGLang modules at all.
Instead they take the exact source of the few functions they need - Triton kernels such
as ``generate_draft_decode_kv_indices`` and plain methods such as
``EAGLEDraftCudaGraphRunner.replay`` - out of the release's own files with ``ast``, write
them into a throw-away module file (Triton's ``@triton.jit`` reads a kernel's source
through ``inspect``, so it must live in a real file), and execute that module with the
few names the functions use supplied by the test. Methods become plain functions that
the test binds to its stand-in objects.

The text is either the file as shipped ("unpatched") or the text the shim's import
hook would compile for it (``engine.plan``: every applicable fix, "patched").
Nothing here is kept in the repository: the functions are read from the SGLang under
test at run time.

A plain function the extracted code calls and the test does not supply (a helper such as
``draft_kv_indices_used_len``, or one a fix's diff starts calling) is taken the same way
from where the file defines or imports it inside ``sglang``; anything else it lacks
raises NameError when called, naming it.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import symtable
import textwrap
from pathlib import Path

from sglang_spec_patches import engine

# Where each function lives, newest layout last: the first file that defines it wins.
LOCATIONS = {
    "generate_draft_decode_kv_indices": ["sglang/srt/speculative/eagle_utils.py",
                                         "sglang/srt/speculative/spec_utils.py",
                                         "sglang/srt/speculative/triton_ops/cache_locs.py",
                                         "sglang/kernels/ops/speculative/cache_locs.py"],
    "create_flashinfer_kv_indices_triton": ["sglang/srt/layers/attention/utils.py"],
    "next_power_of_2": ["sglang/srt/utils.py", "sglang/srt/utils/common.py"],
    "EAGLEDraftCudaGraphRunner": ["sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"],
    "FlashInferMultiStepDraftBackend": ["sglang/srt/layers/attention/flashinfer_backend.py"],
    "FlashInferAttnBackend": ["sglang/srt/layers/attention/flashinfer_backend.py"],
    "TritonMultiStepDraftBackend": ["sglang/srt/layers/attention/triton_backend.py"],
    "get_batch_sizes_to_capture": ["sglang/srt/model_executor/cuda_graph_runner.py",
                                   "sglang/srt/model_executor/runner/base_cuda_graph_runner.py"],
    "EagleVerifyInput": ["sglang/srt/speculative/eagle_utils.py", "sglang/srt/speculative/eagle_info.py"],
}


WHEEL_FILES = ".sglang-spec-patches-wheel-files"  # in a tree carried to the GPU machine: every file of its wheel


class CarriedTree(engine.SourceTree):
    """A source tree carried as a subset of its wheel (``ci/device-check.sh --prepare``):
    the file ``WHEEL_FILES`` lists every file of the wheel, and a read of one that was not
    carried is recorded in ``missing`` (it reads as absent, so the caller must check)."""

    def __init__(self, root: Path | str):
        super().__init__(root)
        self.wheel_files = set((Path(root) / WHEEL_FILES).read_text(encoding="utf-8").splitlines())
        self.missing: set[str] = set()

    def read(self, relpath: str) -> str | None:
        text = super().read(relpath)
        if text is None and relpath in self.wheel_files:
            self.missing.add(relpath)
        return text


def source_tree(root: Path | str) -> engine.SourceTree:
    """The tree at ``root``: a CarriedTree when it is a carried subset of a wheel."""
    return CarriedTree(root) if (Path(root) / WHEEL_FILES).is_file() else engine.SourceTree(root)


class Sources:
    """The SGLang tree under test, unpatched or as the shim would patch it."""

    def __init__(self, root: Path | str, patched: bool):
        self.tree = source_tree(root)
        self.patched = patched
        self._plan = engine.plan(self.tree) if patched else None

    def text(self, relpath: str) -> str | None:
        if self._plan is not None and relpath in self._plan.texts:
            return self._plan.texts[relpath]
        return self.tree.read(relpath)

    def fixes_applied(self, relpath: str) -> list[str]:
        return self._plan.fixes_for(relpath) if self._plan is not None else []

    def locate(self, name: str) -> tuple[str, str]:
        """(relpath, text) of the first file that defines ``name`` at top level."""
        for relpath in LOCATIONS[name]:
            text = self.text(relpath)
            if text is not None and _top_level(ast.parse(text), name) is not None:
                return relpath, text
        raise LookupError(f"{name} not found in {LOCATIONS[name]}")


def _top_level(tree: ast.Module, name: str):
    return next((n for n in tree.body if getattr(n, "name", None) == name), None)


def _segment(text: str, node) -> str:
    """The node's source, decorators included, dedented."""
    lines = text.splitlines(keepends=True)
    start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
    return textwrap.dedent("".join(lines[start - 1: node.end_lineno]))


def extract(text: str, name: str, methods: list[str] | None = None) -> list[str]:
    """Source of a top-level function, or of the named methods of a top-level class."""
    node = _top_level(ast.parse(text), name)
    if node is None:
        raise LookupError(name)
    if methods is None:
        return [_segment(text, node)]
    found = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [m for m in methods if m not in found]
    if missing:
        raise LookupError(f"{name} has no {', '.join(missing)}")
    return [_segment(text, found[m]) for m in methods]


def _free_names(source: str) -> set[str]:
    """Names the code reads from its module's globals (not bound in it, not builtins)."""
    found: set[str] = set()

    def walk(table):
        for sym in table.get_symbols():
            if sym.is_referenced() and (sym.is_global() or table.get_type() == "module"):
                found.add(sym.get_name())
        for child in table.get_children():
            walk(child)

    top = symtable.symtable(source, "<extracted>", "exec")
    walk(top)
    bound = {sym.get_name() for sym in top.get_symbols() if sym.is_assigned() or sym.is_imported()}
    return found - bound - set(dir(builtins))


def _module_file(sources: Sources, module: str) -> str | None:
    base = module.replace(".", "/")
    for relpath in (f"{base}.py", f"{base}/__init__.py"):
        if sources.text(relpath) is not None:
            return relpath
    return None


def _find_function(sources: Sources, relpath: str, name: str, hops: int = 4) -> tuple[str, str] | None:
    """(relpath, source) of the plain function ``name`` as seen from ``relpath``: defined
    there at top level, or imported there from an ``sglang`` module (followed through
    re-exports)."""
    text = sources.text(relpath)
    if text is None or hops == 0:
        return None
    tree = ast.parse(text)
    node = _top_level(tree, name)
    if isinstance(node, ast.FunctionDef):
        return relpath, _segment(text, node)
    for imp in ast.walk(tree):
        if not isinstance(imp, ast.ImportFrom):
            continue
        for alias in imp.names:
            if (alias.asname or alias.name) != name:
                continue
            if imp.level:  # relative: from the file's own package
                package = relpath.rsplit("/", imp.level)[0].replace("/", ".")
                module = f"{package}.{imp.module}" if imp.module else package
            else:
                module = imp.module or ""
            target = _module_file(sources, module) if module.startswith("sglang") else None
            found = target and _find_function(sources, target, alias.name, hops - 1)
            if found:
                return found
    return None


def _helpers(sources: Sources, relpath: str, parts: list[str], names: dict, name: str, future: str) -> dict[str, str]:
    """name -> source of every plain function the parts call (transitively) and ``names`` lacks."""
    helpers: dict[str, str] = {}
    pending = [(relpath, part) for part in parts]
    while pending:
        where, part = pending.pop()
        for free in sorted(_free_names(future + part)):
            if free in names or free in helpers or free == name:
                continue
            found = _find_function(sources, where, free)
            if found:
                helpers[free] = found[1]
                pending.append(found)
    return helpers


def reach(sources: Sources, name: str) -> None:
    """Read every file ``load`` could read for ``name``: all its methods, no name supplied
    (what ``ci/device-check.sh --prepare`` must carry). LookupError when it is not there."""
    relpath, text = sources.locate(name)
    node = _top_level(ast.parse(text), name)
    methods = ([m.name for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
               if isinstance(node, ast.ClassDef) else None)
    _helpers(sources, relpath, extract(text, name, methods), {}, name, "")


def load(sources: Sources, name: str, methods: list[str] | None, names: dict, workdir: Path) -> dict:
    """Execute the extracted code in a fresh module and return its functions by name.

    ``names`` supplies the module-level names the code uses (torch, stand-ins ...); plain
    functions it also calls are taken from the tree (see the module docstring).
    """
    relpath, text = sources.locate(name)
    future = "from __future__ import annotations\n" if "from __future__ import annotations" in text else ""
    parts = extract(text, name, methods)
    helpers = _helpers(sources, relpath, parts, names, name, future)
    missing = sorted(getattr(sources.tree, "missing", ()))
    if missing:  # a carried tree (.device) lacks a file the code needs
        raise LookupError(f"{name} needs {', '.join(missing)}, not carried in .device/: rerun "
                          f"`bash ci/device-check.sh --prepare`")
    body = (f'"""Extracted at test time from {relpath} of the SGLang under test '
            f'({"patched by the shim" if sources.patched else "as shipped"})."""\n'
            f"{future}import triton\nimport triton.language as tl\n\n\n" + "\n\n".join([*helpers.values(), *parts]))
    digest = hashlib.sha1(body.encode()).hexdigest()[:12]
    path = Path(workdir) / f"sglang_real_{name}_{digest}.py"
    path.write_text(body, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(names)
    spec.loader.exec_module(module)
    wanted = methods if methods is not None else [name]
    return {m: getattr(module, m) for m in wanted}


def standin_module(dotted: str, **attrs) -> None:
    """Stand-in for an SGLang module that extracted code imports inside a function body
    (``from sglang.srt.speculative.spec_utils import generate_draft_decode_kv_indices`` in
    a method): an empty module holding ``attrs``, with empty parent packages. SGLang
    itself is never imported here."""
    import sys
    import types

    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            module = types.ModuleType(name, "stand-in (tests/gpu/real_code.py)")
            module.__path__ = []
            sys.modules[name] = module
            if i > 1:
                setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], module)
    sys.modules[dotted].__dict__.update(attrs)


class TorchOnDevice:
    """Stand-in for the ``torch`` module seen by extracted code on a CPU run: the real
    torch, except that factory calls asking for ``device="cuda"`` (written literally in
    several SGLang functions) get the test's device. On a GPU run the tests pass the
    real torch instead."""

    _FACTORIES = {"zeros", "ones", "empty", "full", "arange", "tensor"}

    def __init__(self, torch, device: str):
        self._torch = torch
        self._device = device

    def __getattr__(self, attr):
        value = getattr(self._torch, attr)
        if attr not in self._FACTORIES:
            return value

        def factory(*args, **kwargs):
            if str(kwargs.get("device", "")).startswith("cuda"):
                kwargs["device"] = self._device
            return value(*args, **kwargs)

        return factory
