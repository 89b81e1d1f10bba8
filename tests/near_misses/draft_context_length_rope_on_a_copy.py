"""A stretched draft's max_position_embeddings is raised, but on a copy of its config that
nothing reads: the rotary cache is still built from the draft's own, shorter length."""

FIX = "draft-context-length"
RELEASE = "0.5.9"
EDITS = [
    (
        "sglang/srt/configs/model_config.py",
        (
            '                        self.hf_text_config.max_position_embeddings = context_length\n'
        ),
        (
            '                        stretched = copy.copy(self.hf_text_config)\n'
            '                        stretched.max_position_embeddings = context_length\n'
        ),
    ),
    ("sglang/srt/configs/model_config.py", "import json\n", "import copy\nimport json\n"),
]
