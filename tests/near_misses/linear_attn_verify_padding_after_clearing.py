"""The right amount on the verify branch, but set after the state slots and request rows
were already cleared by the count: it reaches only the query offsets, and the last real row
has lost its state slot."""

FIX = "linear-attn-verify-padding"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/layers/attention/hybrid_linear_attn_backend.py",
    "        mamba_indices[bs - num_padding :] = -1\n",
    "        mamba_indices[bs - num_padding :] = -1\n"
    "        if forward_mode.is_target_verify() and getattr(spec_info, \"draft_token\", None) is not None:\n"
    "            num_padding = bs - min(spec_info.draft_token.numel() // spec_info.draft_token_num, bs)\n",
)]
