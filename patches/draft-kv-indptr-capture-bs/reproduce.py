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

Up to 0.5.13.post1 the real ``EAGLEDraftCudaGraphRunner`` pads and replays. From 0.5.14
its constructor needs a running server's state, so the release's real
``get_batch_sizes_to_capture`` gives the captured sizes, the real backend's
``init_cuda_graph_state`` is handed the largest, and a full pool is padded to the captured
size by a stand-in (``pad_to_captured``: seq_lens at FlashInfer's fill value 1, request
slot 0, as the runner pads) before the real replay metadata path runs. From 0.5.19 the
settings are published through the release's own ``override_server_args`` runtime context.

Scenario: two-batch overlap on (the runner then captures even batch sizes only and rounds
the pool size up to one), a request pool of 5, ``--cuda-graph-bs 1 2 4 8``, topk
``--topk`` (1 by default; several give one line each), 3 steps. The runner captures [2, 4, 6]. A full pool of 5
requests is replayed in the graph of 6. One JSON line: the captured sizes, the padded
``bs``, the row width of ``kv_indptr`` (``row``) and the entries the kernel writes per row
(``needed``: ``bs * topk + 1``), the entries each row's write runs past its row
(``past_row``), the entries written past the end of the buffer (``past_buffer``), the first
entry of each later row, which must stay 0 (``row_starts``), the rows of the padded batch (``rows``: ``bs * topk``), and for each
step FlashInfer runs, the length of the ``kv_indptr`` it is handed (``handed``: it plans
``handed - 1`` rows) and of the ``kv_last_page_len[:handed - 1]`` (``last_page_len``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr, server_args_with_defaults

from sglang.srt.layers.attention import flashinfer_backend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

STEPS, CAPTURE_BS, POOL_SIZE, MAX_CONTEXT, HIDDEN, SEQ_LEN = 3, [1, 2, 4, 8], 5, 64, 16, 30
FILL = 1  # FlashInfer's seq_len fill value for padded rows
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
    is GPU-only): takes the same arguments, and at replay records what the real one hands
    FlashInfer's plan for a draft step: the ``kv_indptr`` (its length less one is the number
    of rows planned) and ``kv_last_page_len[:rows]`` of the buffer it was given."""

    def __init__(self, model_runner, skip_prefill=False, kv_indptr_buf=None, kv_last_page_len_buf=None, **kwargs):
        self.max_context_len = model_runner.model_config.context_len
        self.kv_last_page_len = kv_last_page_len_buf
        self.handed = self.last_page_len = None

    def get_cuda_graph_seq_len_fill_value(self):
        return FILL

    def init_cuda_graph_state(self, *args, **kwargs):
        pass

    def _record(self, spec_info):
        self.handed = int(spec_info.kv_indptr.numel())
        self.last_page_len = int(self.kv_last_page_len[: self.handed - 1].numel())

    def init_forward_metadata_replay_cuda_graph(self, bs, *args, spec_info=None, **kwargs):
        self._record(spec_info)

    def init_forward_metadata_out_graph(self, forward_batch, in_capture=False):  # the same, from 0.5.13
        self._record(forward_batch.spec_info)


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


def server_args(topk):
    args = server_args_with_defaults(enable_two_batch_overlap=True, speculative_eagle_topk=topk,
                                     speculative_num_steps=STEPS, speculative_algorithm="EAGLE", page_size=1)
    if "cuda_graph_bs" in {f.name for f in dataclasses.fields(args)}:  # up to 0.5.13.post1
        args.cuda_graph_bs = list(CAPTURE_BS)
    else:  # 0.5.14 and later: per-phase config
        args.cuda_graph_config = graph_config()
    return args


def graph_config():
    from sglang.srt.model_executor.cuda_graph_config import default_cuda_graph_config

    config = default_cuda_graph_config()
    config.decode.bs = list(CAPTURE_BS)
    return config


@contextlib.contextmanager
def published_settings(topk):
    """The scenario's ``ServerArgs``. From 0.5.19 the code reads its settings from a
    published runtime context: they are published with the release's own
    ``override_server_args``, which builds them."""
    try:
        from sglang.srt.runtime_context import get_context
    except ImportError:
        get_context = None
    if get_context is None or not hasattr(get_context(), "override_server_args"):
        yield server_args(topk)
        return
    with get_context().override_server_args(
            enable_two_batch_overlap=True, speculative_eagle_topk=topk, speculative_num_steps=STEPS,
            speculative_algorithm="EAGLE", page_size=1, cuda_graph_config=graph_config()) as published:
        yield published


def make_model_runner(args):
    pool_len = MAX_CONTEXT + 4
    return types.SimpleNamespace(
        server_args=args, dp_size=1, tp_size=1, device_timer=None, page_size=1,
        model_config=types.SimpleNamespace(is_encoder_decoder=False, hidden_size=HIDDEN, spec_hidden_size=HIDDEN,
                                           dtype=torch.float32, vocab_size=32000, context_len=MAX_CONTEXT,
                                           attention_chunk_size=None, sliding_window_size=None),
        dtype=torch.float32, device="cuda", gpu_id=0,
        req_to_token_pool=types.SimpleNamespace(
            size=POOL_SIZE,
            req_to_token=torch.arange(POOL_SIZE * pool_len, dtype=torch.int32).reshape(POOL_SIZE, pool_len),
        ),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True, is_standalone=lambda: False),
        kv_index_translator=None, sliding_window_size=None, attention_chunk_size=None,
    )


def with_kv_index_translator(model_runner):
    """From 0.5.23 the backend gathers KV ids through the model runner's translator: the
    release's real ``KVIndexTranslator`` over this ``req_to_token`` (a plain pool: ids
    pass through); the pool and allocator it is told about are placeholders."""
    try:
        from sglang.srt.mem_cache.kv_index_translator import KVIndexTranslator
    except ImportError:
        return
    model_runner.kv_index_translator = KVIndexTranslator(
        req_to_token=model_runner.req_to_token_pool.req_to_token, token_to_kv_pool_allocator=object(),
        token_to_kv_pool=object(), page_size=1, device="cuda", is_draft_worker=True)


def make_backend(model_runner, topk):
    real_step_backend = flashinfer_backend.FlashInferAttnBackend
    flashinfer_backend.FlashInferAttnBackend = StandInStepBackend
    try:
        backend = flashinfer_backend.FlashInferMultiStepDraftBackend(model_runner, topk, STEPS)
    finally:
        flashinfer_backend.FlashInferAttnBackend = real_step_backend
    model_runner.draft_attn_backend = backend
    return backend


def make_runner(buffers, model_runner):
    """The real draft runner (up to 0.5.13.post1), with the stand-in capture."""
    from sglang.srt.speculative import eagle_draft_cuda_graph_runner as runner_mod

    worker = types.SimpleNamespace(model_runner=model_runner, speculative_num_steps=STEPS,
                                   speculative_algorithm=model_runner.spec_algorithm)

    class Runner(runner_mod.EAGLEDraftCudaGraphRunner):
        def capture(self):  # stand-in capture: no CUDA graphs on CPU
            for bs in self.capture_bs:
                self.graphs[bs] = buffers.StandInRecordingDraftGraph(self, bs)
                self.output_buffers[bs] = ([], [], [])

    return Runner(worker)


def full_pool(harness, topk, bs):
    """A full pool of requests as a ForwardBatch of ``bs`` rows: the raw batch (``bs`` =
    the pool) for the real runner to pad, or already padded as the runner pads (stand-in)."""
    raw_bs, pad = POOL_SIZE, bs - POOL_SIZE
    seq = torch.tensor([SEQ_LEN] * raw_bs + [FILL] * pad, dtype=torch.int32)
    draft = harness.draft_input_class()(
        topk_p=torch.ones((bs, topk)), topk_index=torch.zeros((bs, topk), dtype=torch.int64),
        hidden_states=torch.zeros((bs, HIDDEN)),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=bs,
        input_ids=torch.zeros(bs * topk, dtype=torch.int64),
        req_pool_indices=torch.tensor(list(range(raw_bs)) + [0] * pad, dtype=torch.int32), seq_lens=seq,
        out_cache_loc=torch.zeros(bs * topk * STEPS, dtype=torch.int64),
        seq_lens_sum=int(seq.sum()), positions=seq.to(torch.int64).repeat_interleave(topk), spec_info=draft,
        seq_lens_cpu=seq.clone(),
    )
    fb.req_to_token_pool = None
    return fb


def replay_full_pool(buffers, harness, model_runner, backend, topk):
    """(captured sizes, the padded bs) after a full pool went through the replay metadata."""
    if hasattr(model_runner.server_args, "cuda_graph_bs"):
        runner = make_runner(buffers, model_runner)
        fb = full_pool(harness, topk, POOL_SIZE)
        fb.req_to_token_pool = model_runner.req_to_token_pool
        runner.replay(fb)
        (graph,) = [g for g in runner.graphs.values() if g.seen is not None]
        return list(runner.capture_bs), graph.bs
    get_batch_sizes_to_capture = release_attr(
        "get_batch_sizes_to_capture", "sglang.srt.model_executor.runner.base_cuda_graph_runner")
    capture_bs, _ = get_batch_sizes_to_capture(model_runner)
    backend.init_cuda_graph_state(max(capture_bs), max(capture_bs) * topk)
    bs = min(b for b in capture_bs if b >= POOL_SIZE)  # stand-in padding to the captured size
    fb = full_pool(harness, topk, bs)
    fb.req_to_token_pool = model_runner.req_to_token_pool
    backend.init_forward_metadata_out_graph(fb)
    return list(capture_bs), bs


def run(buffers, harness, topk):
    with CudaOnCpu(), published_settings(topk) as args:
        model_runner = make_model_runner(args)
        with_kv_index_translator(model_runner)
        backend = make_backend(model_runner, topk)
        flat = with_guard_band(backend)
        steps, width = backend.kv_indptr.shape
        captured, bs = replay_full_pool(buffers, harness, model_runner, backend, topk)
        needed = bs * topk + 1
        print(json.dumps({
            "topk": topk, "captured": captured, "bs": bs, "row": width, "needed": needed,
            "past_row": max(0, needed - width),
            "past_buffer": int((flat[steps * width:] != SENTINEL).sum()),
            "row_starts": [int(backend.kv_indptr[i, 0]) for i in range(1, steps)],
            "rows": bs * topk,
            "handed": [b.handed for b in backend.attn_backends if b.handed is not None],
            "last_page_len": [b.last_page_len for b in backend.attn_backends if b.handed is not None],
        }), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topk", type=int, nargs="+", default=[1])
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    harness = buffers.load_positions_harness()
    buffers.single_rank_parallel_state()
    for topk in parser.parse_args().topk:  # one JSON line each
        run(buffers, harness, topk)


if __name__ == "__main__":
    main()
