"""Upstream's padded-sum line, word for word, but under `if bs == raw_bs:`: it only runs
when nothing is padded (where it changes nothing), never on a padded replay."""

FIX = "draft-seq-lens-sum"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    '        # forward_batch.batch_size was overwritten to bs above when padding.\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n        # TODO: The forward_batch.seq_len_sum might need to be updated to reflect the padding in the cuda graph\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n',
    '        raw_seq_lens_sum = forward_batch.seq_lens_sum\n        if bs == raw_bs:\n            forward_batch.seq_lens_sum = (\n                raw_seq_lens_sum + (bs - raw_bs) * self.seq_len_fill_value\n            )\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n        forward_batch.seq_lens_sum = raw_seq_lens_sum\n',
)]
