"""Like slime's 0.5.9 image: the padding branch of the draft runner's replay zeroes the
four draft inputs (whole buffers, ``self.``), and the copy lines next to our hunk clamp
topk_p/topk_index. The tree is fixed: draft-padding-buffers must not be declined."""

RELEASE = "0.5.9"
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
EDITS = [
    (RUNNER,
     "            self.positions.zero_()\n\n        num_tokens",
     "            self.positions.zero_()\n"
     "            self.topk_p.zero_()\n"
     "            self.topk_index.zero_()\n"
     "            self.hidden_states.zero_()\n"
     "            self.req_pool_indices.zero_()\n\n        num_tokens"),
    (RUNNER,
     "        self.topk_p[:raw_bs].copy_(forward_batch.spec_info.topk_p)\n"
     "        self.topk_index[:raw_bs].copy_(forward_batch.spec_info.topk_index)\n",
     "        self.topk_p[:raw_bs].copy_(forward_batch.spec_info.topk_p.clamp(min=0.0, max=1.0))\n"
     "        self.topk_index[:raw_bs].copy_(\n"
     "            forward_batch.spec_info.topk_index.clamp(min=0)\n"
     "        )\n"),
]
EXPECT = {
    "draft-padding-buffers": ("not-applicable", "the tree carries an equivalent fix: replay() clears"),
    "draft-padding-positions": ("not-applicable", "release carries the upstream fix"),
}
