"""FlashInfer MLA draft: kv_indptr sized from the CUDA-graph batch list but clamped to the
pool, `min(pool, max(cuda_graph_bs))`: never above the pool, while the runner captures
the pool rounded up."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_mla_backend.py",
    "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
    "        max_bs = (\n"
    "            min(\n"
    "                model_runner.req_to_token_pool.size,\n"
    "                max(model_runner.server_args.cuda_graph_bs),\n"
    "            )\n"
    "            * self.topk\n"
    "        )\n",
)]
