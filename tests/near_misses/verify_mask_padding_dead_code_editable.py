"""Upstream's in-place growth (the upstream marker matches its guard line) inside a
`while False:` loop that never runs, in a tree that reports an editable build's version:
the marker alone must not decide."""

FIX = "verify-mask-padding"
RELEASE = "0.5.6.post2"
VERSION = "0.0.0.dev1+gfeedbac"
EDITS = [(
    "sglang/srt/speculative/eagle_info.py",
    '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n',
    (
        '        mask_numel = (\n'
        '            paged_kernel_lens_sum * self.draft_token_num\n'
        '            + (self.draft_token_num**2) * batch_size\n'
        '        )\n'
        '        while False:\n'
        '            if self.custom_mask.numel() < mask_numel:\n'
        '                self.custom_mask = torch.cat(\n'
        '                    [self.custom_mask, self.custom_mask.new_ones(mask_numel - self.custom_mask.numel())]\n'
        '                )\n'
        '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n'
    ),
)]
