"""The right amount, but on the decode branch: target verify, where a real request can be
as long as the fill value, still clears by the count."""

FIX = "linear-attn-verify-padding"
RELEASE = "0.5.12.post1"
EDITS = [(
    "sglang/srt/layers/attention/hybrid_linear_attn_backend.py",
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
    "        if forward_mode.is_decode_or_idle() and getattr(spec_info, \"draft_token\", None) is not None:\n"
    "            num_padding = bs - min(spec_info.draft_token.numel() // spec_info.draft_token_num, bs)\n"
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
)]
