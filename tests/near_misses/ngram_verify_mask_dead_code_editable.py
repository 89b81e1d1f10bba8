"""Upstream's guard line (the upstream marker matches it) in `if False:`, in a tree that
reports an editable build's version: the marker alone must not decide; the mask is
never grown."""

FIX = "ngram-verify-mask"
RELEASE = "0.5.13.post1"
VERSION = "0.0.0.dev1+g0c0ffee"
EDITS = [(
    "sglang/srt/speculative/ngram_info.py",
    '        return kv_indices, cum_kv_seq_len, self.qo_indptr, self.custom_mask\n',
    (
        '        mask_numel = (\n'
        '            paged_kernel_lens_sum * self.draft_token_num\n'
        '            + (self.draft_token_num**2) * bs\n'
        '        )\n'
        '        custom_mask = self.custom_mask\n'
        '        if False:\n'
        '            if custom_mask.numel() < mask_numel:\n'
        '                custom_mask = torch.cat([custom_mask, custom_mask.new_ones(mask_numel - custom_mask.numel())])\n'
        '        return kv_indices, cum_kv_seq_len, self.qo_indptr, custom_mask\n'
    ),
)]
