"""Stand-in for ``vllm.model_executor.layers.activation`` (see the ``vllm`` stand-in)."""


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"vllm stand-in: {type(self).__name__} is not available")


class GeluAndMul(_Unavailable):
    pass


class SiluAndMul(_Unavailable):
    pass
