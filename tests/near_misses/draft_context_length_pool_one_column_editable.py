"""The req_to_token rows read the draft-token count, but add at most one column for it:
verify writes up to seq_len + draft tokens - 1. The rotary fix (the upstream marker) is
untouched and the tree reports an editable build's version: only a proof of every part
could call it fixed."""

FIX = "draft-context-length"
RELEASE = "0.5.9"
VERSION = "0.0.0.dev1+gc0dec0de"
EDITS = [
    (
        "sglang/srt/model_executor/model_runner_kv_cache_mixin.py",
        (
            '                extra_max_context_len += self.server_args.speculative_num_draft_tokens\n'
        ),
        (
            '                extra_max_context_len += min(self.server_args.speculative_num_draft_tokens, 1)\n'
        ),
    ),
]
