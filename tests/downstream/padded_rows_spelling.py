"""draft-padding-buffers in another spelling, where our hunk goes: only the padded rows,
some with ``fill_(0)``, one by item assignment. Recognised as carried by the tree."""

RELEASE = "0.5.2"
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
EDITS = [
    (RUNNER,
     "        self.positions[:raw_num_token].copy_(forward_batch.positions)\n",
     "        self.positions[:raw_num_token].copy_(forward_batch.positions)\n"
     "        if raw_bs < bs:\n"
     "            self.topk_p[raw_bs:].fill_(0)\n"
     "            self.topk_index[raw_bs:bs].fill_(0)\n"
     "            self.hidden_states[raw_bs:].zero_()\n"
     "            self.req_pool_indices[raw_bs:bs] = 0\n"),
]
EXPECT = {
    "draft-padding-buffers": ("not-applicable", "self.req_pool_indices[raw_bs:bs] (rows [raw_bs:])"),
    "draft-padding-positions": ("applies", "family 0.4.10 matches"),
}
