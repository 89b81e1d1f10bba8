"""EAGLE's verify input returns a grown copy of the tree mask, sized from the padded batch
(`batch_size` counts the padded requests) and guarded by the mask's length, but it adds
D booleans a request where each needs D * D: FlashInfer still reads past the end."""

FIX = "verify-mask-padding"
RELEASE = "0.5.6.post2"
EDITS = [(
    "sglang/srt/speculative/eagle_info.py",
    '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n',
    (
        '        custom_mask = self.custom_mask\n'
        '        if custom_mask.numel() < paged_kernel_lens_sum * self.draft_token_num + self.draft_token_num * batch_size:\n'
        '            custom_mask = torch.cat([custom_mask, custom_mask.new_ones(self.draft_token_num * batch_size)])\n'
        '        return kv_indices, cum_kv_seq_len, qo_indptr, custom_mask\n'
    ),
)]
