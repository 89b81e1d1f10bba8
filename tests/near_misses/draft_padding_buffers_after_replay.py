"""The four buffers are cleared in a padding branch, but after the graph replayed: each
padded replay still reads what the batch before it left in the padded rows."""

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
            '        self._replay(forward_batch)\n'
        ),
        (
            '        self._replay(forward_batch)\n'
            '        if bs != raw_bs:\n'
            '            buffers.topk_p.zero_()\n'
            '            buffers.topk_index.zero_()\n'
            '            if buffers.hidden_states is not None:\n'
            '                buffers.hidden_states.zero_()\n'
            '            buffers.req_pool_indices.zero_()\n'
        ),
    ),
]
