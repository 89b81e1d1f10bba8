"""Upstream's padded-sum line (the upstream marker matches it) sits in `if False:` in a tree
that reports an editable build's version: the marker alone must not decide, and the
metadata still gets the raw sum."""

FIX = "draft-seq-lens-sum"
RELEASE = "0.5.13.post1"
VERSION = "0.0.0.dev1+g5eadc0de"
EDITS = [(
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    '        # forward_batch.batch_size was overwritten to bs above when padding.\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n        # TODO: The forward_batch.seq_len_sum might need to be updated to reflect the padding in the cuda graph\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n',
    '        raw_seq_lens_sum = forward_batch.seq_lens_sum\n        if False:\n            forward_batch.seq_lens_sum = (\n                raw_seq_lens_sum + (bs - raw_bs) * self.seq_len_fill_value\n            )\n        self.draft_attn_backend.init_forward_metadata_out_graph(forward_batch)\n        self.raw_bs = raw_bs\n        self.bs = bs\n\n        # Replay\n        self._replay(forward_batch)\n        out = self.output_buffers[bs]\n        forward_batch.seq_lens_sum = raw_seq_lens_sum\n',
)]
