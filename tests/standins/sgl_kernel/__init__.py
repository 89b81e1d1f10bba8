"""Stand-in for the GPU-only package ``sgl_kernel`` (SGLang's CUDA kernels).

The real package loads its CUDA library when imported, which needs libcuda, so
it cannot be imported on a CPU machine. Some SGLang modules still import kernels
from it at module level when no GPU is found (MoE, FP8 quantization and
CPU-graph modules that the target modules reach), so those names must exist.
Each is a stub that raises if called; nothing here computes anything.
"""


def _stub(name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel stand-in: {name} needs the GPU-only sgl_kernel")

    stub.__name__ = stub.__qualname__ = name
    return stub


cutlass_w4a8_moe_mm = _stub("cutlass_w4a8_moe_mm")
get_cutlass_w4a8_moe_mm_data = _stub("get_cutlass_w4a8_moe_mm_data")
sgl_per_tensor_quant_fp8 = _stub("sgl_per_tensor_quant_fp8")
silu_and_mul = _stub("silu_and_mul")
# Bound by the _standin_sglang_fast_topk start-up stand-in where a release only
# imports it from here under CUDA.
fast_topk = _stub("fast_topk")
# Imported at module level by mamba/causal_conv1d.py (0.5.3rc2 - 0.5.3), which the
# linear-attention backend reaches.
causal_conv1d_fwd = _stub("causal_conv1d_fwd")
causal_conv1d_update = _stub("causal_conv1d_update")
# Imported at module level by the FA3 backend (layers/attention/flashattention_backend.py,
# 0.5.13 on), which fa3-swa-draft-step-loc patches.
merge_state_v2 = _stub("merge_state_v2")


class _StubOps:
    """A kernel namespace (``sgl_kernel.allreduce``): every op is a stub."""

    def __init__(self, prefix):
        self._prefix = prefix

    def __getattr__(self, name):
        return _stub(f"{self._prefix}.{name}")


# Bound at module level by srt/_custom_ops.py (0.5.3rc2 - 0.5.3, reached from qwen3_next).
allreduce = _StubOps("allreduce")
