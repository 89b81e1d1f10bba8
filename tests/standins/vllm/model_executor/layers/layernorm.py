"""Stand-in for ``vllm.model_executor.layers.layernorm`` (see the ``vllm`` stand-in): SGLang
0.5.2 - 0.5.3 import these on a machine with neither CUDA nor sgl-kernel's CPU build."""


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"vllm stand-in: {type(self).__name__} is not available")


class GemmaRMSNorm(_Unavailable):
    pass


class RMSNorm(_Unavailable):
    pass
