"""The draft kv_indices CUDA-graph row now reads `self.topk`, but divides by it: with topk 4
the row is a sixteenth of what the kernel writes into it."""

FIX = "draft-kv-indices-topk"
RELEASE = "0.5.12.post1"
EDITS = [
    (
        "sglang/srt/layers/attention/flashinfer_backend.py",
        (
            '            (self.speculative_num_steps, max_bs * self.max_context_len),\n'
        ),
        (
            '            (self.speculative_num_steps, max_bs * self.max_context_len // self.topk),\n'
        ),
    ),
    (  # FlashInfer MLA sized right, so only the row above is wrong
        "sglang/srt/layers/attention/flashinfer_mla_backend.py",
        "            (self.speculative_num_steps, max_bs * self.max_context_len),\n",
        "            (self.speculative_num_steps, max_bs * self.topk * self.max_context_len),\n",
    ),
]
