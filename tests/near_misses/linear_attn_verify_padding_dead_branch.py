"""The padded rows are taken from the verify input's rows, but under `if False:`: the
count by value is what the clearing reads."""

FIX = "linear-attn-verify-padding"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/layers/attention/hybrid_linear_attn_backend.py",
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
    "        if False:\n"
    "            num_padding = bs - min(spec_info.draft_token.numel() // spec_info.draft_token_num, bs)\n"
    "        # Make sure forward metadata is correctly handled for padding reqs\n",
)]
