"""Upstream's clearing with `req_pool_indices` left out (the upstream markers still match):
the padded requests keep an earlier batch's request-pool rows, and the graph reads those
requests' token rows."""

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
        (
            '            buffers.topk_p.zero_()\n'
            '            buffers.topk_index.zero_()\n'
            '            if buffers.hidden_states is not None:\n'
            '                buffers.hidden_states.zero_()\n'
        ),
    ),
]
