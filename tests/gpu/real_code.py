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
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import textwrap
from pathlib import Path

from sglang_spec_patches import engine

# Where each function lives, newest layout last: the first file that defines it wins.
LOCATIONS = {
    "generate_draft_decode_kv_indices": ["sglang/srt/speculative/eagle_utils.py",
                                         "sglang/srt/speculative/spec_utils.py"],
    "create_flashinfer_kv_indices_triton": ["sglang/srt/layers/attention/utils.py"],
    "next_power_of_2": ["sglang/srt/utils.py", "sglang/srt/utils/common.py"],
    "EAGLEDraftCudaGraphRunner": ["sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"],
    "FlashInferMultiStepDraftBackend": ["sglang/srt/layers/attention/flashinfer_backend.py"],
    "FlashInferAttnBackend": ["sglang/srt/layers/attention/flashinfer_backend.py"],
    "EagleVerifyInput": ["sglang/srt/speculative/eagle_utils.py", "sglang/srt/speculative/eagle_info.py"],
}


class Sources:
    """The SGLang tree under test, unpatched or as the shim would patch it."""

    def __init__(self, root: Path | str, patched: bool):
        self.tree = engine.SourceTree(root)
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


def load(sources: Sources, name: str, methods: list[str] | None, names: dict, workdir: Path) -> dict:
    """Execute the extracted code in a fresh module and return its functions by name.

    ``names`` supplies the module-level names the code uses (torch, stand-ins ...).
    """
    relpath, text = sources.locate(name)
    future = "from __future__ import annotations\n" if "from __future__ import annotations" in text else ""
    parts = extract(text, name, methods)
    body = (f'"""Extracted at test time from {relpath} of the SGLang under test '
            f'({"patched by the shim" if sources.patched else "as shipped"})."""\n'
            f"{future}import triton\nimport triton.language as tl\n\n\n" + "\n\n".join(parts))
    digest = hashlib.sha1(body.encode()).hexdigest()[:12]
    path = Path(workdir) / f"sglang_real_{name}_{digest}.py"
    path.write_text(body, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(names)
    spec.loader.exec_module(module)
    wanted = methods if methods is not None else [name]
    return {m: getattr(module, m) for m in wanted}


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
