"""Upstream's FlashInfer spelling copied into the Triton draft backend: `kv_indptr` sized
through the CUDA-graph rounding, so it looks sized for the captured batch. It rounds
`pool * topk` up to the alignment instead of the pool: pool 5, two-batch overlap, topk 2
gives rows of 11 while the graph of 6 writes 13 (topk 4: 21 vs 25)."""

FIX = "draft-triton-kv-indptr-capture-bs"
RELEASE = "0.5.23"
EDITS = [
    (
        "sglang/srt/layers/attention/triton_backend.py",
        "from sglang.srt.utils import (\n    get_bool_env_var,\n",
        "from sglang.srt.utils import (\n    get_bool_env_var,\n    get_cuda_graph_max_batch_size,\n",
    ),
    (
        "sglang/srt/layers/attention/triton_backend.py",
        "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
        "        max_bs = get_cuda_graph_max_batch_size(\n"
        "            model_runner.req_to_token_pool.size * self.topk\n"
        "        )\n",
    ),
]
