"""kv_indptr rows sized for the pool rounded up times topk, but kv_last_page_len left at
upstream's `pool * topk` rounded up: FlashInfer's plan still gets `kv_last_page_len[:rows]`
shorter than the rows of a full padded batch for topk > 1."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.15.post1"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_backend.py",
    "        max_bs = _cuda_graph_capture_max_bs(\n"
    "            model_runner.server_args, model_runner.req_to_token_pool.size * self.topk\n"
    "        )\n"
    "        self.kv_indptr = torch.zeros(\n"
    "            (\n"
    "                self.speculative_num_steps,\n"
    "                max_bs + 1,\n",
    "        max_bs = _cuda_graph_capture_max_bs(\n"
    "            model_runner.server_args, model_runner.req_to_token_pool.size * self.topk\n"
    "        )\n"
    "        graph_rows = (\n"
    "            _cuda_graph_capture_max_bs(\n"
    "                model_runner.server_args, model_runner.req_to_token_pool.size\n"
    "            )\n"
    "            * self.topk\n"
    "        )\n"
    "        self.kv_indptr = torch.zeros(\n"
    "            (\n"
    "                self.speculative_num_steps,\n"
    "                graph_rows + 1,\n",
)]
