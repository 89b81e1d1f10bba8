"""Show the draft CUDA graph captured above the request pool overrunning the Triton
multi-step ``kv_indptr`` on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``get_batch_sizes_to_capture`` (the capture list the draft runner takes, from the release's
``ServerArgs`` defaults plus the settings below), ``TritonMultiStepDraftBackend``
(``__init__``, which sizes ``kv_indptr``; ``init_cuda_graph_state``, which the draft runner
calls with the largest captured size; its capture and replay metadata paths down to
``common_template``), the Triton kernel ``generate_draft_decode_kv_indices`` under
TRITON_INTERPRET=1, ``ForwardBatch``, ``EagleDraftInput``, and where the release has them
its runtime context (published with its own ``override_server_args``, 0.5.17 and later) and
``KVIndexTranslator`` (0.5.19 and later).

Stand-ins, named as such: the per-step ``TritonAttnBackend`` objects the wrapper builds
(``StandInTritonStep``: building the real ones takes the model's KV pool; the stand-in
keeps the row of ``kv_indptr`` it is given and records the length of the ``kv_indptr`` it
is handed for the captured graph), the model runner object, the draft runner's padding of
a batch to the captured size (``pad_to_captured``: seq_lens at the fill value 1 and
request slot 0 in the padded rows, as the runner fills them), CUDA placement
(``cuda_on_cpu``), the single-rank attention context-parallel group (from
``draft-padding-buffers/reproduce.py``), and a guard band after ``kv_indptr``
(``with_guard_band`` of ``draft-kv-indptr-capture-bs/reproduce.py``: the memory that
follows the buffer on a GPU). Both are loaded by path.

Scenario: two-batch overlap on (the draft runner then captures even sizes only and rounds
the pool up to one), a request pool of 5, CUDA-graph batch sizes 1 2 4 8, 3 steps, each
topk of ``--topk`` (default 1). A full pool of 5 requests is padded to the captured size 6.
One JSON line per topk: the captured sizes, the padded ``bs``, the row width of ``kv_indptr`` (``row``) and
the entries the kernel writes per row (``needed``: ``bs * topk + 1``), the entries written
past the end of the buffer (``past_buffer``), the first entry of each later row, which
must stay 0 (``row_starts``), and for each step backend, the length of the ``kv_indptr``
it was handed when the graph of the largest size was captured (``handed``, with
``bs * topk + 1`` needed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr, server_args_with_defaults

from sglang.srt.layers.attention import triton_backend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

STEPS, CAPTURE_BS, POOL_SIZE, MAX_CONTEXT, HIDDEN, SEQ_LEN = 3, [1, 2, 4, 8], 5, 64, 16, 30
FILL = 1  # TritonAttnBackend.get_cuda_graph_seq_len_fill_value()
REAL_STEP_BACKEND = triton_backend.TritonAttnBackend


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInTritonStep:
    """Stand-in for one draft step's ``TritonAttnBackend`` (the real one needs the model's
    KV pool): keeps its row of the wrapper's ``kv_indptr`` as the real one does, and records
    the length of the ``kv_indptr`` it is handed while a graph is captured."""

    def __init__(self, model_runner, skip_prefill=False, kv_indptr_buf=None, **kwargs):
        self.kv_indptr, self.window_kv_indptr = kv_indptr_buf, None
        self.max_context_len, self.max_kv_splits = MAX_CONTEXT, 8
        self.use_sliding_window_kv_pool = False
        self.handed = None

    def init_cuda_graph_state(self, max_bs, max_num_tokens, kv_indices_buf=None, cuda_graph_num_kv_splits_buf=None):
        self.cuda_graph_num_kv_splits = cuda_graph_num_kv_splits_buf

    def _record(self, spec_info):
        self.handed = int(spec_info.kv_indptr.numel())

    def init_forward_metadata_capture_cuda_graph(self, *args, spec_info=None, **kwargs):  # up to 0.5.12.post1
        self._record(spec_info)

    def init_forward_metadata_replay_cuda_graph(self, *args, **kwargs):  # up to 0.5.12.post1
        pass

    def init_forward_metadata_out_graph(self, forward_batch, in_capture=False):  # 0.5.13 and later
        if in_capture:
            self._record(forward_batch.spec_info)

    def get_num_kv_splits(self, num_kv_splits, seq_lens):
        pass


def publish_settings():
    """The release's server args with the scenario's settings, where that release reads them."""
    settings = dict(enable_two_batch_overlap=True, speculative_num_steps=STEPS,
                    speculative_algorithm="EAGLE", page_size=1)
    try:
        from sglang.srt.runtime_context import get_context
    except ImportError:
        get_context = None
    if get_context is not None and hasattr(get_context(), "override_server_args"):  # 0.5.17 and later
        from sglang.srt.model_executor.cuda_graph_config import default_cuda_graph_config

        graph = default_cuda_graph_config()
        graph.decode.bs = list(CAPTURE_BS)
        return get_context().override_server_args(cuda_graph_config=graph, **settings).install()
    args = server_args_with_defaults(**settings)
    if hasattr(args, "cuda_graph_bs"):  # up to 0.5.13.post1
        args.cuda_graph_bs = list(CAPTURE_BS)
    else:  # 0.5.14 - 0.5.16: per-phase config
        from sglang.srt.model_executor.cuda_graph_config import default_cuda_graph_config

        args.cuda_graph_config = default_cuda_graph_config()
        args.cuda_graph_config.decode.bs = list(CAPTURE_BS)
    return args


def single_rank_attention(stack, buffers):
    """The backend asks the attention TP group for its size (no torch.distributed here): a
    single rank, through the release's parallel-context override (0.5.14 - 0.5.16) or the
    single-rank group stand-in of ``draft-padding-buffers/reproduce.py`` (earlier)."""
    from sglang.srt.distributed import parallel_state

    if getattr(parallel_state, "_ATTN_TP", False) is None:
        parallel_state._ATTN_TP = buffers.StandInAttnCpGroup()
    try:
        from sglang.srt.runtime_context import get_parallel
    except ImportError:
        return
    try:
        get_parallel().attn_tp_size
    except AssertionError:
        stack.enter_context(get_parallel().override(attn_tp_size=1))


def make_model_runner(server_args):
    pool_len = MAX_CONTEXT + 4
    req_to_token = torch.arange(POOL_SIZE * pool_len, dtype=torch.int32).reshape(POOL_SIZE, pool_len)
    runner = types.SimpleNamespace(
        server_args=server_args, dp_size=1, tp_size=1, page_size=1, device="cuda", gpu_id=0,
        sliding_window_size=None, token_to_kv_pool=None, token_to_kv_pool_allocator=None,
        model_config=types.SimpleNamespace(context_len=MAX_CONTEXT, hidden_size=HIDDEN, num_attention_heads=8,
                                           get_max_num_attention_heads=lambda: 8),
        req_to_token_pool=types.SimpleNamespace(size=POOL_SIZE, req_to_token=req_to_token),
    )
    try:  # 0.5.19 and later read KV ids through the runner's translator
        from sglang.srt.mem_cache.kv_index_translator import KVIndexTranslator
    except ImportError:
        return runner
    runner.kv_index_translator = KVIndexTranslator(
        req_to_token=req_to_token, token_to_kv_pool_allocator=None, token_to_kv_pool=None, page_size=1,
        device="cuda")
    return runner


def make_backend(model_runner, topk):
    triton_backend.TritonAttnBackend = StandInTritonStep
    try:
        return triton_backend.TritonMultiStepDraftBackend(model_runner, topk, STEPS)
    finally:
        triton_backend.TritonAttnBackend = REAL_STEP_BACKEND


def pad_to_captured(model_runner, capture_bs, raw_bs, topk):
    """Stand-in for the draft runner's padding: the batch of ``raw_bs`` requests described as
    the smallest captured size that holds it, padded rows at the fill value in slot 0."""
    bs = min(b for b in capture_bs if b >= raw_bs)
    pad = bs - raw_bs
    seq = torch.tensor([SEQ_LEN] * raw_bs + [FILL] * pad, dtype=torch.int64)
    draft = release_attr("EagleDraftInput", "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.eagle_info")(
        topk_p=torch.ones((bs, topk)), topk_index=torch.zeros((bs, topk), dtype=torch.int64),
        hidden_states=torch.zeros((bs, HIDDEN)),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=bs, input_ids=torch.zeros(bs * topk, dtype=torch.int64),
        req_pool_indices=torch.tensor(list(range(raw_bs)) + [0] * pad, dtype=torch.int64), seq_lens=seq,
        out_cache_loc=torch.zeros(bs * topk * STEPS, dtype=torch.int64), seq_lens_sum=int(seq.sum()),
        positions=torch.tensor([SEQ_LEN] * raw_bs + [0] * pad, dtype=torch.int64).repeat_interleave(topk),
        spec_info=draft, seq_lens_cpu=seq.clone(),
    )
    fb.req_to_token_pool = model_runner.req_to_token_pool
    return fb


def capture_metadata(backend, fb):
    """The multi-step backend's capture entry the release's draft runner calls."""
    if hasattr(backend, "init_forward_metadata_capture_cuda_graph"):  # up to 0.5.12.post1
        backend.init_forward_metadata_capture_cuda_graph(fb)
    else:
        backend.init_forward_metadata_out_graph(fb, in_capture=True)


def replay_metadata(backend, fb):
    """The multi-step backend's replay entry the release's draft runner calls."""
    if hasattr(backend, "init_forward_metadata_replay_cuda_graph"):  # up to 0.5.12.post1
        backend.init_forward_metadata_replay_cuda_graph(fb, fb.batch_size)
    else:
        backend.init_forward_metadata_out_graph(fb)


def measure(model_runner, capture_bs, topk, flashinfer_harness):
    backend = make_backend(model_runner, topk)
    max_bs = max(capture_bs)
    backend.init_cuda_graph_state(max_bs, max_bs * topk)  # as the draft runner calls it
    flat = flashinfer_harness.with_guard_band(backend)
    steps, width = backend.kv_indptr.shape
    capture_metadata(backend, pad_to_captured(model_runner, capture_bs, max_bs, topk))
    flat[steps * width:] = flashinfer_harness.SENTINEL  # what the replay below writes is measured
    backend.kv_indptr[1:, 0] = 0
    fb = pad_to_captured(model_runner, capture_bs, POOL_SIZE, topk)
    replay_metadata(backend, fb)
    return {
        "captured": list(capture_bs), "bs": fb.batch_size, "topk": topk, "row": width,
        "needed": fb.batch_size * topk + 1,
        "past_buffer": int((flat[steps * width:] != flashinfer_harness.SENTINEL).sum()),
        "row_starts": [int(backend.kv_indptr[i, 0]) for i in range(1, steps)],
        "handed": [step.handed for step in backend.attn_backends],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--topk", type=int, nargs="+", default=[1])
    topks = p.parse_args().topk
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    flashinfer_harness = load_by_path("draft_kv_indptr_capture_bs_reproduce", "draft-kv-indptr-capture-bs/reproduce.py")
    buffers.single_rank_parallel_state()
    get_batch_sizes_to_capture = release_attr(
        "get_batch_sizes_to_capture", "sglang.srt.model_executor.runner.base_cuda_graph_runner",
        "sglang.srt.model_executor.cuda_graph_runner")
    with CudaOnCpu(), contextlib.ExitStack() as stack:
        server_args = publish_settings()
        single_rank_attention(stack, buffers)
        model_runner = make_model_runner(server_args)
        capture_bs, _ = get_batch_sizes_to_capture(model_runner)
        for topk in topks:  # the wrapper is given topk by the draft worker
            print(json.dumps(measure(model_runner, capture_bs, topk, flashinfer_harness)), flush=True)


if __name__ == "__main__":
    main()
