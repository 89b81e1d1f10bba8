"""Show the draft CUDA graph captured above the request pool overrunning the FlashInfer MLA
multi-step ``kv_indptr`` on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real:
``get_batch_sizes_to_capture`` (the capture list the draft runner takes, from
``ServerArgs`` defaults plus the settings below), ``FlashInferMLAMultiStepDraftBackend``
(``__init__``, which sizes ``kv_indptr`` and ``q_indptr_decode``, ``init_cuda_graph_state``,
which the runner calls with the largest captured size, and its replay metadata path down to
``common_template``), the Triton kernel
``generate_draft_decode_kv_indices`` under TRITON_INTERPRET=1, and of each step's
``FlashInferMLAAttnBackend`` the CUDA-graph state and replay code
(``init_cuda_graph_state``, ``init_forward_metadata_replay_cuda_graph`` up to 0.5.13.post1,
``init_forward_metadata_out_graph`` later), plus ``ForwardBatch`` and ``EagleDraftInput``.

Stand-ins, named as such: the step backends' ``__init__`` (``step_backend_without_flashinfer``:
it builds FlashInfer workspaces and wrappers, GPU-only; the fields the real CUDA-graph code
reads are set from the buffers the multi-step backend hands it), their decode indices
updater (``StandInIndicesUpdater``: it records what FlashInfer's plan would be handed), the
captured graphs (no CUDA graphs on CPU: a placeholder per captured size), the model runner
object, the runner's padding of a batch to the captured size (``pad_to_captured``: the
values the draft runner puts in the padded rows, seq_lens at the fill value 1 and
request slot 0), CUDA placement (``cuda_on_cpu``), the single-rank attention
context-parallel group (from ``draft-padding-buffers/reproduce.py``, loaded by path), and a
guard band after ``kv_indptr`` (``with_guard_band``: the memory that follows the buffer on
a GPU).

Scenario: two-batch overlap on (the draft runner then captures even sizes only and rounds
the pool up to one), a request pool of 5, CUDA-graph batch sizes 1 2 4 8, topk 1 (the only
topk FlashInfer MLA drafts with), 3 steps. A full pool of 5 requests is padded to the
captured size 6. One JSON line: the captured sizes, the padded ``bs``, the row width of
``kv_indptr`` (``row``) and the entries the kernel writes per row (``needed``:
``bs * topk + 1``), the entries written past the end of the buffer (``past_buffer``), the
first entry of each later row, which must stay 0 (``row_starts``), the error the real
step backend raised, if any (``step_error``), and for each step that reached FlashInfer's
plan, the ``bs`` and the length of the ``kv_indptr`` it is handed (``handed``), the length
of the multi-step ``q_indptr_decode`` (``q_indptr_decode``), and per step the lengths of the
host ``qo_indptr`` and ``kv_indptr`` FlashInfer's fast decode plan gets (``host_indptr``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr, server_args_with_defaults

from sglang.srt.layers.attention import flashinfer_mla_backend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

TOPK, STEPS, CAPTURE_BS, POOL_SIZE, MAX_CONTEXT, HIDDEN, SEQ_LEN = 1, 3, [1, 2, 4, 8], 5, 64, 16, 30
FILL = 1  # FlashInferMLAAttnBackend.get_cuda_graph_seq_len_fill_value()
SENTINEL = -7
GUARD = 64
REAL_STEP_BACKEND = flashinfer_mla_backend.FlashInferMLAAttnBackend


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInIndicesUpdater:
    """Stand-in for a step backend's FlashInfer MLA decode indices updater (it plans a
    FlashInfer wrapper, GPU-only): records the rows and the ``kv_indptr`` length the plan
    would be handed, and the lengths of the host ``qo_indptr`` / ``kv_indptr`` copies the
    real step backend hands FlashInfer's fast decode plan (``qo_indptr_cpu`` is its copy of
    ``q_indptr_decode``)."""

    def __init__(self):
        self.seen = self.host = None

    def update(self, req_pool_indices, seq_lens, seq_lens_sum, *args, spec_info=None, **kwargs):
        self.seen = (int(req_pool_indices.numel()), int(spec_info.kv_indptr.numel()))
        self.host = {name: int(kwargs[name].numel()) for name in ("qo_indptr_cpu", "kv_indptr_cpu") if name in kwargs}


def step_backend_without_flashinfer(model_runner, skip_prefill=False, kv_indptr_buf=None,
                                    q_indptr_decode_buf=None, **kwargs):
    """The real ``FlashInferMLAAttnBackend`` class with its ``__init__`` skipped (GPU-only):
    only the fields its CUDA-graph state and replay code read are set."""
    step = object.__new__(REAL_STEP_BACKEND)
    step.skip_prefill = skip_prefill
    step.kv_indptr, step.q_indptr_decode = kv_indptr_buf, q_indptr_decode_buf
    step.max_context_len = model_runner.model_config.context_len
    step.device = model_runner.device
    step.indices_updater_decode = StandInIndicesUpdater()
    step.decode_cuda_graph_metadata = {}
    return step


def server_args():
    args = server_args_with_defaults(enable_two_batch_overlap=True, speculative_eagle_topk=TOPK,
                                     speculative_num_steps=STEPS, speculative_algorithm="EAGLE", page_size=1)
    names = {f.name for f in dataclasses.fields(args)}
    if "cuda_graph_bs" in names:  # up to 0.5.13.post1
        args.cuda_graph_bs = list(CAPTURE_BS)
    else:  # 0.5.14 and later: per-phase config
        from sglang.srt.model_executor.cuda_graph_config import default_cuda_graph_config

        args.cuda_graph_config = default_cuda_graph_config()
        args.cuda_graph_config.decode.bs = list(CAPTURE_BS)
    return args


def make_model_runner():
    pool_len = MAX_CONTEXT + 4
    return types.SimpleNamespace(
        server_args=server_args(), dp_size=1, tp_size=1, page_size=1, device="cuda", gpu_id=0,
        model_config=types.SimpleNamespace(context_len=MAX_CONTEXT, hidden_size=HIDDEN),
        req_to_token_pool=types.SimpleNamespace(
            size=POOL_SIZE,
            req_to_token=torch.arange(POOL_SIZE * pool_len, dtype=torch.int32).reshape(POOL_SIZE, pool_len),
        ),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True, is_standalone=lambda: False),
    )


def make_backend(model_runner):
    flashinfer_mla_backend.FlashInferMLAAttnBackend = step_backend_without_flashinfer
    try:
        return flashinfer_mla_backend.FlashInferMLAMultiStepDraftBackend(model_runner, TOPK, STEPS)
    finally:
        flashinfer_mla_backend.FlashInferMLAAttnBackend = REAL_STEP_BACKEND


def with_guard_band(backend):
    """Stand-in guard band: a ``kv_indptr`` of the same shape, dtype and strides whose storage
    runs on past its end, all of it filled with a sentinel (row starts are 0, as allocated).
    The step backends get their rows of it, as they had rows of the one it replaces."""
    real = backend.kv_indptr
    steps, width = real.shape
    flat = torch.full((steps * width + GUARD,), SENTINEL, dtype=real.dtype)
    view = flat[: steps * width].view(steps, width)
    view.copy_(real)
    assert view.stride() == real.stride()
    backend.kv_indptr = view
    for i, step in enumerate(backend.attn_backends):
        step.kv_indptr = view[i]
    return flat


def pad_to_captured(model_runner, capture_bs, raw_bs):
    """Stand-in for the draft runner's padding: the batch of ``raw_bs`` requests described as
    the smallest captured size that holds it, padded rows at the fill value in slot 0."""
    bs = min(b for b in capture_bs if b >= raw_bs)
    pad = bs - raw_bs
    seq = torch.tensor([SEQ_LEN] * raw_bs + [FILL] * pad, dtype=torch.int64)
    slots = torch.tensor(list(range(raw_bs)) + [0] * pad, dtype=torch.int64)
    positions = torch.tensor([SEQ_LEN] * raw_bs + [0] * pad, dtype=torch.int64).repeat_interleave(TOPK)
    draft = release_attr("EagleDraftInput", "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.eagle_info")(
        topk_p=torch.ones((bs, TOPK)), topk_index=torch.zeros((bs, TOPK), dtype=torch.int64),
        hidden_states=torch.zeros((bs, HIDDEN)),
    )
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=bs, input_ids=torch.zeros(bs * TOPK, dtype=torch.int64),
        req_pool_indices=slots, seq_lens=seq, out_cache_loc=torch.zeros(bs * TOPK * STEPS, dtype=torch.int64),
        seq_lens_sum=int(seq.sum()), positions=positions, spec_info=draft, seq_lens_cpu=seq.clone(),
    )
    fb.req_to_token_pool = model_runner.req_to_token_pool
    return fb


def replay_metadata(backend, fb):
    """The multi-step backend's replay entry the release's draft runner calls."""
    if hasattr(backend, "init_forward_metadata_replay_cuda_graph"):  # up to 0.5.12.post1
        backend.init_forward_metadata_replay_cuda_graph(fb, fb.batch_size)
    else:
        backend.init_forward_metadata_out_graph(fb)


def main():
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    buffers.single_rank_parallel_state()
    get_batch_sizes_to_capture = release_attr(
        "get_batch_sizes_to_capture", "sglang.srt.model_executor.runner.base_cuda_graph_runner",
        "sglang.srt.model_executor.cuda_graph_runner")
    with CudaOnCpu():
        model_runner = make_model_runner()
        capture_bs, _ = get_batch_sizes_to_capture(model_runner)
        backend = make_backend(model_runner)
        backend.init_cuda_graph_state(max(capture_bs), max(capture_bs) * TOPK)
        flat = with_guard_band(backend)  # around the kv_indptr the replay will use
        steps, width = backend.kv_indptr.shape
        for step in backend.attn_backends:  # stand-in capture: a placeholder per captured size
            step.decode_cuda_graph_metadata = {bs: "captured graph (stand-in)" for bs in capture_bs}
        fb = pad_to_captured(model_runner, capture_bs, POOL_SIZE)
        try:
            replay_metadata(backend, fb)
            step_error = None
        except RuntimeError as exc:  # the real step backend's host indptr copy is too short
            step_error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({
            "captured": list(capture_bs), "bs": fb.batch_size, "row": width, "needed": fb.batch_size * TOPK + 1,
            "past_buffer": int((flat[steps * width:] != SENTINEL).sum()),
            "row_starts": [int(backend.kv_indptr[i, 0]) for i in range(1, steps)],
            "step_error": step_error,
            "handed": [list(s.indices_updater_decode.seen) for s in backend.attn_backends
                       if s.indices_updater_decode.seen is not None],
            "q_indptr_decode": int(backend.q_indptr_decode.numel()),
            "host_indptr": [s.indices_updater_decode.host for s in backend.attn_backends
                            if s.indices_updater_decode.seen is not None],
        }), flush=True)


if __name__ == "__main__":
    main()
