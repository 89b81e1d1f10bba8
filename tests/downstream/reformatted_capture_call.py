"""A reformatted call: the ``capture_bs += list(range(...))`` statement that leads
spec-disable-padding's hunk is joined onto one line (another formatter's output). The
hunk is re-anchored on its trailing context in get_batch_sizes_to_capture()."""

RELEASE = "0.5.2"
EDITS = [
    ("sglang/srt/model_executor/cuda_graph_runner.py",
     "            capture_bs += list(\n"
     "                range(max(capture_bs), server_args.cuda_graph_max_bs + 1, 16)\n"
     "            )\n",
     "            capture_bs += list(range(max(capture_bs), server_args.cuda_graph_max_bs + 1, 16))\n"),
]
EXPECT = {
    "spec-disable-padding": ("applies", "re-anchored in get_batch_sizes_to_capture()"),
}
