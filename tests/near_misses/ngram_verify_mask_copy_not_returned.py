"""A padded copy of the tree mask of the right length is built, but the function still
returns `self.custom_mask`, the raw batch's mask: the copy never reaches FlashInfer."""

FIX = "ngram-verify-mask"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/speculative/ngram_info.py",
    '        return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask\n',
    (
        '        custom_mask = self.custom_mask\n'
        '        mask_numel = (paged_kernel_lens_sum + self.draft_token_num * bs) * self.draft_token_num\n'
        '        if custom_mask.numel() < mask_numel:\n'
        '            custom_mask = torch.cat([custom_mask, custom_mask.new_ones(mask_numel - custom_mask.numel())])\n'
        '        return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask\n'
    ),
)]
