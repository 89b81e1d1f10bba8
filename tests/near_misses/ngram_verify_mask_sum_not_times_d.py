"""The n-gram verify input pads the tree mask it returns, guarded by its length, but to
`paged_kernel_lens_sum + D**2 * bs`: the kv part is not multiplied by the draft-token
count D, so for any real context the target is below the mask's own length and nothing
is added; FlashInfer still reads (bs - raw_bs) * D * (D + fill) booleans past it."""

FIX = "ngram-verify-mask"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/speculative/ngram_info.py",
    '        return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask\n',
    (
        '        custom_mask = self.custom_mask\n'
        '        mask_numel = paged_kernel_lens_sum + self.draft_token_num**2 * bs\n'
        '        if custom_mask.numel() < mask_numel:\n'
        '            custom_mask = torch.cat(\n'
        '                [custom_mask, torch.full((mask_numel - custom_mask.numel(),), True, dtype=torch.bool, device=self.device)],\n'
        '                dim=0,\n'
        '            )\n'
        '        return kv_indices, cum_kv_seq_len, self.qo_indptr, custom_mask\n'
    ),
)]
