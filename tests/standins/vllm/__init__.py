"""Stand-in for the GPU-only package ``vllm``.

When no GPU backend (CUDA, NPU, HIP, XPU, CPU-AMX) is detected, which is always
the case in the CPU test environment, some SGLang releases fall back to vllm
kernels at module level: 0.4.10.x import ``vllm._custom_ops`` in their FP8
quantization module (reached from ``sglang.srt.configs``), and 0.5.0rc2 .. 0.5.7
import ``vllm.model_executor.layers.activation`` in ``sglang.srt.layers.activation``
(reached from the model runner from 0.5.6 on). Only the names those imports
need are here, as stubs that raise if used.
"""
