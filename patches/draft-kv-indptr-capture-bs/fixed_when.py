"""draft-kv-indptr-capture-bs holds when ``FlashInferMultiStepDraftBackend.__init__`` sizes
``kv_indptr`` for more than the request pool: the batch size in its shape (followed through
local assignments) reads the CUDA-graph batch list (``cuda_graph_bs``) or comes from a
CUDA-graph sizing function (a call whose name has ``cuda_graph`` in it).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import attribute_values, local_values, reads_graph_sizes

FILE = "sglang/srt/layers/attention/flashinfer_backend.py"
CLASS = "FlashInferMultiStepDraftBackend"


def check(read):
    text = read(FILE)
    if text is None:
        return None
    for cls in ast.walk(ast.parse(text)):
        if isinstance(cls, ast.ClassDef) and cls.name == CLASS:
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "__init__" and _sized_past_pool(fn):
                    return f"{CLASS} sizes kv_indptr for the CUDA-graph batch sizes, not only the request pool"
    return None


def _sized_past_pool(fn):
    values = attribute_values(fn, "kv_indptr")
    return bool(values) and reads_graph_sizes(values[0], local_values(fn))
