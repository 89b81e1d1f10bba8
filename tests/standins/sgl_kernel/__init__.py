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
