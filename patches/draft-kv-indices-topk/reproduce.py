"""Show the draft CUDA-graph ``kv_indices`` row overflow with topk > 1 (#26340) on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. It builds
the runner as ``draft-padding-buffers/reproduce.py`` does (loaded by path; that in turn
reuses ``draft-padding-positions/reproduce.py``). Real: the ``EAGLEDraftCudaGraphRunner``
(``__init__``, which calls the real ``FlashInferMultiStepDraftBackend.init_cuda_graph_state``
that sizes ``cuda_graph_kv_indices``, and ``replay``), the backend's replay metadata path
(``init_forward_metadata_replay_cuda_graph`` -> ``common_template``) and its eager path
(``init_forward_metadata``, used as the reference), and the Triton kernel
``generate_draft_decode_kv_indices`` under TRITON_INTERPRET=1. Stand-ins, named as such:
the captured graph, the worker and model runner objects and CUDA placement (from those
harnesses); the per-step FlashInfer decode backends (``StandInRecordingDecode``: they
record what FlashInfer's plan would be told to read); and a guard band (``with_guard_band``).

Guard band (stand-in for the memory that follows the buffer on a GPU): after the real
``init_cuda_graph_state``, ``cuda_graph_kv_indices`` is swapped for a tensor of the same
shape, dtype and strides whose storage continues past its end, everything filled with a
sentinel. Writes past the last row then land there and can be counted, instead of
corrupting the test process.

Scenario (the numbers of the fix's README): topk 4, 3 steps, captured batch sizes
[1, 2, 4, 8] (so max_bs 8), max context 4096; one full batch of 8 requests of 1500 tokens,
replayed once (no padding). One JSON line per step ``i`` of the kernel's grid: the row
width (``row``), where ``kv_indptr`` ends (``end``: how far the kernel fills row ``i``
and how many entries FlashInfer reads from the row's start), and for the steps FlashInfer
runs, how many of those entries differ from the eager path's (``wrong``; the interpreter
runs the grid in order, so the next row's own writes land over row ``i``'s overflow; on a
GPU the order is unspecified). A last line gives how many entries the kernel wrote past
the end of the buffer (``past_buffer``) and how far into the last row it wrote
(``last_row_written``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu

from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE, HIDDEN = 4, 3, [1, 2, 4, 8], 4096, 16, 16
SEQ_LENS = [1500] * 8
SENTINEL = -1


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInRecordingDecode:
    """Stand-in for one step's FlashInferAttnBackend: records the kv_indptr and kv_indices it
    is handed. In graph mode FlashInfer reads ``kv_indptr[-1]`` entries from the start of the
    kv_indices view, whatever the view's length, so that is what is kept."""

    def __init__(self, flat):
        self.flat, self.graph, self.eager = flat, None, None

    def get_cuda_graph_seq_len_fill_value(self):
        return 1

    def init_cuda_graph_state(self, *args, **kwargs):
        pass

    def init_forward_metadata_replay_cuda_graph(self, bs, *args, spec_info=None, **kwargs):
        start, end = spec_info.kv_indices.storage_offset(), int(spec_info.kv_indptr[-1])
        self.graph = (end, self.flat[start:start + end].clone())

    def init_forward_metadata(self, forward_batch):  # the eager path: its own big buffer
        spec_info = forward_batch.spec_info
        self.eager = spec_info.kv_indices[: int(spec_info.kv_indptr[-1])].clone()


def with_guard_band(backend):
    """Stand-in guard band: same-shaped ``cuda_graph_kv_indices`` whose storage runs on for one
    eager-sized row (``max_bs * topk * max_context_len``, more than any row can overflow)."""
    real = backend.cuda_graph_kv_indices
    steps, width = real.shape
    guard = max(CAPTURE_BS) * TOPK * MAX_CONTEXT
    flat = torch.full((steps * width + guard,), SENTINEL, dtype=real.dtype)
    view = flat[: steps * width].view(steps, width)
    assert view.shape == real.shape and view.stride() == real.stride() and view.dtype == real.dtype
    backend.cuda_graph_kv_indices = view
    return flat


def forward_batch(harness, model_runner):
    raw_bs = len(SEQ_LENS)
    seq = torch.tensor(SEQ_LENS, dtype=torch.int32)
    draft = harness.draft_input_class()(
        topk_p=torch.full((raw_bs, TOPK), 1.0 / TOPK), topk_index=torch.zeros((raw_bs, TOPK), dtype=torch.int64),
        hidden_states=torch.zeros((raw_bs, HIDDEN)),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=raw_bs,
        input_ids=torch.zeros(raw_bs * TOPK, dtype=torch.int64),
        req_pool_indices=torch.arange(raw_bs, dtype=torch.int32), seq_lens=seq,
        out_cache_loc=torch.zeros(raw_bs * TOPK * STEPS, dtype=torch.int64),
        seq_lens_sum=int(seq.sum()), positions=seq.to(torch.int64).repeat_interleave(TOPK), spec_info=draft,
    )
    fb.req_to_token_pool = model_runner.req_to_token_pool
    return fb


def main():
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    harness = buffers.load_positions_harness()
    buffers.single_rank_parallel_state()
    with CudaOnCpu():
        runner, backend, model_runner = buffers.make_runner(harness, TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE)
        flat = with_guard_band(backend)
        width = backend.cuda_graph_kv_indices.shape[1]
        backend.attn_backends = [StandInRecordingDecode(flat) for _ in backend.attn_backends]

        runner.replay(forward_batch(harness, model_runner))  # graph mode: the buffer under test
        ends = backend.kv_indptr[:, TOPK * len(SEQ_LENS)].tolist()  # one per step, as the kernel set them
        backend.init_forward_metadata(forward_batch(harness, model_runner))  # eager: the reference
        for i, end in enumerate(ends):
            line = {"step": i, "row": width, "end": int(end)}
            if i < STEPS - 1:  # the steps FlashInfer runs
                rec = backend.attn_backends[i]
                graph_end, graph_read = rec.graph
                assert graph_end == end and len(graph_read) == len(rec.eager) == end
                line["wrong"] = int((graph_read != rec.eager).sum())
            print(json.dumps(line))
        written = (flat != SENTINEL).nonzero()
        last = int(written.max()) + 1 if len(written) else 0
        print(json.dumps({"past_buffer": int((flat[STEPS * width:] != SENTINEL).sum()),
                          "last_row_written": last - (STEPS - 1) * width, "row": width}), flush=True)


if __name__ == "__main__":
    main()
