"""Upstream's `draft_kv_indices_buffer_width(max_bs, self.topk, self.max_context_len)`
line is there (the upstream marker matches) but the buffer is allocated with the old
width: the value never reaches the buffer. The tree reports an editable build's version,
so only a proof could call it fixed."""

FIX = "draft-kv-indices-topk"
RELEASE = "0.5.13.post1"
VERSION = "0.0.0.dev1+gbadc0ffe"
EDITS = [
    (
        "sglang/srt/layers/attention/flashinfer_backend.py",
        (
            '    def init_cuda_graph_state(self, max_bs: int, max_num_tokens: int):\n'
            '        # generate_draft_decode_kv_indices packs topk per-branch sequences per row,\n'
            '        # so the row needs the topk factor -- same as the eager init_forward_metadata\n'
            '        # (batch_size * topk * max_context_len). Dropping it overflows the buffer.\n'
            '        kv_indices_width = draft_kv_indices_buffer_width(\n'
            '            max_bs, self.topk, self.max_context_len\n'
            '        )\n'
            '        self.cuda_graph_kv_indices = torch.zeros(\n'
            '            (self.speculative_num_steps, kv_indices_width),\n'
        ),
        (
            '    def init_cuda_graph_state(self, max_bs: int, max_num_tokens: int):\n'
            '        # generate_draft_decode_kv_indices packs topk per-branch sequences per row,\n'
            '        # so the row needs the topk factor -- same as the eager init_forward_metadata\n'
            '        # (batch_size * topk * max_context_len). Dropping it overflows the buffer.\n'
            '        kv_indices_width = draft_kv_indices_buffer_width(\n'
            '            max_bs, self.topk, self.max_context_len\n'
            '        )\n'
            '        self.cuda_graph_kv_indices = torch.zeros(\n'
            '            (self.speculative_num_steps, max_bs * self.max_context_len),\n'
        ),
    ),
]
