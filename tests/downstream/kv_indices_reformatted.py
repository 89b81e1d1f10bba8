"""A reformatted call in the line our diff replaces: the ``torch.zeros`` call that sizes
the draft kv_indices buffer is written on one line. A replaced line cannot be
re-anchored: declined."""

RELEASE = "0.5.2"
OLD = ("        self.cuda_graph_kv_indices = torch.zeros(\n"
       "            (self.speculative_num_steps, max_bs * self.max_context_len),\n"
       "            dtype=torch.int32,\n"
       "            device=\"cuda\",\n"
       "        )\n")
NEW = ("        self.cuda_graph_kv_indices = torch.zeros((self.speculative_num_steps, max_bs * self.max_context_len), "
       "dtype=torch.int32, device=\"cuda\")\n")
EDITS = [("sglang/srt/layers/attention/flashinfer_backend.py", OLD, NEW)]
EXPECT = {
    "draft-kv-indices-topk": ("declined", "a line the diff changes is absent"),
}
