"""A line inserted in ModelConfig's stretch branch (a metric of stretched contexts)
between the warning and the assignment that draft-context-length's hunk leads with.
Re-anchored; the check then sees max_position_embeddings raised there."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/configs/model_config.py",
     "                    logger.warning(msg)\n                    self.context_len = context_length\n",
     "                    logger.warning(msg)\n"
     "                    self.stretched_context = (derived_context_len, context_length)\n"
     "                    self.context_len = context_length\n"),
]
EXPECT = {
    "draft-context-length": ("applies", "re-anchored in ModelConfig"),
}
