"""draft-kv-indptr-capture-bs holds when ``FlashInferMultiStepDraftBackend`` allocates, on
``self``, a ``kv_indptr`` whose rows hold ``bs * topk + 1`` entries and a
``kv_last_page_len`` of ``bs * topk`` for the largest batch the draft CUDA graph is captured
for (the request pool rounded up to the capture alignment), before the step backends take
their views of them. ``astcheck.draft_buffers_hold_capture`` evaluates the sizes from the
syntax tree on a grid of pools, alignments, CUDA-graph batch lists and topk: upstream's
0.5.14 .. 0.5.23 sizing (``pool * topk`` rounded up, not ``pool`` rounded up times topk)
fails it for topk > 1.

Its bug needs a draft CUDA graph captured above the request pool (from 0.5.10rc0 the
capture list rounds the pool up to the two-batch-overlap / DP-attention alignment):
``lacks_need`` proves a tree never captures above it (``astcheck.capture_bs_within_pool``).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``,
``lacks_need(read) -> str | None``.
"""

from sglang_spec_patches.astcheck import capture_bs_within_pool, draft_buffers_hold_capture

FILE = "sglang/srt/layers/attention/flashinfer_backend.py"
CLASS = "FlashInferMultiStepDraftBackend"
# buffer -> (dimension, extra): shape[dimension] >= largest captured batch * topk + extra
BUFFERS = {"kv_indptr": (1, 1), "kv_last_page_len": (0, 0)}

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
    return draft_buffers_hold_capture(read, FILE, CLASS, BUFFERS, topks=(1, 2, 4))
