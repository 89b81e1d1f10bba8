"""draft-kv-indices-topk in another spelling: both FlashInfer backends size the draft
kv_indices rows with a local topk factor taken from the backend. Carried by the tree."""

RELEASE = "0.5.2"
OLD = ("        self.cuda_graph_kv_indices = torch.zeros(\n"
       "            (self.speculative_num_steps, max_bs * self.max_context_len),\n")
NEW = ("        branches = max(1, self.topk)\n"
       "        self.cuda_graph_kv_indices = torch.zeros(\n"
       "            (self.speculative_num_steps, max_bs * branches * self.max_context_len),\n")
EDITS = [
    ("sglang/srt/layers/attention/flashinfer_backend.py", OLD, NEW),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py", OLD, NEW),
]
EXPECT = {
    "draft-kv-indices-topk": ("not-applicable", "the tree carries an equivalent fix"),
}
