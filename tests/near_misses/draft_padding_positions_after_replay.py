"""The padded positions are cleared in a padding branch, but after the graph replayed (the
marker line, moved): every padded replay that follows a larger batch still runs with the
stale positions that batch left."""

FIX = "draft-padding-positions"
RELEASE = "0.5.10.post1"
EDITS = [
    (
        "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
        (
            '            buffers.out_cache_loc.zero_()\n'
            '            buffers.positions.zero_()\n'
            '\n'
            '        num_tokens = bs * self.num_tokens_per_bs\n'
        ),
        (
            '            buffers.out_cache_loc.zero_()\n'
            '\n'
            '        num_tokens = bs * self.num_tokens_per_bs\n'
        ),
    ),
    (
        "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
        (
            '        self._replay(forward_batch)\n'
        ),
        (
            '        self._replay(forward_batch)\n'
            '        if bs != raw_bs:\n'
            '            buffers.positions.zero_()\n'
        ),
    ),
]
