"""Show the draft CUDA graph captured above the request pool overrunning the FlashInfer
multi-step ``kv_indptr`` on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``FlashInferMultiStepDraftBackend.__init__`` (it sizes ``kv_indptr``), its replay metadata
path (``init_forward_metadata_replay_cuda_graph`` -> ``common_template``), the Triton
kernel ``generate_draft_decode_kv_indices`` under TRITON_INTERPRET=1,
``EAGLEDraftCudaGraphRunner`` (``__init__``, which takes its batch sizes from the real
``get_batch_sizes_to_capture``, and ``replay``), ``ServerArgs`` defaults, ``ForwardBatch``
and ``EagleDraftInput``. Stand-ins, named as such: the per-step FlashInfer decode
backends the wrapper builds (``StandInStepBackend``: FlashInfer is GPU-only; it records
what FlashInfer's plan would be handed), the worker and model runner objects, the captured
graph and CUDA placement (from ``draft-padding-buffers/reproduce.py`` and
``draft-padding-positions/reproduce.py``, loaded by path), and a guard band after
``kv_indptr`` (``with_guard_band``: the memory that follows the buffer on a GPU).

Scenario: two-batch overlap on (the runner then captures even batch sizes only and rounds
the pool size up to one), a request pool of 5, ``--cuda-graph-bs 1 2 4 8``, topk 1, 3
steps. The runner captures [2, 4, 6]. A full pool of 5 requests is replayed in the graph
of 6. One JSON line: the captured sizes, the padded ``bs``, the row width of ``kv_indptr``
(``row``) and the entries the kernel writes per row (``needed``: ``bs * topk + 1``), the
entries written past the end of the buffer (``past_buffer``), the first entry of each later
row, which must stay 0 (``row_starts``), and for each step FlashInfer runs, the length of
the ``kv_indptr`` it is handed for its ``bs * topk`` rows (``handed``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu

from sglang.srt.layers.attention import flashinfer_backend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

TOPK, STEPS, CAPTURE_BS, POOL_SIZE, MAX_CONTEXT, HIDDEN, SEQ_LEN = 1, 3, [1, 2, 4, 8], 5, 64, 16, 30
SENTINEL = -7
GUARD = 64


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInStepBackend:
    """Stand-in for the per-step ``FlashInferAttnBackend`` the real wrapper builds (FlashInfer
    is GPU-only): takes the same arguments, and at replay records the ``bs`` FlashInfer's plan
    would be told and the length of the ``kv_indptr`` it would be handed."""

    def __init__(self, model_runner, skip_prefill=False, kv_indptr_buf=None, kv_last_page_len_buf=None, **kwargs):
        self.max_context_len = model_runner.model_config.context_len
        self.seen = None

    def get_cuda_graph_seq_len_fill_value(self):
        return 1  # FlashInfer's own value

    def init_cuda_graph_state(self, *args, **kwargs):
        pass

    def init_forward_metadata_replay_cuda_graph(self, bs, *args, spec_info=None, **kwargs):
        self.seen = (bs, int(spec_info.kv_indptr.numel()))

    def init_forward_metadata_out_graph(self, forward_batch, in_capture=False):  # the same, from 0.5.13
        self.seen = (forward_batch.batch_size, int(forward_batch.spec_info.kv_indptr.numel()))


def with_guard_band(backend):
    """Stand-in guard band: a ``kv_indptr`` of the same shape, dtype and strides whose storage
    runs on past its end, all of it filled with a sentinel (row starts are 0, as allocated)."""
    real = backend.kv_indptr
    steps, width = real.shape
    flat = torch.full((steps * width + GUARD,), SENTINEL, dtype=real.dtype)
    view = flat[: steps * width].view(steps, width)
    view.copy_(real)
    assert view.stride() == real.stride()
    backend.kv_indptr = view
    return flat


def make_backend_and_runner(buffers, harness):
    from sglang.srt.speculative import eagle_draft_cuda_graph_runner as runner_mod

    server_args = harness.server_args_with_defaults(
        cuda_graph_bs=list(CAPTURE_BS), enable_two_batch_overlap=True, speculative_eagle_topk=TOPK,
        speculative_num_steps=STEPS, speculative_algorithm="EAGLE")
    pool_len = MAX_CONTEXT + 4
    model_runner = types.SimpleNamespace(
        server_args=server_args, dp_size=1, tp_size=1, device_timer=None, page_size=1,
        model_config=types.SimpleNamespace(is_encoder_decoder=False, hidden_size=HIDDEN, spec_hidden_size=HIDDEN,
                                           dtype=torch.float32, vocab_size=32000, context_len=MAX_CONTEXT),
        dtype=torch.float32, device="cuda", gpu_id=0,
        req_to_token_pool=types.SimpleNamespace(
            size=POOL_SIZE,
            req_to_token=torch.arange(POOL_SIZE * pool_len, dtype=torch.int32).reshape(POOL_SIZE, pool_len),
        ),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True, is_standalone=lambda: False),
    )
    real_step_backend = flashinfer_backend.FlashInferAttnBackend
    flashinfer_backend.FlashInferAttnBackend = StandInStepBackend
    try:
        backend = flashinfer_backend.FlashInferMultiStepDraftBackend(model_runner, TOPK, STEPS)
    finally:
        flashinfer_backend.FlashInferAttnBackend = real_step_backend
    model_runner.draft_attn_backend = backend
    worker = types.SimpleNamespace(model_runner=model_runner, speculative_num_steps=STEPS,
                                   speculative_algorithm=model_runner.spec_algorithm)

    class Runner(runner_mod.EAGLEDraftCudaGraphRunner):
        def capture(self):  # stand-in capture: no CUDA graphs on CPU
            for bs in self.capture_bs:
                self.graphs[bs] = buffers.StandInRecordingDraftGraph(self, bs)
                self.output_buffers[bs] = ([], [], [])

    return backend, Runner(worker), model_runner


def replay_full_pool(harness, runner, model_runner):
    raw_bs = POOL_SIZE
    seq = torch.full((raw_bs,), SEQ_LEN, dtype=torch.int32)
    draft = harness.draft_input_class()(
        topk_p=torch.ones((raw_bs, TOPK)), topk_index=torch.zeros((raw_bs, TOPK), dtype=torch.int64),
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
    runner.replay(fb)


def main():
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    harness = buffers.load_positions_harness()
    buffers.single_rank_parallel_state()
    with CudaOnCpu():
        backend, runner, model_runner = make_backend_and_runner(buffers, harness)
        flat = with_guard_band(backend)
        steps, width = backend.kv_indptr.shape
        replay_full_pool(harness, runner, model_runner)
        (graph,) = [g for g in runner.graphs.values() if g.seen is not None]
        print(json.dumps({
            "captured": list(runner.capture_bs), "bs": graph.bs, "row": width, "needed": graph.bs * TOPK + 1,
            "past_buffer": int((flat[steps * width:] != SENTINEL).sum()),
            "row_starts": [int(backend.kv_indptr[i, 0]) for i in range(1, steps)],
            "handed": [list(b.seen) for b in backend.attn_backends],
        }), flush=True)


if __name__ == "__main__":
    main()
