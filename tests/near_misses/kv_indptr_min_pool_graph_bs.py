"""The FlashInfer draft kv_indptr sized from the CUDA-graph batch list, but clamped to the
request pool: `min(pool, max(cuda_graph_bs))` reads the list, yet never exceeds the pool,
while the runner captures the pool rounded up (6 for a pool of 5 under two-batch overlap).
The rows stay one entry short; the kernel still spills (its harness shows it, shim on)."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_backend.py",
    "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
    "        max_bs = (\n"
    "            min(\n"
    "                model_runner.req_to_token_pool.size,\n"
    "                max(model_runner.server_args.cuda_graph_bs),\n"
    "            )\n"
    "            * self.topk\n"
    "        )\n",
)]
