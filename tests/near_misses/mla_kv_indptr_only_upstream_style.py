"""FlashInfer MLA draft: kv_indptr sized for the pool rounded up (upstream 0.5.20's idea,
with this release's `_cuda_graph_capture_max_bs`), but q_indptr_decode - the step
backends' qo_indptr - left at the pool: FlashInfer's plan is handed a qo_indptr one entry
short for the graph of 6 (its harness shows it, shim on)."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py",
     "from sglang.srt.layers.attention.flashinfer_backend import (\n",
     "from sglang.srt.layers.attention.flashinfer_backend import (\n    _cuda_graph_capture_max_bs,\n"),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py",
     "        max_bs = model_runner.req_to_token_pool.size * self.topk\n",
     "        max_bs = (\n"
     "            _cuda_graph_capture_max_bs(\n"
     "                model_runner.server_args, model_runner.req_to_token_pool.size\n"
     "            )\n"
     "            * self.topk\n"
     "        )\n"),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py",
     "        self.q_indptr_decode = torch.arange(\n"
     "            0, max_bs + 1, dtype=torch.int32, device=model_runner.device\n"
     "        )\n",
     "        self.q_indptr_decode = torch.arange(\n"
     "            0,\n"
     "            model_runner.req_to_token_pool.size * self.topk + 1,\n"
     "            dtype=torch.int32,\n"
     "            device=model_runner.device,\n"
     "        )\n"),
]
