"""FlashInfer MLA draft: init_cuda_graph_state slices kv_indptr to the largest captured
batch, `self.kv_indptr[:, : max_bs * topk + 1]`, instead of growing it: a slice never
makes the pool-sized rows longer."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [(
    "sglang/srt/layers/attention/flashinfer_mla_backend.py",
    "    def init_cuda_graph_state(self, max_bs: int, max_num_tokens: int):\n"
    "        # Row holds topk",
    "    def init_cuda_graph_state(self, max_bs: int, max_num_tokens: int):\n"
    "        self.kv_indptr = self.kv_indptr[:, : max_bs * self.topk + 1]\n"
    "        # Row holds topk",
)]
