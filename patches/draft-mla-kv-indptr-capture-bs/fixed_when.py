"""draft-mla-kv-indptr-capture-bs holds when ``FlashInferMLAMultiStepDraftBackend`` sizes
``kv_indptr`` for every captured batch, either way:

* ``__init__`` sizes it for more than the request pool: the batch size in its shape
  (followed through local assignments) reads the CUDA-graph batch list (``cuda_graph_bs``,
  ``cuda_graph_config``) or comes from a CUDA-graph sizing function (a call whose name has
  ``cuda_graph`` in it, such as ``get_cuda_graph_max_batch_size``; upstream 0.5.20);
* ``init_cuda_graph_state`` assigns a new ``kv_indptr`` whose shape depends on the
  ``max_bs`` the runner passes in (the largest captured batch; this fix).

Its bug needs a draft CUDA graph captured above the request pool (from 0.5.10rc0 the
capture list rounds the pool up to the two-batch-overlap / DP-attention alignment):
``lacks_need`` proves a tree never captures above it (``astcheck.capture_bs_within_pool``).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``,
``lacks_need(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import capture_bs_within_pool, attribute_values, local_values, reach, reads_graph_sizes

FILE = "sglang/srt/layers/attention/flashinfer_mla_backend.py"
CLASS = "FlashInferMLAMultiStepDraftBackend"
GRAPH_SIZES = ("cuda_graph_bs", "cuda_graph_config")

# Besides FILE: where the draft runner's capture list comes from.
READS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/model_executor/cuda_graph_runner.py",  # up to 0.5.13.post1
    "sglang/srt/model_executor/runner/__init__.py",  # 0.5.14 and later
    "sglang/srt/model_executor/runner/base_cuda_graph_runner.py",
)


def lacks_need(read):
    return capture_bs_within_pool(read)


def check(read):
    text = read(FILE)
    if text is None:
        return None
    for cls in ast.walk(ast.parse(text)):
        if isinstance(cls, ast.ClassDef) and cls.name == CLASS:
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                if fn.name == "__init__" and _sized_past_pool(fn):
                    return f"{CLASS} sizes kv_indptr for the CUDA-graph batch sizes, not only the request pool"
                if fn.name == "init_cuda_graph_state" and _sized_for_graph_max_bs(fn):
                    return f"{CLASS}.init_cuda_graph_state sizes kv_indptr for the largest captured batch"
    return None


def _sized_for_graph_max_bs(fn):
    params = [a.arg for a in fn.args.args]
    if len(params) < 2:
        return False
    max_bs, assigned = params[1], local_values(fn)  # (self, max_bs, max_num_tokens, ...)
    return any(isinstance(n, ast.Name) and n.id == max_bs
               for value in attribute_values(fn, "kv_indptr") for n in reach([value], assigned))


def _sized_past_pool(fn):
    values = attribute_values(fn, "kv_indptr")
    return bool(values) and reads_graph_sizes(values[0], local_values(fn), GRAPH_SIZES)
