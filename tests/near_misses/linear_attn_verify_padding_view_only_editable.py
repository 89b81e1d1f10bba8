"""The target runner's view carries upstream's `num_padding=bs - raw_bs` (0.5.14's runner
line), in an editable build whose label says nothing, but this release's linear-attention
backend never reads it: `_replay_metadata` still counts the rows whose length equals the
fill value, so a real one-token request still costs the last real row its state slot and
its query tokens."""

FIX = "linear-attn-verify-padding"
RELEASE = "0.5.13.post1"
VERSION = "0.0.0.dev1+g0123abc"
EDITS = [(
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "        seq_lens_cpu=buffers.seq_lens_cpu[:bs],\n",
    "        seq_lens_cpu=buffers.seq_lens_cpu[:bs],\n        num_padding=bs - raw_bs,\n",
)]
