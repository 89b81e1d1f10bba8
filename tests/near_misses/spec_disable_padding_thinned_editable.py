"""Upstream's dense list under the flag (the upstream marker matches), thinned out right
after to multiples of 8 past 8, in a tree that reports an editable build's version: the
value that reaches the runner is sparse again."""

FIX = "spec-disable-padding"
RELEASE = "0.5.9"
VERSION = "0.0.0.dev1+g5ca1ab1e"
EDITS = [
    (
        "sglang/srt/server_args.py",
        (
            '        capture_bs = [bs for bs in capture_bs if bs <= self.cuda_graph_max_bs]\n'
        ),
        (
            '        capture_bs = [bs for bs in capture_bs if bs <= self.cuda_graph_max_bs]\n'
            '        capture_bs = [bs for bs in capture_bs if bs <= 8 or bs % 8 == 0]\n'
        ),
    ),
]
