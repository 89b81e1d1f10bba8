"""Stand-in for ``vllm.model_executor`` (see the ``vllm`` stand-in)."""
