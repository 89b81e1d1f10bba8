"""Reproduce the draft/target context-length mismatch (PR #9388, issue #10713) on CPU.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Two tiny
local Llama configs are written to a temporary directory (no download): a target with
``max_position_embeddings`` 8192 and an EAGLE draft with 2048.

Real: ``ServerArgs`` (declared defaults, ``__post_init__`` skipped), ``ModelConfig``
built with ``ModelConfig.from_server_args`` for the target and then for the draft after
``server_args.context_length`` is set to the target's context, as ``EAGLEWorker.__init__``
and ``TpModelWorker.__init__`` do; the draft's rotary embedding from ``get_rope`` with the
arguments ``LlamaDecoderLayer`` derives from the draft config; ``ModelRunner.init_memory_pool``
of the target runner with the real ``ReqToTokenPool``, ``MHATokenToKVPool`` and
``TokenToKVPoolAllocator`` on the CPU; ``ScheduleBatch.alloc_token_slots``;
``EagleVerifyInput.prepare_for_verify`` and its Triton kernel ``assign_req_to_token_pool``
(under TRITON_INTERPRET=1).

Stand-ins, named as such below: the GPU memory profiling of the model runner (a fixed
token budget), the model runner's loaded state (its ``__init__`` loads a model and
initialises NCCL; the fields ``init_memory_pool`` reads are set instead, and the
attention TP size is set to one rank), vllm's rotary kernel (only referenced, never
called), and the scheduler's requests (only their count is read here). The rotary
embedding is applied with its pure-torch ``forward_native``, which reads the same
``cos_sin_cache`` row per position as the CUDA kernel, but checks the index.

It prints JSON lines (``env`` is the value of SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN,
null for unset; the shim's mode comes from SGLANG_SPEC_PATCHES as the caller set it):
- ``draft``: the draft config with the variable unset, "1", "0" and "false": the error,
  if any, the warnings logged while ModelConfig was built, the draft's context length and
  max_position_embeddings, how many positions the draft's rotary cache holds, and whether
  the rotary embedding can be applied at the last position of the context.
- ``target``: a target given a context longer than its own, variable unset and "false":
  the error or the context length, and the warnings (unchanged behaviour expected:
  accepted in 0.4.10 ... 0.5.0rc2 unless the variable is false, refused from 0.5.1).
- ``verify``: the req_to_token row width set up by ``init_memory_pool``, and whether the
  verify write of a request near the end of the context spilled into the next row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"  # configs are local; never reach a hub
ENV = "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"
for name in (ENV, "SGLANG_IS_IN_CI"):  # the latter bypasses the check from 0.5.1
    os.environ.pop(name, None)

import torch  # noqa: E402
from sglang_objects import release_attr, server_args_with_defaults  # noqa: E402

from sglang.srt.configs.model_config import ModelConfig  # noqa: E402
from sglang.srt.layers import dp_attention  # noqa: E402
from sglang.srt.layers.rotary_embedding import get_rope  # noqa: E402
from sglang.srt.managers.schedule_batch import ScheduleBatch  # noqa: E402
from sglang.srt.model_executor.forward_batch_info import ForwardMode  # noqa: E402
from sglang.srt.model_executor.model_runner import ModelRunner  # noqa: E402
from sglang.srt.speculative.spec_info import SpeculativeAlgorithm  # noqa: E402

TARGET_CONTEXT, DRAFT_CONTEXT = 8192, 2048
STEPS, TOPK, DRAFT_TOKENS = 3, 4, 16  # EAGLE settings of SGLang's docs; D = num_draft_tokens
DRAFT_ENV_VALUES = (None, "1", "0", "false")  # unset, opted in, two spellings of "no"
EagleVerifyInput = release_attr(
    "EagleVerifyInput", "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.eagle_info"
)


@contextlib.contextmanager
def gpu_index_placeholder():
    """From 0.5.1 the context check calls ``is_in_ci()``, which imports
    ``sglang.test.test_utils`` on first use; at import that module reads
    ``CUDA_VISIBLE_DEVICES[0]`` (for a port number) and fails on the empty value that
    hides the GPU here. Give it a placeholder while ModelConfig runs (torch here is
    CPU-only, so the value changes nothing else), then restore it."""
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES")
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved


@contextlib.contextmanager
def env_value(value):
    """SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN set to ``value`` (None: unset)."""
    if value is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = value
    try:
        yield
    finally:
        os.environ.pop(ENV, None)


class WarningsLogged(logging.Handler):
    """Every warning any logger passes up to the root while it is attached."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append({"logger": record.name, "message": record.getMessage()})

    def __enter__(self):
        logging.getLogger().addHandler(self)
        return self.messages

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)


def write_config(directory, arch, max_positions):
    os.makedirs(directory)
    config = {
        "architectures": [arch], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 1, "max_position_embeddings": max_positions,
        "vocab_size": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    }
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    return directory


def standin_vllm_rotary_kernel():
    """Without a GPU, RotaryEmbedding.__init__ imports vllm's rotary kernel (it only keeps a
    reference to it). The vllm package here is a stand-in; give it a stand-in kernel that
    raises if called, only if the shared stand-in does not have one. Only forward_native,
    pure torch, is used below."""
    import vllm._custom_ops as ops

    if not hasattr(ops, "rotary_embedding"):
        def rotary_embedding(*args, **kwargs):
            raise NotImplementedError("vllm stand-in: rotary_embedding kernel not available")

        ops.rotary_embedding = rotary_embedding


def draft_rotary(config):
    """The rotary embedding ``LlamaDecoderLayer``/``LlamaAttention`` build from ``config``."""
    standin_vllm_rotary_kernel()
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return get_rope(
        head_dim, rotary_dim=head_dim,
        max_position=getattr(config, "max_position_embeddings", 8192),
        base=getattr(config, "rope_theta", 10000),
        rope_scaling=getattr(config, "rope_scaling", None),
        is_neox_style=getattr(config, "rope_is_neox_style", True),
    ), head_dim


def draft_case(server_args, target_config, value, draft_path):
    """``draft_path``: a copy of the draft config of its own. SGLang caches the HF config
    per path (``get_config``), and the patched ModelConfig raises max_position_embeddings
    on that cached object, as upstream does; a fresh path keeps the cases apart."""
    # EAGLEWorker.__init__: "Override context length with target model's context length"
    server_args.context_length = target_config.context_len
    out = {"case": "draft", "env": value}
    # TpModelWorker.__init__ for the draft worker
    with env_value(value), WarningsLogged() as warnings, gpu_index_placeholder():
        try:
            config = ModelConfig.from_server_args(server_args, model_path=draft_path, is_draft_model=True)
        except ValueError as e:
            return {**out, "error": str(e), "warnings": warnings}
    rope, head_dim = draft_rotary(config.hf_text_config)
    last = config.context_len - 1  # the last position a request can reach
    q = torch.zeros(1, head_dim * config.hf_text_config.num_attention_heads)
    k = torch.zeros(1, head_dim * config.hf_text_config.num_key_value_heads)
    try:
        # the reference path of the op; the CUDA kernel reads the same cache row unchecked
        rope.forward_native(torch.tensor([last]), q, k)
        rope_error = None
    except IndexError as e:
        rope_error = str(e)
    return {
        **out, "error": None, "warnings": warnings, "context_len": config.context_len,
        "max_position_embeddings": config.hf_text_config.max_position_embeddings,
        "rope_rows": int(rope.cos_sin_cache.shape[0]), "last_position": last,
        "rope_error": rope_error,
    }


def target_case(server_args, value):
    server_args.context_length = 2 * TARGET_CONTEXT
    out = {"case": "target", "env": value}
    try:
        with env_value(value), WarningsLogged() as warnings, gpu_index_placeholder():
            try:
                config = ModelConfig.from_server_args(server_args)
            except ValueError as e:
                return {**out, "error": str(e), "warnings": warnings}
        return {**out, "error": None, "warnings": warnings, "context_len": config.context_len}
    finally:
        server_args.context_length = None


class ModelRunnerWithoutGpu(ModelRunner):
    """The real ModelRunner class; stand-in only for GPU memory profiling."""

    def profile_max_num_token(self, total_gpu_memory):
        return 4096  # stand-in: a fixed KV budget instead of measuring GPU memory


def target_runner(server_args, model_config):
    """The target's ModelRunner without its __init__ (which loads the model and sets up
    NCCL): the fields init_memory_pool reads, as __init__ would set them for one rank."""
    runner = object.__new__(ModelRunnerWithoutGpu)
    fields = dict(
        server_args=server_args, model_config=model_config, dtype=torch.float32,
        device="cpu", gpu_id=0, tp_size=1, pp_size=1, page_size=1, is_draft_worker=False,
        spec_algorithm=SpeculativeAlgorithm.from_string(server_args.speculative_algorithm),
        req_to_token_pool=None, token_to_kv_pool_allocator=None, is_hybrid=None,
        is_hybrid_gdn=False, use_mla_backend=False, mem_fraction_static=0.8,
        num_effective_layers=model_config.num_hidden_layers, start_layer=0,
        end_layer=model_config.num_hidden_layers,
    )
    for name, value in fields.items():
        if not isinstance(getattr(ModelRunner, name, None), property):  # some releases derive it
            setattr(runner, name, value)
    dp_attention._ATTN_TP_SIZE = 1  # stand-in for initialize_dp_attention on one rank
    return runner


def verify_case(server_args, target_config):
    runner = target_runner(server_args, target_config)
    runner.init_memory_pool(total_gpu_memory=0, max_num_reqs=4)
    pool = runner.req_to_token_pool
    columns = pool.req_to_token.shape[1]

    # Two running requests in pool rows 0 and 1. Row 1 is already filled with its own
    # token slots (as its prefill left it). Request 0 is as near the end of the context
    # as a verify step gets: the scheduler caps a request at context_len - 2 tokens
    # (max_req_len - 1), an unfinished one has at most context_len - 3, and the last
    # sampled token is not in the KV cache yet, so seq_len <= context_len - 4.
    near_end, short = target_config.context_len - 4, 12
    allocator = runner.token_to_kv_pool_allocator
    pool.req_to_token[1, :short] = allocator.alloc(short).to(torch.int32)
    before = pool.req_to_token[1].clone()

    class StandInReq:
        """Stand-in for a scheduler Req: prepare_for_verify only counts them."""

    batch = ScheduleBatch(
        reqs=[StandInReq(), StandInReq()], req_to_token_pool=pool,
        token_to_kv_pool_allocator=allocator, tree_cache=None,
        model_config=target_config, forward_mode=ForwardMode.TARGET_VERIFY,
    )
    batch.req_pool_indices = torch.tensor([0, 1], dtype=torch.int64)
    batch.seq_lens = torch.tensor([near_end, short], dtype=torch.int64)
    required = {f.name: None for f in dataclasses.fields(EagleVerifyInput)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    verify = EagleVerifyInput(**{
        **required, "draft_token": torch.zeros(2 * DRAFT_TOKENS, dtype=torch.int64),
        "draft_token_num": DRAFT_TOKENS, "spec_steps": STEPS, "topk": TOPK,
    })
    verify.prepare_for_verify(batch, page_size=1)

    changed = (pool.req_to_token[1] != before)
    spilled = [int(i) for i in changed.nonzero().flatten() if i < short]
    # what landed there: request 0's last verify slots (its first D of out_cache_loc)
    tail = batch.out_cache_loc[DRAFT_TOKENS - len(spilled):DRAFT_TOKENS].to(torch.int32)
    return {
        "case": "verify", "context_len": target_config.context_len, "draft_tokens": DRAFT_TOKENS,
        "columns": int(columns), "seq_len": near_end,
        "last_column_written": near_end + DRAFT_TOKENS - 1,  # seq_len + D - 1
        "next_row_overwritten": spilled,  # columns of row 1 that changed
        "overwritten_with_request_0_slots": bool(spilled)
        and bool((pool.req_to_token[1, spilled] == tail).all()),
    }


def main():
    with tempfile.TemporaryDirectory(prefix="draft-context-length-") as tmp:
        run(tmp)


def run(tmp):
    target = write_config(os.path.join(tmp, "target"), "LlamaForCausalLM", TARGET_CONTEXT)
    draft = write_config(os.path.join(tmp, "draft"), "LlamaForCausalLMEagle", DRAFT_CONTEXT)
    server_args = server_args_with_defaults(
        model_path=target, speculative_draft_model_path=draft, speculative_algorithm="EAGLE",
        speculative_num_steps=STEPS, speculative_eagle_topk=TOPK,
        speculative_num_draft_tokens=DRAFT_TOKENS, device="cpu", page_size=1,
        chunked_prefill_size=2048,  # what __post_init__ picks for a small GPU (read from 0.5.0rc2)
    )
    target_config = ModelConfig.from_server_args(server_args)  # TpModelWorker, target
    results = [
        draft_case(server_args, target_config, value,
                   write_config(os.path.join(tmp, f"draft-{i}"), "LlamaForCausalLMEagle", DRAFT_CONTEXT))
        for i, value in enumerate(DRAFT_ENV_VALUES)
    ]
    server_args.context_length = None
    results += [target_case(server_args, value) for value in (None, "false")]
    results.append(verify_case(server_args, target_config))
    for r in results:
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
