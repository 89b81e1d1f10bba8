"""Stand-in for the GPU-only package sgl_kernel (dev)."""
def _s(*a, **k):
    raise NotImplementedError("stand-in")
fast_topk = _s
cutlass_w4a8_moe_mm = _s
get_cutlass_w4a8_moe_mm_data = _s
sgl_per_tensor_quant_fp8 = _s
silu_and_mul = _s
from . import kvcacheio
