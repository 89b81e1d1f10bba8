"""A stretched draft's max_position_embeddings is set, on the right config, but to the
draft's own derived context length instead of the stretched one: the rotary cache stays
as short as before."""

FIX = "draft-context-length"
RELEASE = "0.5.9"
EDITS = [
    (
        "sglang/srt/configs/model_config.py",
        (
            '                        self.hf_text_config.max_position_embeddings = context_length\n'
        ),
        (
            '                        self.hf_text_config.max_position_embeddings = derived_context_len\n'
        ),
    ),
]
