"""The upstream F1 line (positions zeroed in the padding branch) is in the tree, but under
`if False:`, and the tree reports an editable build's version: the marker alone must not
decide. The padded positions still grow on every replay."""

FIX = "draft-padding-positions"
RELEASE = "0.5.2"
VERSION = "0.0.0.dev1+g0123abc"
EDITS = [(
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "            self.out_cache_loc.zero_()\n",
    "            self.out_cache_loc.zero_()\n            if False:\n                self.positions.zero_()\n",
)]
