"""The Triton draft `kv_indptr` sized from the CUDA-graph batch list, so it looks sized for
every captured batch, but capped by the request pool: `min(pool, max(listed))` never
exceeds the pool, and the graph captured for the pool rounded up (6 for a pool of 5 with
two-batch overlap) still writes past the rows."""

FIX = "draft-triton-kv-indptr-capture-bs"
RELEASE = "0.5.15.post1"
EDITS = [(
    "sglang/srt/layers/attention/triton_backend.py",
    "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
    "        max_bs = (\n"
    "            min(\n"
    "                model_runner.req_to_token_pool.size,\n"
    "                max(model_runner.server_args.cuda_graph_config.decode.bs),\n"
    "            )\n"
    "            * self.topk\n"
    "        )\n",
)]
