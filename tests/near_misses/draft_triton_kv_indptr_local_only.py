"""A `kv_indptr` of the right width for the largest captured batch built in
`init_cuda_graph_state`, but only as a local: the backend's `self.kv_indptr`, which the
draft kernel writes and the step backends read, keeps the width of the request pool."""

FIX = "draft-triton-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/layers/attention/triton_backend.py",
    "            max_bs, self.topk, self.max_context_len\n"
    "        )\n"
    "        self.cuda_graph_kv_indices = torch.zeros(\n",
    "            max_bs, self.topk, self.max_context_len\n"
    "        )\n"
    "        kv_indptr = torch.zeros(\n"
    "            (self.speculative_num_steps, max_bs * self.topk + 1),\n"
    "            dtype=torch.int32,\n"
    "            device=self.device,\n"
    "        )\n"
    "        self.cuda_graph_kv_indices = torch.zeros(\n",
)]
