"""With padding disabled the capture list is dense from 1, but only up to half the
maximum batch size: every larger batch runs eagerly."""

FIX = "spec-disable-padding"
RELEASE = "0.5.9"
EDITS = [
    (
        "sglang/srt/server_args.py",
        (
            '        if self.disable_cuda_graph_padding:\n'
            '            capture_bs = list(range(1, self.cuda_graph_max_bs + 1))\n'
        ),
        (
            '        if self.disable_cuda_graph_padding:\n'
            '            capture_bs = list(range(1, self.cuda_graph_max_bs // 2 + 1))\n'
        ),
    ),
]
