"""Like slime's 0.5.10.post1 image: the same zeroing as its 0.5.9 patch, spelled with
``buffers.`` (the release keeps the draft inputs in a buffers object), placed right
after the positions copy where our hunk anchors. Its ``buffers.topk_p.zero_()`` line is
also the upstream marker of 0.5.11; in a tree tagged 0.5.10.post1 that marker means a
backport, and the fix's own check decides (it sees all four buffers cleared)."""

RELEASE = "0.5.10.post1"
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
EDITS = [
    (RUNNER,
     "        buffers.positions[:raw_num_token].copy_(forward_batch.positions)\n",
     "        buffers.positions[:raw_num_token].copy_(forward_batch.positions)\n"
     "        if bs != raw_bs:\n"
     "            buffers.topk_p.zero_()\n"
     "            buffers.topk_index.zero_()\n"
     "            buffers.hidden_states.zero_()\n"
     "            buffers.req_pool_indices.zero_()\n"),
]
EXPECT = {
    "draft-padding-buffers": ("not-applicable", "the tree carries an equivalent fix: replay() clears the padded draft slots: buffers.topk_p (whole)"),
}
