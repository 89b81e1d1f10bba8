"""draft-padding-positions in another spelling in both runners: the padded part only,
from the real token count on, written inside the padding branch where our hunk goes."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
     "            self.out_cache_loc.zero_()\n\n        num_tokens = bs * self.num_tokens_per_bs\n",
     "            self.out_cache_loc.zero_()\n"
     "            self.positions[raw_num_token:].zero_()\n\n"
     "        num_tokens = bs * self.num_tokens_per_bs\n"),
    ("sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py",
     "            self.out_cache_loc.zero_()\n            self.accept_length.fill_(1)\n",
     "            self.out_cache_loc.zero_()\n"
     "            self.positions[num_tokens:].fill_(0)\n"
     "            self.accept_length.fill_(1)\n"),
]
EXPECT = {
    "draft-padding-positions": ("not-applicable", "eagle_draft_extend_cuda_graph_runner.py replay() clears self.positions[num_tokens:]"),
}
