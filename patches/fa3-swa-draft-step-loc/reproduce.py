"""Show where FA3 multi-step draft decode writes and reads sliding-window KV, on CPU with SGLang's own code.

Runs inside the CPU SGLang environment, with one SGLang release (0.5.13 .. 0.5.18) on
PYTHONPATH. Real: ``FlashAttentionMultiStepBackend`` and its per-step
``FlashAttentionBackend`` (``__init__``, ``init_cuda_graph_state``, the eager
``init_forward_metadata``, the CUDA-graph ``init_forward_metadata_out_graph`` for capture
and replay, ``forward_decode``), the Triton metadata kernel the replay runs (under
TRITON_INTERPRET=1), ``SWAKVPool`` (its ``set_kv_buffer`` does the writes),
``ReqToTokenPool``, ``EagleDraftInput``, ``ServerArgs`` (declared defaults). Stand-ins,
named as such: the model runner object (the attributes the backend reads), the attention
layer object, and FA3's ``flash_attn_with_kvcache`` (GPU only: ``StandInFlashAttention``
records the page table and KV buffer it is handed and returns zeros).

Scenario: a draft whose only layer is sliding-window (the draft pool of a hybrid
sliding-window model), page size 1, captured batch sizes [1, 2, 4], 3 steps.
Full slot ``s`` is sliding-window slot ``s + 300``. Draft slot of request ``r``, candidate
``k``, step ``i``: full slot ``100 + 10 r + steps k + i``; prompt of 10 tokens each.
Each step writes keys ``1000 (i + 1) + r`` (every element), then the stand-in attention
reads, per request, the sliding-window slots its page table names for the draft tokens of
steps 0 .. i: a read is right when the slot holds the key that step wrote for that request.

Printed, one JSON line each, for topk 1: the capture of each batch size (largest first,
as the runner captures: ``ok`` or the error); then draft decode of 2 requests without a
graph (``eager``) and, when the capture of 4 succeeded, a replay of 3 requests padded to 4
(``graph``): per step the sliding-window slots written, how many draft-token reads were
right and wrong, or the error. (topk > 1 reads draft tokens through a second, expanded
page table and fails the capture for another reason; see README.)
"""

from __future__ import annotations

import inspect
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import torch

STEPS, CAPTURE_BS, CONTEXT, POOL, HEADS, HEAD_DIM, PROMPT = 3, [1, 2, 4], 64, 256, 1, 8, 10
SWA_OFFSET, UNWRITTEN = 300, -1.0


class StandInFlashAttention:
    """Stand-in for FA3's ``flash_attn_with_kvcache`` (GPU only): records what it would read."""

    def __init__(self):
        self.calls = []

    def __call__(self, q, k_cache, v_cache, page_table=None, cache_seqlens=None, **kwargs):
        self.calls.append((page_table.clone(), k_cache.reshape(k_cache.shape[0], -1)[:, 0].clone()))
        out = torch.zeros(q.shape[0], q.shape[1], v_cache.shape[-1])
        return (out, torch.zeros(q.shape[0], q.shape[1]), None) if kwargs.get("return_softmax_lse") else out


FA3 = StandInFlashAttention()


def install_kernel_stand_ins():
    """sgl_kernel.flash_attn is GPU-only: the module the backend imports gets the stand-in."""
    import sgl_kernel

    module = types.ModuleType("sgl_kernel.flash_attn")
    module.flash_attn_with_kvcache = FA3
    module.flash_attn_varlen_func = module.get_scheduler_metadata = None
    sys.modules["sgl_kernel.flash_attn"] = sgl_kernel.flash_attn = module
    if not hasattr(sgl_kernel, "merge_state_v2"):
        sgl_kernel.merge_state_v2 = None


def real_objects(topk):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "standins"))
    from sglang_objects import server_args_with_defaults

    from sglang.srt.configs.model_config import AttentionArch
    from sglang.srt.layers.attention import flashattention_backend
    from sglang.srt.mem_cache.memory_pool import ReqToTokenPool
    from sglang.srt.mem_cache.swa_memory_pool import SWAKVPool
    from sglang.srt.server_args import set_global_server_args_for_scheduler

    flashattention_backend.flash_attn_with_kvcache = FA3  # bound at import in 0.5.14+
    server_args = server_args_with_defaults(
        speculative_algorithm="STANDALONE", speculative_eagle_topk=topk, speculative_num_steps=STEPS,
        speculative_num_draft_tokens=STEPS + 1, kv_cache_dtype="auto")
    set_global_server_args_for_scheduler(server_args)
    extra = ({"enable_kvcache_transpose": False}
             if "enable_kvcache_transpose" in inspect.signature(SWAKVPool.__init__).parameters else {})
    pool = SWAKVPool(size=POOL, size_swa=POOL + SWA_OFFSET + 1, page_size=1, dtype=torch.float32, head_num=HEADS,
                     head_dim=HEAD_DIM, swa_attention_layer_ids=[0], full_attention_layer_ids=[], device="cpu", **extra)
    pool.register_mapping(torch.arange(POOL + 1, dtype=torch.int64) + SWA_OFFSET)
    req_to_token = ReqToTokenPool(size=8, max_context_len=CONTEXT, device="cpu", enable_memory_saver=False)
    model_config = SimpleNamespace(
        is_encoder_decoder=False, context_len=CONTEXT, attention_arch=AttentionArch.MHA,
        is_local_attention_model=False, head_dim=HEAD_DIM, hf_text_config=SimpleNamespace(num_attention_heads=HEADS),
        get_num_kv_heads=lambda tp: HEADS)
    stand_in_model_runner = SimpleNamespace(
        sliding_window_size=16, model_config=model_config, device="cpu", req_to_token_pool=req_to_token,
        token_to_kv_pool=pool, kv_cache_dtype=torch.float32, kv_cache_dtype_str="auto", server_args=server_args,
        page_size=1, attn_cp_size=1, tp_size=1, attention_chunk_size=None, is_draft_worker=True,
        ps=SimpleNamespace(attn_cp_size=1, tp_size=1, attn_tp_size=1))
    backend = flashattention_backend.FlashAttentionMultiStepBackend(stand_in_model_runner, topk, STEPS)
    return backend, pool, req_to_token


def draft_batch(topk, bs, seq_lens, out_cache_loc, req_pool_indices):
    """What the EAGLE worker / draft runner hands the multi-step backend (the fields it reads)."""
    from sglang.srt.model_executor.forward_batch_info import ForwardMode
    from sglang.srt.speculative.eagle_info import EagleDraftInput

    seq = torch.tensor(seq_lens, dtype=torch.int64)
    spec = EagleDraftInput(topk_p=torch.ones(bs, topk), topk_index=torch.zeros(bs, topk, dtype=torch.int64),
                           hidden_states=torch.zeros(bs, 4))
    return SimpleNamespace(batch_size=bs, forward_mode=ForwardMode.DECODE, encoder_lens=None, spec_info=spec,
                           input_ids=torch.zeros(bs * topk, dtype=torch.int64), positions=seq.repeat_interleave(topk),
                           req_pool_indices=torch.tensor(req_pool_indices), seq_lens=seq, seq_lens_cpu=seq.clone(),
                           seq_lens_sum=int(seq.sum()), out_cache_loc=out_cache_loc, encoder_out_cache_loc=None)


def stand_in_layer():
    from sglang.srt.layers.radix_attention import AttentionType

    return SimpleNamespace(layer_id=0, is_cross_attention=False, sliding_window_size=15,
                           attn_type=AttentionType.DECODER, tp_q_head_num=HEADS, tp_k_head_num=HEADS,
                           tp_v_head_num=HEADS, head_dim=HEAD_DIM, v_head_dim=HEAD_DIM, qk_head_dim=HEAD_DIM,
                           k_scale=None, v_scale=None, logit_cap=0.0, scaling=1.0, use_irope=False)


def capture(topk, backend):
    ok = set()
    for bs in sorted(CAPTURE_BS, reverse=True):  # the runner captures the largest first
        fb = draft_batch(topk, bs, [1] * bs, torch.zeros(bs * topk * STEPS, dtype=torch.int64), [0] * bs)
        line = {"topk": topk, "capture": bs}
        try:
            backend.init_forward_metadata_out_graph(fb, in_capture=True)
            line["ok"], _ = True, ok.add(bs)
        except Exception as exc:  # what a server start would die of
            line["error"] = f"{type(exc).__name__}: {exc}"[:160]
        print(json.dumps(line), flush=True)
    return ok


def decode(topk, backend, pool, req_to_token, mode, raw_bs, bs):
    """Draft decode of ``raw_bs`` requests (a graph replay pads them to ``bs``)."""
    pool.swa_kv_pool.k_buffer[0].fill_(UNWRITTEN)
    slots = torch.tensor([100 + 10 * r + STEPS * k + i for r in range(raw_bs) for k in range(topk)
                          for i in range(STEPS)])
    for r in range(raw_bs):
        req_to_token.req_to_token[r + 1, :PROMPT] = torch.arange(PROMPT) + 20 * r
        req_to_token.req_to_token[r + 1, PROMPT:PROMPT + STEPS] = slots.view(raw_bs, topk, STEPS)[r, 0]
    fill = backend.attn_backends[0].get_cuda_graph_seq_len_fill_value()
    seq_lens = [PROMPT] * raw_bs + [fill] * (bs - raw_bs)
    fb = draft_batch(topk, bs, seq_lens, slots, list(range(1, raw_bs + 1)) + [0] * (bs - raw_bs))
    if mode == "eager":
        backend.init_forward_metadata(fb)
    else:  # the draft runner's replay: padded rows, the raw out_cache_loc (0.5.13 .. 0.5.18)
        backend.init_forward_metadata_out_graph(fb)
    per_step = torch.zeros(bs * topk * STEPS, dtype=torch.int64)
    per_step[: slots.numel()] = slots  # the graph's static buffer: padded rows hold 0
    per_step = per_step.view(bs, topk, STEPS).permute(2, 0, 1).reshape(STEPS, -1)
    for i in range(STEPS - 1):
        fb.out_cache_loc = per_step[i]  # what draft_forward sets before each step
        key = torch.full((bs * topk, HEADS, HEAD_DIM), 1000.0 * (i + 1))
        key += torch.arange(bs).repeat_interleave(topk)[:, None, None]
        line = {"topk": topk, "mode": mode, "step": i}
        try:
            backend.attn_backends[i].forward_decode(
                torch.zeros(bs * topk, HEADS * HEAD_DIM), key, key.clone(), stand_in_layer(), fb)
        except Exception as exc:
            line["error"] = f"{type(exc).__name__}: {exc}"[:160]
            print(json.dumps(line), flush=True)
            return
        page_table, keys = FA3.calls[-1]
        right = wrong = 0
        for r in range(raw_bs):
            for j in range(i + 1):  # the draft tokens of steps 0 .. i, first candidate's row
                got = float(keys[int(page_table[r, PROMPT + j])])
                right, wrong = (right + 1, wrong) if got == 1000.0 * (j + 1) + r else (right, wrong + 1)
        written = (pool.swa_kv_pool.k_buffer[0][:, 0, 0] != UNWRITTEN).nonzero().flatten().tolist()
        line.update(written=written, right=right, wrong=wrong)
        print(json.dumps(line), flush=True)


def main():
    install_kernel_stand_ins()
    topk = 1
    backend, pool, req_to_token = real_objects(topk)
    backend.init_cuda_graph_state(max(CAPTURE_BS), max(CAPTURE_BS) * topk)
    captured = capture(topk, backend)
    decode(topk, backend, pool, req_to_token, "eager", 2, 2)
    if max(CAPTURE_BS) in captured:
        decode(topk, backend, pool, req_to_token, "graph", 3, max(CAPTURE_BS))


if __name__ == "__main__":
    main()
