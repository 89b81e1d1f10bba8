"""draft-kv-indices-topk holds when every multi-step draft backend of FlashInfer (and
FlashInfer MLA, where present) sizes its CUDA-graph ``kv_indices`` with the topk factor:
in ``init_cuda_graph_state`` of each ``*MultiStepDraftBackend`` class, the value
assigned to ``self.cuda_graph_kv_indices`` depends on ``topk`` (``self.topk``, a local
or an argument of a sizing function).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import attribute_values, local_values, reach

FILES = (
    ("sglang/srt/layers/attention/flashinfer_backend.py", True),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py", False),
)


def check(read):
    seen = []
    for file, required in FILES:
        text = read(file)
        if text is None:
            if required:
                return None
            continue
        sized = _sized_with_topk(ast.parse(text))
        if sized is None:
            if required:
                return None
            continue
        if not sized:
            return None
        seen.append(file.rsplit("/", 1)[1])
    if not seen:
        return None
    return "the multi-step draft kv_indices CUDA-graph buffer is sized with topk in " + ", ".join(seen)


def _sized_with_topk(tree):
    """None when the file has no such buffer; else whether every one uses topk."""
    verdicts = []
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("MultiStepDraftBackend")):
            continue
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "init_cuda_graph_state"):
                continue
            assigned = local_values(fn)
            verdicts += [_uses_topk(value, assigned) for value in attribute_values(fn, "cuda_graph_kv_indices")]
    return all(verdicts) if verdicts else None


def _uses_topk(expr, assigned):
    return any((isinstance(n, ast.Attribute) and n.attr == "topk") or (isinstance(n, ast.Name) and n.id == "topk")
               for n in reach([expr], assigned))
