"""The verify branch counts the verify input's draft tokens, not its rows (the division by
`draft_token_num` is missing): right only with one draft token per request; with more, the
padding count goes negative and the metadata is wrong for every batch."""

FIX = "linear-attn-verify-padding"
RELEASE = "0.5.9"
EDITS = [(
    "sglang/srt/layers/attention/hybrid_linear_attn_backend.py",
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
    "        if forward_mode.is_target_verify() and spec_info is not None:\n"
    "            num_padding = bs - spec_info.draft_token.numel()\n"
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
)]
