"""A reformatted call before verify-mask-padding's hunk: the arguments of the kv-indices
kernel launch in generate_attn_arg_prefill are packed onto two lines. Re-anchored on the
return statement."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/speculative/eagle_utils.py",
     "            None,\n            kv_indices,\n            req_to_token.size(1),\n        )\n"
     "        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n",
     "            None, kv_indices, req_to_token.size(1)\n        )\n"
     "        return kv_indices, cum_kv_seq_len, qo_indptr, self.custom_mask\n"),
]
EXPECT = {
    "verify-mask-padding": ("applies", "re-anchored in EagleVerifyInput.generate_attn_arg_prefill()"),
}
