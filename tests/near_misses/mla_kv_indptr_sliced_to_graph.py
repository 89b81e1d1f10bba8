"""FlashInfer MLA draft: init_cuda_graph_state slices kv_indptr to the largest captured
batch, `self.kv_indptr[:, : max_bs * topk + 1]`, instead of growing it (and walks the step
backends its own way): a slice never makes the pool-sized rows longer. The kernel still
spills and the step backend still fails (its harness shows it, shim on)."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_mla_backend.py",
    "        for i in range(self.speculative_num_steps - 1):\n"
    "            self.attn_backends[i].init_cuda_graph_state(\n"
    "                max_bs, max_num_tokens, kv_indices_buf=self.cuda_graph_kv_indices[i]\n"
    "            )\n",
    "        # the captured batch may be above the pool: keep kv_indptr to it\n"
    "        self.kv_indptr = self.kv_indptr[:, : max_bs * self.topk + 1]\n"
    "        for i, backend in enumerate(self.attn_backends[: self.speculative_num_steps - 1]):\n"
    "            backend.init_cuda_graph_state(\n"
    "                max_bs, max_num_tokens, kv_indices_buf=self.cuda_graph_kv_indices[i]\n"
    "            )\n",
)]
