"""The draft runner sets a padded seq_lens_sum before the replay metadata and restores the
raw sum after, but adds one fill value instead of one per padded row (the `(bs - raw_bs)`
factor is missing): with 5 requests padded to 8 the backends still slice kv_indices two
rows' worth short of what the kernel writes."""

FIX = "draft-seq-lens-sum"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    '        # forward_batch.batch_size was overwritten to bs above when padding.\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n        # TODO: The forward_batch.seq_len_sum might need to be updated to reflect the padding in the cuda graph\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n',
    '        raw_seq_lens_sum = forward_batch.seq_lens_sum\n        if bs != raw_bs:\n            forward_batch.seq_lens_sum = raw_seq_lens_sum + self.seq_len_fill_value\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n        forward_batch.seq_lens_sum = raw_seq_lens_sum\n',
)]
