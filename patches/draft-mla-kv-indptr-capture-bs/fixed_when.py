"""draft-mla-kv-indptr-capture-bs holds when ``FlashInferMLAMultiStepDraftBackend`` holds,
on ``self``, a ``kv_indptr`` whose rows have ``bs + 1`` entries and a ``q_indptr_decode`` of
``bs + 1`` (the step backends' ``qo_indptr``) for the largest batch the draft CUDA graph is
captured for (the request pool rounded up to the capture alignment; MLA drafts with topk 1):
allocated in ``__init__`` before the step backends take views of them (upstream 0.5.20),
or grown in ``init_cuda_graph_state`` from the ``max_bs`` the runner passes and handed to
the step backends there (this fix). ``astcheck.draft_buffers_hold_capture`` evaluates the
sizes from the syntax tree on a grid of pools, alignments and CUDA-graph batch lists.

Its bug needs a draft CUDA graph captured above the request pool (from 0.5.10rc0 the
capture list rounds the pool up to the two-batch-overlap / DP-attention alignment):
``lacks_need`` proves a tree never captures above it (``astcheck.capture_bs_within_pool``).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``,
``lacks_need(read) -> str | None``.
"""

from sglang_spec_patches.astcheck import capture_bs_within_pool, draft_buffers_hold_capture

FILE = "sglang/srt/layers/attention/flashinfer_mla_backend.py"
CLASS = "FlashInferMLAMultiStepDraftBackend"
# buffer -> (dimension, extra): shape[dimension] >= largest captured batch * topk + extra
BUFFERS = {"kv_indptr": (1, 1), "q_indptr_decode": (0, 1)}

# Besides FILE: where the capture list and the sizing helpers come from.
READS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/model_executor/cuda_graph_runner.py",  # up to 0.5.13.post1
    "sglang/srt/model_executor/runner/__init__.py",  # 0.5.14 and later
    "sglang/srt/model_executor/runner/base_cuda_graph_runner.py",
    "sglang/srt/utils/__init__.py",  # get_cuda_graph_max_batch_size, ceil_align (0.5.17 and later)
    "sglang/srt/utils/common.py",
)


def lacks_need(read):
    return capture_bs_within_pool(read)


def check(read):
    return draft_buffers_hold_capture(read, FILE, CLASS, BUFFERS, topks=(1,))
