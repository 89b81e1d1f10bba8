"""A logger added to the module and a debug line exactly where our draft-padding-buffers
hunk inserts (after the positions copy), in the buffers family. Re-anchored; the
mechanism test runs the real replay on this tree and sees the padded rows cleared."""

RELEASE = "0.5.10.post1"
RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
EDITS = [
    (RUNNER, "import bisect\n", "import bisect\nimport logging\n"),
    (RUNNER,
     "from sglang.srt.layers.dp_attention import",
     "logger = logging.getLogger(__name__)\n\nfrom sglang.srt.layers.dp_attention import"),
    (RUNNER,
     "        buffers.positions[:raw_num_token].copy_(forward_batch.positions)\n",
     "        buffers.positions[:raw_num_token].copy_(forward_batch.positions)\n"
     "        logger.debug(\"draft replay: %d real of %d\", raw_bs, bs)\n"),
]
EXPECT = {
    "draft-padding-buffers": ("applies", "re-anchored in EAGLEDraftCudaGraphRunner.replay()"),
}
