"""The release's own `buffers.positions.zero_()` (the upstream marker still matches it)
moved from the padding branch to `if bs == raw_bs:`: it runs on the replays that pad
nothing and never on a padded one, so padded positions grow again."""

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
            '        if bs == raw_bs:\n'
            '            buffers.positions.zero_()\n'
            '\n'
            '        num_tokens = bs * self.num_tokens_per_bs\n'
        ),
    ),
]
