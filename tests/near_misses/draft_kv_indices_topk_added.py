"""The draft kv_indices CUDA-graph row gains `self.topk` entries instead of the topk
factor: with topk 4 the kernel still writes about four times the row."""

FIX = "draft-kv-indices-topk"
RELEASE = "0.5.12.post1"
EDITS = [
    (
        "sglang/srt/layers/attention/flashinfer_backend.py",
        (
            '            (self.speculative_num_steps, max_bs * self.max_context_len),\n'
        ),
        (
            '            (self.speculative_num_steps, max_bs * self.max_context_len + self.topk),\n'
        ),
    ),
    (  # FlashInfer MLA sized right, so only the row above is wrong
        "sglang/srt/layers/attention/flashinfer_mla_backend.py",
        "            (self.speculative_num_steps, max_bs * self.max_context_len),\n",
        "            (self.speculative_num_steps, max_bs * self.topk * self.max_context_len),\n",
    ),
]
