"""Stand-in for the GPU-only package ``vllm``.

SGLang 0.4.10.x imports ``vllm._custom_ops`` at module level in its FP8
quantization module when no GPU backend (CUDA, NPU, HIP, CPU-AMX) is detected,
which is always the case on the CPU test environment; ``sglang.srt.configs``
reaches that module, so no SGLang module imports without the name. Only what
those imports name is here, as stubs that raise if called.
"""
