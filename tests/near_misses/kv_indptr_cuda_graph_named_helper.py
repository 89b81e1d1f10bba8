"""kv_indptr sized through a helper whose name has "cuda_graph" in it, which returns the
request pool unchanged: a name-based check took any such call for a fix. The rows are
still sized for the pool, not for the pool rounded up."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [
    ("sglang/srt/layers/attention/flashinfer_backend.py",
     "class FlashInferMultiStepDraftBackend:",
     "def _cuda_graph_rows(pool_size):\n    return pool_size\n\n\nclass FlashInferMultiStepDraftBackend:"),
    ("sglang/srt/layers/attention/flashinfer_backend.py",
     "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
     "        max_bs = _cuda_graph_rows(model_runner.req_to_token_pool.size) * self.topk\n"),
]
