"""EAGLE's verify input grows `self.custom_mask` in place, guarded by its length, to
`paged_kernel_lens_sum * D + D * batch_size`: the per-request tree block is D, not D * D,
so the padded requests' bits are still missing (FlashInfer reads D * D per request)."""

FIX = "verify-mask-padding"
RELEASE = "0.5.6.post2"
EDITS = [(
    "sglang/srt/speculative/eagle_info.py",
    '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n',
    (
        '        mask_numel = paged_kernel_lens_sum * self.draft_token_num + self.draft_token_num * batch_size\n'
        '        if self.custom_mask.numel() < mask_numel:\n'
        '            self.custom_mask = torch.cat(\n'
        '                [self.custom_mask, self.custom_mask.new_ones(mask_numel - self.custom_mask.numel())]\n'
        '            )\n'
        '        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n'
    ),
)]
