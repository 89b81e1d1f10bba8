"""Show the raw ``seq_lens_sum`` of a padded EAGLE draft CUDA-graph replay (PR #26880) on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. The runner
is built as ``draft-padding-buffers/reproduce.py`` builds it (loaded by path; that in turn
reuses ``draft-padding-positions/reproduce.py``). Real: ``EAGLEDraftCudaGraphRunner``
(``__init__``, which calls the real ``FlashInferMultiStepDraftBackend.init_cuda_graph_state``,
and ``replay``), the backend's replay metadata path (``common_template``, reached through
``init_forward_metadata_replay_cuda_graph`` up to 0.5.12 and ``init_forward_metadata_out_graph``
in 0.5.13), the host-side fit check ``assert_buffer_fits`` that 0.5.13 calls there, and the
Triton kernel ``generate_draft_decode_kv_indices`` under TRITON_INTERPRET=1. Stand-ins,
named as such: the captured graph, the worker and model runner objects and CUDA placement
(from those harnesses); the per-step FlashInfer decode backends
(``StandInRecordingDecode``: they record the ``kv_indices`` view and ``kv_indptr`` they are
handed, which is what FlashInfer's plan is told to read); and a recording pass-through
around the real fit check (``record_fit_checks``).

Scenario: topk 4, 3 steps, captured batch sizes [1, 2, 4, 8], max context 256. Three
replays: a full batch of 8 requests of 40 tokens (no padding, the control); a batch of 5
requests of 60 tokens, which the runner pads to 8 (three rows of ``seq_len_fill_value``);
and the same padded batch once more, with the stand-in decode backend of step 0 raising.
For the first two, one JSON line per step ``i`` of the kernel's grid: how far the real
kernel wrote into row ``i`` (``written``), and for the steps FlashInfer runs, the length of
the ``kv_indices`` view the backend sliced for it from ``seq_lens_sum`` (``view``: what was
sized for the step, and what FlashInfer's plan checks ``indices`` against) and where
``kv_indptr`` ends (``end``: how many entries FlashInfer reads). Then one line per replay:
the raw sum, ``seq_lens_sum`` after ``replay`` returned (``after``), the row width, and the
length 0.5.13's fit check was asked to accept (``checked``; None before 0.5.13). For the
failing replay: the exception and ``seq_lens_sum`` after it (``after``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch
from cuda_on_cpu import CudaOnCpu

from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode

TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE, HIDDEN = 4, 3, [1, 2, 4, 8], 256, 16, 16
FULL, PADDED = [40] * 8, [60] * 5
SENTINEL = -1


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInFailure(RuntimeError):
    pass


class StandInRecordingDecode:
    """Stand-in for one step's FlashInferAttnBackend: records the length of the kv_indices
    view it is handed and where kv_indptr ends; raises instead when told to fail."""

    def __init__(self):
        self.seen, self.fail = None, False

    def get_cuda_graph_seq_len_fill_value(self):
        return 1  # FlashInfer's own value

    def init_cuda_graph_state(self, *args, **kwargs):
        pass

    def _record(self, spec_info):
        if self.fail:
            raise StandInFailure("stand-in decode backend fails during replay")
        self.seen = {"end": int(spec_info.kv_indptr[-1]), "view": int(spec_info.kv_indices.numel())}

    def init_forward_metadata_replay_cuda_graph(self, bs, *args, spec_info=None, **kwargs):  # up to 0.5.12
        self._record(spec_info)

    def init_forward_metadata_out_graph(self, forward_batch, in_capture=False):  # 0.5.13
        self._record(forward_batch.spec_info)


def record_fit_checks(checks):
    """Wrap the real host-side fit check of 0.5.13 (absent before): record what it is asked."""
    from sglang.srt.layers.attention import flashinfer_backend

    real = getattr(flashinfer_backend, "assert_buffer_fits", None)
    if real is None:
        return

    def recording(required, available, *args, **kwargs):
        checks.append(int(required))
        return real(required, available, *args, **kwargs)

    flashinfer_backend.assert_buffer_fits = recording


def forward_batch(harness, model_runner, seq_lens):
    raw_bs = len(seq_lens)
    seq = torch.tensor(seq_lens, dtype=torch.int32)
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


def replay(harness, runner, backend, model_runner, seq_lens, checks, name):
    fb = forward_batch(harness, model_runner, seq_lens)
    raw = fb.seq_lens_sum
    backend.cuda_graph_kv_indices.fill_(SENTINEL)
    checks.clear()
    for step in backend.attn_backends:
        step.seen = None
    try:
        runner.replay(fb)
    except StandInFailure as exc:
        print(json.dumps({"replay": name, "raised": str(exc), "raw": raw, "after": fb.seq_lens_sum}), flush=True)
        return
    for i in range(STEPS):
        row = backend.cuda_graph_kv_indices[i]
        line = {"replay": name, "step": i, "written": int((row != SENTINEL).nonzero().max()) + 1}
        if i < STEPS - 1:  # the steps FlashInfer runs
            line.update(backend.attn_backends[i].seen)
        print(json.dumps(line))
    print(json.dumps({"replay": name, "raw": raw, "after": fb.seq_lens_sum, "row": int(row.numel()),
                      "checked": checks[0] if checks else None}), flush=True)


def main():
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    harness = buffers.load_positions_harness()
    buffers.single_rank_parallel_state()
    checks = []
    record_fit_checks(checks)
    with CudaOnCpu():
        runner, backend, model_runner = buffers.make_runner(harness, TOPK, STEPS, CAPTURE_BS, MAX_CONTEXT, POOL_SIZE)
        backend.req_to_token_pool = model_runner.req_to_token_pool  # 0.5.13 reads it from the backend
        backend.attn_backends = [StandInRecordingDecode() for _ in backend.attn_backends]
        replay(harness, runner, backend, model_runner, FULL, checks, "full")
        replay(harness, runner, backend, model_runner, PADDED, checks, "padded")
        backend.attn_backends[0].fail = True
        replay(harness, runner, backend, model_runner, PADDED, checks, "failing")


if __name__ == "__main__":
    main()
