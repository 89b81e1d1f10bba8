"""Reproduce #9888 / #9521 on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``EAGLEDraftCudaGraphRunner`` (its ``__init__`` and ``replay``), the FlashInfer
multi-step draft wrapper's CUDA-graph state and replay metadata code, the Triton kernel
``generate_draft_decode_kv_indices`` (under TRITON_INTERPRET=1), ``ForwardBatch`` and
``EagleDraftInput``. Stand-ins, named as such below: the captured CUDA graph (it only
does to the input buffers what the captured ``EAGLEWorker.draft_forward`` does:
advance ``positions`` in place, steps-1 times), the per-step FlashInfer decode backends
(they record what FlashInfer would be told to read), the model runner object (its
server args are the release's real ServerArgs with their defaults), and CUDA
placement (``cuda_on_cpu``).

Scenario (from the dossier): topk 1, 3 steps, captured batch sizes [1, 2, 4, 8],
max context 64; one batch of 8 long requests, then a steady batch of 5 (padded to 8).
Per replay it prints one JSON line: how far the last step's ``kv_indptr`` claims the
``kv_indices`` row is filled (``claimed``), how far the kernel actually wrote
(``written``), and the row width (``row``).
"""

from __future__ import annotations

import argparse
import json
import types

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr, server_args_with_defaults

from sglang.srt.layers.attention import flashinfer_backend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode
from sglang.srt.speculative import eagle_draft_cuda_graph_runner as runner_mod

SENTINEL = -1


def kernel():
    """The release's own Triton kernel, from wherever that release keeps it."""
    return release_attr("generate_draft_decode_kv_indices",
                        "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.spec_utils")


def draft_input_class():
    return release_attr("EagleDraftInput", "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.eagle_info")


class StandInFlashInferDecode:
    """Stand-in for one step's FlashInferAttnBackend: records the kv_indptr/kv_indices
    it is handed at replay, which is exactly what FlashInfer's plan would read."""

    def __init__(self):
        self.seen = None

    def get_cuda_graph_seq_len_fill_value(self):
        return 1  # FlashInfer's own value

    def init_cuda_graph_state(self, *args, **kwargs):
        pass

    def init_forward_metadata_replay_cuda_graph(self, bs, *args, spec_info=None, **kwargs):
        self.seen = (int(spec_info.kv_indptr[-1]), spec_info.kv_indptr.clone())


class StandInDraftGraph:
    """Stand-in for a captured draft CUDA graph: what EAGLEWorker.draft_forward does to
    the graph's inputs, positions advanced in place once per step but the last."""

    def __init__(self, runner, bs):
        self.runner, self.bs = runner, bs

    def replay(self):
        n = self.bs * self.runner.num_tokens_per_bs
        self.runner.positions[:n].add_(self.runner.speculative_num_steps - 1)


def make_runner(topk, steps, capture_bs, max_context, pool_size):
    step_backends = [StandInFlashInferDecode() for _ in range(steps)]
    backend = object.__new__(flashinfer_backend.FlashInferMultiStepDraftBackend)
    # The wrapper's __init__ would build real FlashInfer backends; set its fields instead.
    pool_len = max_context + 4
    backend.topk, backend.speculative_num_steps, backend.page_size = topk, steps, 1
    backend.generate_draft_decode_kv_indices = kernel()
    backend.kv_indptr = torch.zeros((steps, pool_size * topk + 1), dtype=torch.int32)
    backend.kv_last_page_len = torch.ones((pool_size * topk,), dtype=torch.int32)
    backend.attn_backends = step_backends
    backend.max_context_len = max_context
    backend.pool_len = pool_len

    server_args = server_args_with_defaults(cuda_graph_bs=list(capture_bs), speculative_eagle_topk=topk,
                                            speculative_num_steps=steps, speculative_algorithm="EAGLE")
    model_runner = types.SimpleNamespace(
        server_args=server_args, draft_attn_backend=backend, dp_size=1, tp_size=1,
        model_config=types.SimpleNamespace(is_encoder_decoder=False, hidden_size=16),
        dtype=torch.float32, device="cuda", gpu_id=0,
        req_to_token_pool=types.SimpleNamespace(
            size=pool_size,
            req_to_token=torch.arange(pool_size * pool_len, dtype=torch.int32).reshape(pool_size, pool_len),
        ),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True),
    )

    class Runner(runner_mod.EAGLEDraftCudaGraphRunner):
        def capture(self):  # stand-in capture: no CUDA graphs on CPU
            for bs in self.capture_bs:
                self.graphs[bs] = StandInDraftGraph(self, bs)
                self.output_buffers[bs] = ([], [], [])

    return Runner(types.SimpleNamespace(model_runner=model_runner)), backend, model_runner


def replay_once(runner, backend, model_runner, seq_lens, topk):
    raw_bs = len(seq_lens)
    seq = torch.tensor(seq_lens, dtype=torch.int32)
    positions = seq.to(torch.int64).repeat_interleave(topk)
    draft = draft_input_class()(
        topk_p=torch.ones((raw_bs, topk)), topk_index=torch.zeros((raw_bs, topk), dtype=torch.int64),
        hidden_states=torch.zeros((raw_bs, 16)),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=raw_bs,
        input_ids=torch.zeros(raw_bs * topk, dtype=torch.int64),
        req_pool_indices=torch.arange(raw_bs, dtype=torch.int32), seq_lens=seq,
        out_cache_loc=torch.zeros(raw_bs * topk * runner.speculative_num_steps, dtype=torch.int64),
        seq_lens_sum=int(seq.sum()), positions=positions, spec_info=draft,
    )
    fb.req_to_token_pool = model_runner.req_to_token_pool
    backend.cuda_graph_kv_indices.fill_(SENTINEL)
    runner.replay(fb)
    last = backend.speculative_num_steps - 2  # the last step whose metadata is built
    row = backend.cuda_graph_kv_indices[last]
    written = int((row != SENTINEL).nonzero().max()) + 1 if (row != SENTINEL).any() else 0
    claimed = backend.attn_backends[last].seen[0]
    return {"claimed": claimed, "written": written, "row": int(row.numel())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replays", type=int, default=80)
    args = p.parse_args()
    topk, steps, capture_bs, max_context = 1, 3, [1, 2, 4, 8], 64
    with CudaOnCpu():
        runner, backend, model_runner = make_runner(topk, steps, capture_bs, max_context, pool_size=16)
        print(json.dumps({"replay": 0, **replay_once(runner, backend, model_runner, [60] * 8, topk)}))
        for n in range(1, args.replays + 1):
            print(json.dumps({"replay": n, **replay_once(runner, backend, model_runner, [40] * 5, topk)}),
                  flush=True)


if __name__ == "__main__":
    main()
