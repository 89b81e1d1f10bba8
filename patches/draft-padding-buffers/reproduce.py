"""Show the stale padded inputs of the EAGLE draft CUDA graph (PR #23037) on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``EAGLEDraftCudaGraphRunner`` (its ``__init__`` and ``replay``), the replay metadata path
of ``FlashInferMultiStepDraftBackend`` (``init_forward_metadata_replay_cuda_graph`` ->
``common_template``), the Triton kernel ``generate_draft_decode_kv_indices`` (under
TRITON_INTERPRET=1), ``ForwardBatch``, ``EagleDraftInput`` and the ``ServerArgs``
defaults. The helpers and stand-ins of ``draft-padding-positions/reproduce.py`` are
reused (loaded by path): the per-step FlashInfer decode backends, CUDA placement, and the
way the multi-step backend is built (its fields set, its ``__init__`` skipped). Stand-ins
defined here: the worker and model runner objects (plain holders of the fields the real
code reads, a few more than that harness has, for releases up to 0.5.12), the
single-rank attention context-parallel group (``StandInAttnCpGroup``), and the captured
draft graph (``StandInRecordingDraftGraph``: it records the rows of the graph inputs the
captured graph would read, then advances ``positions`` as ``EAGLEWorker.draft_forward``
does).

Scenario: topk 1, 3 steps, captured batch sizes [1, 2, 4, 8], max context 64. One full
batch of 8 requests in request slots 8..15, then a steady batch of 5 in slots 0..4,
padded to 8. ``req_to_token`` row r holds r * pool_len + column, so a KV slot id tells
which request row it came from. For each replay of the small batch one JSON line gives,
for the padded rows 5..7 as the graph sees them: ``positions``, ``topk_p``,
``topk_index``, ``hidden_states`` (one value per row), ``req_pool_indices``, and
``rows_read``: the ``req_to_token`` rows the real kernel copied into the step-0
``kv_indices`` for those rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu

from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE, HIDDEN = 1, 3, [1, 2, 4, 8], 64, 16, 16
BIG = dict(slots=list(range(8, 16)), seq_len=40)  # rows i hold marker values of request i
SMALL = dict(slots=list(range(5)), seq_len=30)
BUFFERS = ("positions", "topk_p", "topk_index", "hidden_states", "req_pool_indices", "seq_lens")


def load_positions_harness():
    """draft-padding-positions/reproduce.py, imported by path (it is a script, not a package)."""
    path = Path(__file__).resolve().parent.parent / "draft-padding-positions" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("draft_padding_positions_reproduce", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class StandInAttnCpGroup:
    """Stand-in for the attention context-parallel group of a single-rank run: later releases
    ask for its size while choosing the batch sizes to capture (no torch.distributed here)."""

    world_size, rank_in_group = 1, 0


def single_rank_parallel_state():
    from sglang.srt.distributed import parallel_state

    if hasattr(parallel_state, "_ATTN_CP") and parallel_state._ATTN_CP is None:
        parallel_state._ATTN_CP = StandInAttnCpGroup()


def graph_inputs(runner):
    """The runner's static graph inputs: attributes up to 0.5.9, a ``buffers`` object later."""
    return getattr(runner, "buffers", runner)


class StandInRecordingDraftGraph:
    """Stand-in for a captured draft CUDA graph: records the graph-input rows [:bs] it would
    read, then advances ``positions`` in place once per step but the last, as the captured
    ``EAGLEWorker.draft_forward`` does."""

    def __init__(self, runner, bs):
        self.runner, self.bs, self.seen = runner, bs, None

    def replay(self):
        bufs = graph_inputs(self.runner)
        n = self.bs * self.runner.num_tokens_per_bs
        rows = {"positions": n}
        self.seen = {name: getattr(bufs, name)[: rows.get(name, self.bs)].clone() for name in BUFFERS}
        bufs.positions[:n].add_(self.runner.speculative_num_steps - 1)


def make_runner(harness, topk, steps, capture_bs, max_context, pool_size):
    """The real runner and multi-step backend, built as draft-padding-positions' ``make_runner``
    does (its stand-ins, its ``FlashInferMultiStepDraftBackend`` fields), with the few more
    fields later releases read from the worker and model runner stand-ins (up to 0.5.12)."""
    from sglang.srt.layers.attention import flashinfer_backend
    from sglang.srt.speculative import eagle_draft_cuda_graph_runner as runner_mod

    backend = object.__new__(flashinfer_backend.FlashInferMultiStepDraftBackend)
    # Its __init__ would build real FlashInfer backends; set its fields instead.
    pool_len = max_context + 4
    backend.topk, backend.speculative_num_steps, backend.page_size = topk, steps, 1
    backend.generate_draft_decode_kv_indices = harness.kernel()
    backend.kv_indptr = torch.zeros((steps, pool_size * topk + 1), dtype=torch.int32)
    backend.kv_last_page_len = torch.ones((pool_size * topk,), dtype=torch.int32)
    backend.attn_backends = [harness.StandInFlashInferDecode() for _ in range(steps)]
    backend.max_context_len, backend.pool_len = max_context, pool_len

    server_args = harness.server_args_with_defaults(
        cuda_graph_bs=list(capture_bs), speculative_eagle_topk=topk, speculative_num_steps=steps,
        speculative_algorithm="EAGLE")
    model_runner = types.SimpleNamespace(
        server_args=server_args, draft_attn_backend=backend, dp_size=1, tp_size=1, device_timer=None,
        model_config=types.SimpleNamespace(is_encoder_decoder=False, hidden_size=HIDDEN, spec_hidden_size=HIDDEN,
                                           dtype=torch.float32, vocab_size=32000),
        dtype=torch.float32, device="cuda", gpu_id=0,
        req_to_token_pool=types.SimpleNamespace(
            size=pool_size,
            req_to_token=torch.arange(pool_size * pool_len, dtype=torch.int32).reshape(pool_size, pool_len),
        ),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True, is_standalone=lambda: False),
    )
    worker = types.SimpleNamespace(model_runner=model_runner, speculative_num_steps=steps,
                                   speculative_algorithm=model_runner.spec_algorithm)

    class Runner(runner_mod.EAGLEDraftCudaGraphRunner):
        def capture(self):  # stand-in capture: no CUDA graphs on CPU
            for bs in self.capture_bs:
                self.graphs[bs] = StandInRecordingDraftGraph(self, bs)
                self.output_buffers[bs] = ([], [], [])

    return Runner(worker), backend, model_runner


def replay(harness, runner, backend, model_runner, slots, seq_len, marker):
    """One real ``runner.replay`` for requests in ``slots``. Request i carries the marker
    values v = i+1 (or ``marker`` for all): topk_p v/10, topk_index 999+v, hidden state v."""
    raw_bs = len(slots)
    values = [marker if marker is not None else i + 1 for i in range(raw_bs)]
    seq = torch.full((raw_bs,), seq_len, dtype=torch.int32)
    draft = harness.draft_input_class()(
        topk_p=torch.tensor([[v / 10] * TOPK for v in values]),
        topk_index=torch.tensor([[999 + v] * TOPK for v in values], dtype=torch.int64),
        hidden_states=torch.tensor(values, dtype=torch.float32)[:, None].repeat(1, HIDDEN),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=raw_bs,
        input_ids=torch.zeros(raw_bs * TOPK, dtype=torch.int64),
        req_pool_indices=torch.tensor(slots, dtype=torch.int32), seq_lens=seq,
        out_cache_loc=torch.zeros(raw_bs * TOPK * STEPS, dtype=torch.int64),
        seq_lens_sum=int(seq.sum()), positions=seq.to(torch.int64).repeat_interleave(TOPK), spec_info=draft,
    )
    fb.req_to_token_pool = model_runner.req_to_token_pool
    backend.cuda_graph_kv_indices.fill_(harness.SENTINEL)
    runner.replay(fb)


def padded_report(runner, backend, raw_bs):
    """What the graph read for the padded rows, and which req_to_token rows the real kernel
    copied into step 0's kv_indices for them."""
    (graph,) = [g for g in runner.graphs.values() if g.seen is not None]
    seen, bs = graph.seen, graph.bs
    pool_len = backend.pool_len
    row = backend.cuda_graph_kv_indices[0]  # step 1: each request gets seq_len + 1 slot ids
    seq_lens = seen["seq_lens"].tolist()
    rows_read = []
    for b in range(raw_bs, bs):
        # the kernel's layout (topk 1): request b starts at sum(seq_lens[:b]) + b * step
        start = sum(seq_lens[:b]) + b
        ids = row[start:start + seq_lens[b] + 1]
        rows_read.append(sorted({int(v) // pool_len for v in ids}))
    pad = slice(raw_bs * TOPK, bs * TOPK)
    return {
        "bs": bs, "raw_bs": raw_bs,
        "positions": seen["positions"][pad].tolist(),
        "topk_p": [round(float(x), 4) for x in seen["topk_p"][raw_bs:bs, 0]],
        "topk_index": seen["topk_index"][raw_bs:bs, 0].tolist(),
        "hidden_states": [float(x) for x in seen["hidden_states"][raw_bs:bs].abs().amax(dim=1)],
        "req_pool_indices": seen["req_pool_indices"][raw_bs:bs].tolist(),
        "rows_read": rows_read,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replays", type=int, default=3)
    args = p.parse_args()
    harness = load_positions_harness()
    single_rank_parallel_state()
    with CudaOnCpu():
        runner, backend, model_runner = make_runner(harness, TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE)
        replay(harness, runner, backend, model_runner, BIG["slots"], BIG["seq_len"], None)
        for n in range(1, args.replays + 1):
            for g in runner.graphs.values():
                g.seen = None
            replay(harness, runner, backend, model_runner, SMALL["slots"], SMALL["seq_len"], 9)
            print(json.dumps({"replay": n, **padded_report(runner, backend, len(SMALL["slots"]))}), flush=True)


if __name__ == "__main__":
    main()
