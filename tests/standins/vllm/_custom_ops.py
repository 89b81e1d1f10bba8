"""Stand-in for ``vllm._custom_ops`` (see the ``vllm`` stand-in)."""


def scaled_fp8_quant(*args, **kwargs):
    raise NotImplementedError("vllm stand-in: custom ops are not available")
