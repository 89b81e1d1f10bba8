"""`buffers.topk_p.zero_()` (an upstream marker line) put under `if False:` in a tree that
reports an editable build's version: the marker alone must not decide; topk_p's padded
rows keep an earlier batch's values."""

FIX = "draft-padding-buffers"
RELEASE = "0.5.12.post1"
VERSION = "0.0.0.dev1+gabad1dea"
EDITS = [
    (
        "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
        (
            '            buffers.topk_p.zero_()\n'
        ),
        (
            '            if False:\n'
            '                buffers.topk_p.zero_()\n'
        ),
    ),
]
