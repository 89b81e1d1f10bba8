"""Which batch sizes SGLang captures CUDA graphs for, with and without
``--disable-cuda-graph-padding`` and speculative decoding.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``get_batch_sizes_to_capture`` (``model_executor/cuda_graph_runner.py``), the release's
``ServerArgs`` with its declared defaults (``__post_init__`` skipped, it probes the GPU),
its ``ReqToTokenPool`` (on the CPU), and the helpers the function calls itself:
``get_device_memory_capacity`` returns None on a machine without a GPU (as on a GPU with
at most 90 GB, no sizes above 160 are added), and with these defaults
``require_gathered_buffer`` is False, so the attention TP size (which needs
torch.distributed) is never asked for. Stand-in: the model runner object
(``StandInModelRunner``), which carries only the two fields the function reads.

Prints one JSON object: for each case, the capture list.
"""

from __future__ import annotations

import json

from sglang_objects import server_args_with_defaults

from sglang.srt.mem_cache.memory_pool import ReqToTokenPool
from sglang.srt.model_executor.cuda_graph_runner import get_batch_sizes_to_capture

POOL_SIZE = 256  # more requests than any size in the lists, so the pool clips nothing

CASES = {
    # name: ServerArgs overrides
    "spec_flag_max48": dict(speculative_algorithm="EAGLE", disable_cuda_graph_padding=True, cuda_graph_max_bs=48),
    "spec_flag_nomax": dict(speculative_algorithm="EAGLE", disable_cuda_graph_padding=True),
    "spec_noflag_max48": dict(speculative_algorithm="EAGLE", cuda_graph_max_bs=48),
    "nospec_flag_max48": dict(disable_cuda_graph_padding=True, cuda_graph_max_bs=48),
    "nospec_noflag_max48": dict(cuda_graph_max_bs=48),
    "spec_flag_explicit_bs": dict(speculative_algorithm="EAGLE", disable_cuda_graph_padding=True,
                                  cuda_graph_bs=[1, 2, 3, 5, 8]),
}


class StandInModelRunner:
    """Stand-in for ModelRunner: only ``server_args`` and ``req_to_token_pool``, the
    fields ``get_batch_sizes_to_capture`` reads."""

    def __init__(self, server_args, req_to_token_pool):
        self.server_args = server_args
        self.req_to_token_pool = req_to_token_pool


def main():
    pool = ReqToTokenPool(size=POOL_SIZE, max_context_len=8, device="cpu", enable_memory_saver=False)
    out = {}
    for name, overrides in CASES.items():
        runner = StandInModelRunner(server_args_with_defaults(**overrides), pool)
        result = get_batch_sizes_to_capture(runner)
        # Later 0.4/0.5 releases return (capture_bs, compile_bs); take the capture list.
        capture_bs = result[0] if isinstance(result, tuple) else result
        out[name] = [int(bs) for bs in capture_bs]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
