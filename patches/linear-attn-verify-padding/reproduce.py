"""A real request as long as the fill value, taken for verify padding by linear attention, on CPU with SGLang's code.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real: the
linear-attention backend's replay metadata (``MambaAttnBackendBase``, ``MambaAttnBackend``
in 0.5.2 - 0.5.3: ``__init__``,
``init_cuda_graph_state`` and the replay entry of the release, which counts padded rows
as ``count_nonzero(seq_lens_cpu == fill)`` unless it is told ``num_padding``), the target
runner's ``build_replay_fb_view`` where the release has one (0.5.13 on; before, the call
is made with the arguments the runner's ``replay_prepare`` passes), ``HybridReqToTokenPool.
get_mamba_indices``, ``EagleVerifyInput``, and the gated-delta-rule verify kernel
``fused_sigmoid_gating_delta_rule_update`` (Triton, under TRITON_INTERPRET=1) fed with the
metadata the backend built. Stand-ins, named as such: the model runner object (its server
args are the release's real ServerArgs), the runner's padded input buffers (filled the
way its padding policies fill them: ``seq_lens`` / ``seq_lens_cpu`` with the fill value,
``req_pool_indices`` with 0 past the real rows), the layer weights and activations
(random), and CUDA placement (``cuda_on_cpu``).

Scenario: Qwen3-Next-style MTP target verify, 4 draft tokens per request (topk 1),
captured batch sizes [1, 2, 4, 8], fill value 1. Three verify batches: ``padded``, three
requests of committed lengths 40, 1, 40 (the second has a one-token prompt: its first
verify holds one committed token) padded to 4; ``unpadded``, four requests 40, 40, 40, 1;
and ``control``, 40, 41, 42 padded to 4. One JSON line per batch: the rows the backend
treats as padding (state slot -1), the real rows left without query tokens by
``query_start_loc``, and, from the kernel (0.5.13 on; earlier releases verify through
another kernel, not run here), the real rows whose per-step intermediate states (what the
accepted step's state is committed from after verify) were not written and whose outputs
differ from a run with the right metadata.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import types

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr, server_args_with_defaults

from sglang.srt.mem_cache.memory_pool import HybridReqToTokenPool
from sglang.srt.model_executor.forward_batch_info import ForwardMode

CAPTURE_BS, D, POOL, FILL = [1, 2, 4, 8], 4, 16, 1
H, K = 2, 16  # heads and head size of the stand-in linear-attention layer
BATCHES = {"padded": [40, 1, 40], "unpadded": [40, 40, 40, 1], "control": [40, 41, 42]}


def verify_input(raw_bs):
    cls = release_attr("EagleVerifyInput", "sglang.srt.speculative.eagle_utils",
                       "sglang.srt.speculative.eagle_info")
    given = {"draft_token": torch.zeros(raw_bs * D, dtype=torch.int64), "draft_token_num": D,
             "spec_steps": D - 1, "topk": 1, "seq_lens_sum": None, "seq_lens_cpu": None}
    required = [f.name for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    return cls(**{name: given.get(name) for name in required},
               **{name: value for name, value in given.items() if name not in required})


def make_backend():
    pool = object.__new__(HybridReqToTokenPool)  # only its request -> state-slot map is read
    pool.size = POOL
    pool.req_index_to_mamba_index_mapping = torch.arange(POOL, dtype=torch.int32) + 100
    model_runner = types.SimpleNamespace(
        device="cuda", is_draft_worker=False, req_to_token_pool=pool, token_to_kv_pool=None,
        server_args=server_args_with_defaults(speculative_eagle_topk=1, speculative_num_draft_tokens=D),
    )
    module = "sglang.srt.layers.attention.hybrid_linear_attn_backend"
    try:
        backend_class = release_attr("MambaAttnBackendBase", module)
    except ImportError:  # 0.5.2 - 0.5.3
        backend_class = release_attr("MambaAttnBackend", module)
    backend = backend_class(model_runner)
    backend.init_cuda_graph_state(max(CAPTURE_BS), max(CAPTURE_BS) * D)
    return backend, pool


def replay_metadata(backend, seq_lens):
    """What the target runner does before replaying a verify graph for this batch."""
    raw_bs = len(seq_lens)
    bs = next(b for b in CAPTURE_BS if b >= raw_bs)
    max_bs = max(CAPTURE_BS)
    buffers = types.SimpleNamespace(
        input_ids=torch.zeros(max_bs * D, dtype=torch.int64), positions=torch.zeros(max_bs * D, dtype=torch.int64),
        req_pool_indices=torch.zeros(max_bs, dtype=torch.int64),
        seq_lens=torch.full((max_bs,), FILL, dtype=torch.int32),
        seq_lens_cpu=torch.full((max_bs,), FILL, dtype=torch.int32, device="cpu"), encoder_lens=None,
    )
    buffers.req_pool_indices[:raw_bs] = torch.arange(1, raw_bs + 1)  # pool slot 0 is reserved
    buffers.seq_lens[:raw_bs] = torch.tensor(seq_lens)
    buffers.seq_lens_cpu[:raw_bs] = torch.tensor(seq_lens)
    spec_info = verify_input(raw_bs)
    batch = types.SimpleNamespace(forward_mode=ForwardMode.TARGET_VERIFY, seq_lens_sum=sum(seq_lens),
                                  out_cache_loc=torch.zeros(raw_bs * D, dtype=torch.int64), spec_info=spec_info)
    try:
        build_view = release_attr("build_replay_fb_view", "sglang.srt.model_executor.runner.decode_cuda_graph_runner",
                                  "sglang.srt.model_executor.cuda_graph_runner")
    except ImportError:  # before 0.5.13: the runner calls the replay entry with these arguments
        backend.init_forward_metadata_replay_cuda_graph(
            bs, buffers.req_pool_indices[:bs], buffers.seq_lens[:bs], sum(seq_lens) + (bs - raw_bs) * FILL,
            None, ForwardMode.TARGET_VERIFY, spec_info, seq_lens_cpu=buffers.seq_lens_cpu[:bs])
    else:
        view = build_view(forward_batch=batch, buffers=buffers, bs=bs, raw_bs=raw_bs, num_tokens=bs * D,
                          seq_len_fill_value=FILL, capture_forward_mode=ForwardMode.TARGET_VERIFY,
                          is_encoder_decoder=False)
        backend.init_forward_metadata_out_graph(view)
    meta = backend.forward_metadata
    return bs, meta.mamba_cache_indices[:bs].clone(), meta.query_start_loc[: bs + 1].clone()


def verify_kernel_function():
    """The release's gated-delta-rule verify kernel (0.5.13 on: with per-step intermediate
    states), or None where its GDN verify calls another kernel."""
    kernel = release_attr("fused_sigmoid_gating_delta_rule_update",
                          "sglang.srt.layers.attention.fla.fused_sigmoid_gating_recurrent")
    kernel = inspect.unwrap(kernel)  # its input guard only makes tensors contiguous and enters a CUDA device
    return kernel if "intermediate_states_buffer" in inspect.signature(kernel).parameters else None


def verify_kernel(kernel, bs, state_slots, query_start_loc, inputs):
    """The verify kernel over the batch, called as the GDN backend calls it."""
    q, k, v, a, b, A_log, dt_bias, states = inputs
    intermediate = torch.full((POOL, D, H, K, K), float("nan"))
    given = dict(A_log=A_log, dt_bias=dt_bias, q=q[:, : bs * D], k=k[:, : bs * D], v=v[:, : bs * D],
                 a=a[: bs * D], b=b[: bs * D], initial_state_source=states, initial_state_indices=state_slots,
                 cu_seqlens=query_start_loc, use_qk_l2norm_in_kernel=True, softplus_beta=1.0,
                 softplus_threshold=20.0, is_kda=False, disable_state_update=True,
                 intermediate_states_buffer=intermediate,
                 intermediate_state_indices=torch.arange(POOL, dtype=torch.int32), cache_steps=D,
                 retrieve_parent_token=None)
    out = kernel(**given)
    return out.reshape(-1, H, K), intermediate


def main():
    torch.manual_seed(0)
    n = max(CAPTURE_BS) * D
    inputs = (torch.randn(1, n, H, K), torch.randn(1, n, H, K), torch.randn(1, n, H, K), torch.randn(n, H),
              torch.randn(n, H), torch.randn(H), torch.randn(H), torch.randn(POOL + 100, H, K, K) * 0.1)
    kernel = verify_kernel_function()
    with CudaOnCpu():
        backend, pool = make_backend()
        for name, seq_lens in BATCHES.items():
            raw_bs = len(seq_lens)
            bs, slots, qsl = replay_metadata(backend, seq_lens)
            rows = range(raw_bs)
            line = {"batch": name, "raw_bs": raw_bs, "bs": bs, "seq_lens": seq_lens,
                    "padding_rows": [r for r in range(bs) if int(slots[r]) == -1],
                    "real_rows_without_tokens": [r for r in rows if int(qsl[r + 1] - qsl[r]) == 0]}
            if kernel is not None:
                out, intermediate = verify_kernel(kernel, bs, slots, qsl, inputs)
                # The right metadata: every real row keeps its slot and its D query tokens.
                right_slots = torch.full((bs,), -1, dtype=torch.int32)
                right_slots[:raw_bs] = pool.req_index_to_mamba_index_mapping[1 : raw_bs + 1]
                right_qsl = torch.tensor([min(i, raw_bs) * D for i in range(bs + 1)], dtype=torch.int32)
                ref, ref_intermediate = verify_kernel(kernel, bs, right_slots, right_qsl, inputs)
                line.update({
                    "real_rows_states_unwritten": [r for r in rows if bool(torch.isnan(intermediate[r]).any())],
                    "real_rows_output_wrong": [r for r in rows if not torch.equal(
                        out[r * D:(r + 1) * D], ref[r * D:(r + 1) * D])],
                    "reference_states_written": all(not bool(torch.isnan(ref_intermediate[r]).any())
                                                    for r in rows),
                })
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
