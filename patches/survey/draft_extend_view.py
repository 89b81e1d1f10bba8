"""What the draft-extend runner's unsliced metadata view does to the Triton backend (PR #36913), on CPU.

Runs inside the CPU SGLang environment, with one SGLang release (0.5.13.post1 - 0.5.16) on
PYTHONPATH. Real: ``EAGLEDraftExtendCudaGraphRunner.execute`` (``replay`` in 0.5.13; it pads the batch to a
captured size and hands the backend a view whose ``req_pool_indices``, ``seq_lens`` and
``seq_lens_cpu`` are the whole ``max_bs``-row buffers, with ``batch_size`` the padded size
and no ``num_padding``), its input buffers (``EagleDraftExtendInputBuffers``), ``ForwardBatch``,
``EagleDraftExtendInput``, and ``TritonAttnBackend.init_forward_metadata_out_graph`` with the
Triton kernel ``create_flashinfer_kv_indices_triton`` under TRITON_INTERPRET=1. Stand-ins,
named as such: the runner's and the backend's fields are set by hand instead of by their
``__init__`` (which capture graphs and need a model), the captured graph (returns zero
logits), DeepEP and the CUDA event, and CUDA placement (``cuda_on_cpu``).

Scenario: 4 draft tokens per request, captured batch sizes [1, 2, 4, 8], a pool of 16
requests of up to 512 tokens. Replays: ``full`` 8 requests of 300 tokens; ``exact`` 4
requests of 40 (a captured size: rows 4-7 of the buffers still hold the 8-request batch);
``poisoned`` the same 4 after rows 4-7 were set to an out-of-range request slot and a
length of 10**6; ``padded`` 3 requests of 40 padded to 4. One JSON line each: the view's
batch size and row counts, and whether the backend's ``qo_indptr`` / ``kv_indptr`` /
``kv_indices`` equal what it builds from a view sliced to ``batch_size`` rows.
"""

from __future__ import annotations

import json
import types

import torch
from cuda_on_cpu import CudaOnCpu

from sglang.srt.layers.attention.triton_backend import TritonAttnBackend
from sglang.srt.model_executor.forward_batch_info import ForwardBatch, ForwardMode
from sglang.srt.speculative import eagle_draft_extend_cuda_graph_runner as runner_mod
from sglang.srt.speculative.eagle_info import EagleDraftExtendInput

D, CAPTURE_BS, POOL, CONTEXT, HIDDEN, VOCAB = 4, [1, 2, 4, 8], 16, 512, 8, 32
MAX_BS = max(CAPTURE_BS)


def triton_backend():
    backend = object.__new__(TritonAttnBackend)
    backend.device, backend.num_draft_tokens, backend.speculative_num_steps = "cuda", D, D - 1
    backend.req_to_token = torch.arange(POOL * CONTEXT, dtype=torch.int32).reshape(POOL, CONTEXT)
    backend.kv_indptr = torch.zeros(MAX_BS * D + 1, dtype=torch.int32)
    backend.qo_indptr = torch.zeros(MAX_BS * D + 1, dtype=torch.int32)
    backend.cuda_graph_kv_indices = torch.full((MAX_BS * CONTEXT,), -1, dtype=torch.int64)
    backend.sliding_window_size, backend.use_sliding_window_kv_pool = None, False
    backend._translate_kv_loc, backend.dcp_size = None, 1
    return backend


class StandInGraphBackend:
    def replay(self, shape_key, forward_batch):
        n = shape_key.size * D
        return types.SimpleNamespace(next_token_logits=torch.zeros(n, VOCAB), hidden_states=torch.zeros(n, HIDDEN))


def make_runner(backend):
    runner = object.__new__(runner_mod.EAGLEDraftExtendCudaGraphRunner)
    n = MAX_BS * D
    runner.buffers = runner_mod.EagleDraftExtendInputBuffers(
        input_ids=torch.zeros(n, dtype=torch.int64), req_pool_indices=torch.zeros(MAX_BS, dtype=torch.int64),
        out_cache_loc=torch.ones(n, dtype=torch.int64), positions=torch.zeros(n, dtype=torch.int64),
        mrope_positions=torch.zeros((3, n), dtype=torch.int64), hidden_states=torch.zeros(n, HIDDEN),
        seq_lens=torch.ones(MAX_BS, dtype=torch.int64), seq_lens_cpu=torch.ones(MAX_BS, dtype=torch.int64),
        extend_seq_lens=torch.full((MAX_BS,), D, dtype=torch.int32),
        num_correct_drafts=torch.full((MAX_BS,), D, dtype=torch.int32),
        num_accept_tokens=torch.full((MAX_BS,), D, dtype=torch.int32),
        next_token_logits_buffer=torch.zeros(n, VOCAB), global_num_tokens_gpu=None,
        global_num_tokens_for_logprob_gpu=None)
    runner.capture_bs, runner.max_bs, runner.seq_len_fill_value = CAPTURE_BS, MAX_BS, 1
    runner.num_tokens_per_bs = runner.captured_req_width = D  # the name changes in 0.5.16
    runner.extend_seq_lens_cpu = [D] * MAX_BS
    runner.forward_mode = ForwardMode.DRAFT_EXTEND_V2
    runner.require_mlp_tp_gather = runner.require_gathered_buffer = False
    runner.draft_extend_attn_backend = backend
    runner.deepep_adapter = types.SimpleNamespace(replay=lambda: None)
    runner.device_module = types.SimpleNamespace(Event=lambda: types.SimpleNamespace(record=lambda: None))
    runner.model_runner = types.SimpleNamespace(device_timer=None)
    runner.backend = StandInGraphBackend()  # 0.5.14 on: the graph backend replays
    runner._replay = lambda forward_batch: None  # 0.5.13: the runner replays its graph itself
    runner.output_buffers = {bs: StandInGraphBackend().replay(types.SimpleNamespace(size=bs), None)
                             for bs in CAPTURE_BS}
    return runner


def batch(seq_lens):
    raw = len(seq_lens)
    lens = torch.tensor(seq_lens, dtype=torch.int64)
    spec = EagleDraftExtendInput(hidden_states=torch.zeros(raw * D, HIDDEN),
                                 num_correct_drafts=torch.full((raw,), D, dtype=torch.int32),
                                 num_accept_tokens=torch.full((raw,), D, dtype=torch.int32),
                                 num_tokens_per_req=D)
    return ForwardBatch(forward_mode=ForwardMode.DRAFT_EXTEND_V2, batch_size=raw,
                        input_ids=torch.zeros(raw * D, dtype=torch.int64),
                        req_pool_indices=torch.arange(1, raw + 1, dtype=torch.int64), seq_lens=lens,
                        seq_lens_cpu=lens.clone(), seq_lens_sum=int(lens.sum()),
                        out_cache_loc=torch.zeros(raw * D, dtype=torch.int64),
                        positions=torch.zeros(raw * D, dtype=torch.int64),
                        extend_seq_lens=torch.full((raw,), D, dtype=torch.int32),
                        extend_seq_lens_cpu=[D] * raw, spec_info=spec)


def metadata(backend, bs):
    end = int(backend.kv_indptr[bs])
    return (backend.qo_indptr[: bs + 1].clone(), backend.kv_indptr[: bs + 1].clone(),
            backend.cuda_graph_kv_indices[:end].clone())


def main():
    backend = triton_backend()
    runner = make_runner(backend)
    seen = []
    real_entry = backend.init_forward_metadata_out_graph

    def recording(view, in_capture=False):  # the real entry, plus a note of the view it got
        seen.append(view)
        return real_entry(view, in_capture=in_capture)

    backend.init_forward_metadata_out_graph = recording
    with CudaOnCpu():
        for name, seq_lens in (("full", [300] * 8), ("exact", [40] * 4), ("poisoned", [40] * 4),
                               ("padded", [40] * 3)):
            if name == "poisoned":
                runner.buffers.req_pool_indices[4:] = POOL + 1000
                runner.buffers.seq_lens[4:] = runner.buffers.seq_lens_cpu[4:] = 10 ** 6
            seen.clear()
            backend.cuda_graph_kv_indices.fill_(-1)
            (getattr(runner, "execute", None) or runner.replay)(batch(seq_lens))
            (view,) = seen
            bs = view.batch_size
            got = metadata(backend, bs)
            sliced = types.SimpleNamespace(**vars(view))
            sliced.req_pool_indices, sliced.seq_lens = view.req_pool_indices[:bs], view.seq_lens[:bs]
            sliced.seq_lens_cpu = view.seq_lens_cpu[:bs] if view.seq_lens_cpu is not None else None
            backend.cuda_graph_kv_indices.fill_(-1)
            real_entry(sliced)
            want = metadata(backend, bs)
            print(json.dumps({
                "replay": name, "raw_bs": len(seq_lens), "bs": bs,
                "view_rows": [len(view.req_pool_indices), len(view.seq_lens), len(view.seq_lens_cpu)],
                "rows_past_bs": {"req_pool_indices": view.req_pool_indices[bs:].tolist(),
                                 "seq_lens": view.seq_lens[bs:].tolist()},
                "kv_entries": int(got[1][-1]),
                "same_as_sliced": all(torch.equal(a, b) for a, b in zip(got, want)),
            }), flush=True)


if __name__ == "__main__":
    main()
