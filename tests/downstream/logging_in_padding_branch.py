"""A debug line as the first statement of the draft runner's padding branch (the module
has a logger in this release). draft-padding-positions' leading context is broken; the
hunk is re-anchored on the rest of the branch."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
     "        if bs != raw_bs:\n            self.seq_lens.fill_(self.seq_len_fill_value)\n",
     "        if bs != raw_bs:\n"
     "            logger.debug(\"draft replay pads batch %d to %d\", raw_bs, bs)\n"
     "            self.seq_lens.fill_(self.seq_len_fill_value)\n"),
]
EXPECT = {
    "draft-padding-positions": ("applies", "context trimmed: 'if bs != raw_bs:'"),
    "draft-padding-buffers": ("applies", "family 0.4.10 matches"),
}
