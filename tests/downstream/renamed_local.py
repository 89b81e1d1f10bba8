"""A renamed local: the draft runner's replay calls the real batch size ``num_reqs``
instead of ``raw_bs``. draft-padding-buffers' hunk would still find its leading context,
but its added lines load ``raw_bs``, which nothing binds there: declined, never applied.
draft-padding-positions adds only ``self.positions.zero_()`` (no unbound name): its hunk
is re-anchored past the renamed ``if`` line."""

RELEASE = "0.5.2"
RENAMES = [("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py", "    def replay(", "raw_bs", "num_reqs")]
EXPECT = {
    "draft-padding-buffers": ("declined", "names not bound there: raw_bs"),
    "draft-padding-positions": ("applies", "re-anchored in EAGLEDraftCudaGraphRunner.replay()"),
}
