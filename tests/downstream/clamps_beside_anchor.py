"""Only the clamps: the copy lines after our draft-padding-buffers hunk clamp topk_p and
topk_index, nothing zeroes the padded rows. The hunk's trailing context no longer
matches; it is re-anchored on its leading context (the positions copy) in replay()."""

RELEASE = "0.5.9"
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
EDITS = [
    (RUNNER,
     "        self.topk_p[:raw_bs].copy_(forward_batch.spec_info.topk_p)\n",
     "        self.topk_p[:raw_bs].copy_(torch.clamp(forward_batch.spec_info.topk_p, 0.0, 1.0))\n"),
]
EXPECT = {
    "draft-padding-buffers": ("applies", "re-anchored in EAGLEDraftCudaGraphRunner.replay()"),
}
