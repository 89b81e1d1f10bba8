"""The returned tree mask is grown when it looks short, but by `bs` booleans: one per
request, where each padded request needs D * (D + fill) of them."""

FIX = "ngram-verify-mask"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/speculative/ngram_info.py",
    '        return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask\n',
    (
        '        custom_mask = self.custom_mask\n'
        '        if custom_mask.numel() < paged_kernel_lens_sum * self.draft_token_num:\n'
        '            custom_mask = torch.cat([custom_mask, custom_mask.new_ones(bs)])\n'
        '        return kv_indices, cum_kv_seq_len, self.qo_indptr, custom_mask\n'
    ),
)]
