"""This fix's growth in `init_cuda_graph_state`, but for `max_bs + 1` entries a row (the
topk factor left out, the mistake of the multi-step `kv_indices` buffer before 0.5.13): it
grows the buffer and hands the step backends their rows, so it looks like the fix. With
topk 1 it is enough; with topk 4 the graph of 6 still writes 25 entries into rows of 21."""

FIX = "draft-triton-kv-indptr-capture-bs"
RELEASE = "0.5.15.post1"
EDITS = [(
    "sglang/srt/layers/attention/triton_backend.py",
    "            max_bs, self.topk, self.max_context_len\n"
    "        )\n"
    "        self.cuda_graph_kv_indices = torch.zeros(\n",
    "            max_bs, self.topk, self.max_context_len\n"
    "        )\n"
    "        # The runner may capture a batch above the request pool: grow kv_indptr.\n"
    "        rows = max_bs + 1\n"
    "        if rows > self.kv_indptr.shape[1]:\n"
    "            self.kv_indptr = torch.zeros(\n"
    "                (self.speculative_num_steps, rows),\n"
    "                dtype=torch.int32,\n"
    "                device=self.kv_indptr.device,\n"
    "            )\n"
    "            for i, backend in enumerate(self.attn_backends):\n"
    "                backend.kv_indptr = self.kv_indptr[i]\n"
    "\n"
    "        self.cuda_graph_kv_indices = torch.zeros(\n",
)]
