"""The dense capture list is still there under the flag, but only without speculative
decoding (the 0.5.3rc0 behaviour): with EAGLE the sparse spec list is kept, and every
batch size it lacks runs eagerly with padding disabled."""

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
            '        if self.disable_cuda_graph_padding and self.speculative_algorithm is None:\n'
            '            capture_bs = list(range(1, self.cuda_graph_max_bs + 1))\n'
        ),
    ),
]
