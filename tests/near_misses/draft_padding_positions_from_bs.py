"""The padding branch clears positions from index `bs` on: with topk 1 (one token a
request) the padded requests' slots are `raw_bs .. bs - 1`, which keep their stale,
growing positions."""

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
            '            buffers.positions[bs:].zero_()\n'
            '\n'
            '        num_tokens = bs * self.num_tokens_per_bs\n'
        ),
    ),
]
