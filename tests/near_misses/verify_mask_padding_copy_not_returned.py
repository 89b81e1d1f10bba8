"""The right length, in a local copy that is never returned: the backend gets
`self.custom_mask`, sized for the real requests only."""

FIX = "verify-mask-padding"
RELEASE = "0.5.6.post2"
EDITS = [(
    "sglang/srt/speculative/eagle_info.py",
    '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n',
    (
        '        custom_mask = self.custom_mask\n'
        '        mask_numel = (paged_kernel_lens_sum + self.draft_token_num * batch_size) * self.draft_token_num\n'
        '        if custom_mask.numel() < mask_numel:\n'
        '            custom_mask = torch.cat([custom_mask, custom_mask.new_ones(mask_numel - custom_mask.numel())])\n'
        '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n'
    ),
)]
