"""With padding disabled and speculative decoding on, the capture list is made dense from 1
(as the fix does), but only up to half the maximum batch size: every larger batch still
runs eagerly. (The pool clip below it is reformatted, as a downstream tree might.)"""

FIX = "spec-disable-padding"
RELEASE = "0.5.3rc0"
EDITS = [(
    "sglang/srt/model_executor/cuda_graph_runner.py",
    '    capture_bs = [bs for bs in capture_bs if bs <= model_runner.req_to_token_pool.size]\n',
    (
        '    if server_args.speculative_algorithm is not None and server_args.disable_cuda_graph_padding:\n'
        '        capture_bs = list(range(1, (server_args.cuda_graph_max_bs or 160) // 2 + 1))\n'
        '    capture_bs = [bs for bs in capture_bs if bs < model_runner.req_to_token_pool.size + 1]\n'
    ),
)]
