"""Stand-in for ``vllm.model_executor.layers`` (see the ``vllm`` stand-in)."""
