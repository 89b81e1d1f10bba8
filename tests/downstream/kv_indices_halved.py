"""A semantically different edit: the draft kv_indices CUDA-graph buffer is sized for
half the context in both FlashInfer backends (a memory trade-off). The line our
draft-kv-indices-topk diff replaces is gone and the check sees no topk factor:
declined, the code is left alone."""

RELEASE = "0.5.2"
OLD = "            (self.speculative_num_steps, max_bs * self.max_context_len),\n"
NEW = "            (self.speculative_num_steps, max_bs * self.max_context_len // 2),\n"
EDITS = [
    ("sglang/srt/layers/attention/flashinfer_backend.py", OLD, NEW),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py", OLD, NEW),
]
EXPECT = {
    "draft-kv-indices-topk": ("declined", "not found"),
}
