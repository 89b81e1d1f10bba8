"""kv_indptr allocated for the largest CUDA-graph batch, then sliced back to the pool
before the step backends take their rows: the allocation is right, the buffer the
backend reads is not."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_backend.py",
    "        max_bs = _cuda_graph_capture_max_bs(\n"
    "            model_runner.server_args, model_runner.req_to_token_pool.size * self.topk\n"
    "        )\n"
    "        self.kv_indptr = torch.zeros(\n"
    "            (\n"
    "                self.speculative_num_steps,\n"
    "                max_bs + 1,\n"
    "            ),\n"
    "            dtype=torch.int32,\n"
    "            device=model_runner.device,\n"
    "        )\n",
    "        max_bs = (\n"
    "            max(\n"
    "                model_runner.req_to_token_pool.size,\n"
    "                max(model_runner.server_args.cuda_graph_config.decode.bs),\n"
    "            )\n"
    "            * self.topk\n"
    "        )\n"
    "        self.kv_indptr = torch.zeros(\n"
    "            (\n"
    "                self.speculative_num_steps,\n"
    "                max_bs + 1,\n"
    "            ),\n"
    "            dtype=torch.int32,\n"
    "            device=model_runner.device,\n"
    "        )\n"
    "        self.kv_indptr = self.kv_indptr[\n"
    "            :, : model_runner.req_to_token_pool.size * self.topk + 1\n"
    "        ]\n",
)]
