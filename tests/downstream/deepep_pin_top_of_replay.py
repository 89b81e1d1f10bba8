"""An unrelated line at the top of the draft runner's replay (pinning a DeepEP mode, as
some patch sets do), far from every hunk: nothing changes, the diffs apply exactly."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
     "    def replay(self, forward_batch: ForwardBatch):\n        assert forward_batch.out_cache_loc is not None\n",
     "    def replay(self, forward_batch: ForwardBatch):\n"
     "        assert forward_batch.out_cache_loc is not None\n"
     "        self.deepep_mode = getattr(self, \"deepep_mode\", None)\n"),
]
EXPECT = {
    "draft-padding-positions": ("applies", "family 0.4.10 matches"),
    "draft-padding-buffers": ("applies", "family 0.4.10 matches"),
}
