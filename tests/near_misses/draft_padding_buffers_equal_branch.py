"""Upstream's four clearing lines, word for word (the upstream markers match), moved under
`if bs == raw_bs:`: they run when nothing is padded and never on a padded replay."""

FIX = "draft-padding-buffers"
RELEASE = "0.5.12.post1"
EDITS = [
    (
        "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
        (
            '            buffers.topk_p.zero_()\n'
            '            buffers.topk_index.zero_()\n'
            '            if buffers.hidden_states is not None:\n'
            '                buffers.hidden_states.zero_()\n'
            '            buffers.req_pool_indices.zero_()\n'
        ),
        "",
    ),
    (
        "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
        (
            '        num_tokens = bs * self.num_tokens_per_bs\n'
            '\n'
        ),
        (
            '        num_tokens = bs * self.num_tokens_per_bs\n'
            '        if bs == raw_bs:\n'
            '            buffers.topk_p.zero_()\n'
            '            buffers.topk_index.zero_()\n'
            '            if buffers.hidden_states is not None:\n'
            '                buffers.hidden_states.zero_()\n'
            '            buffers.req_pool_indices.zero_()\n'
            '\n'
        ),
    ),
]
