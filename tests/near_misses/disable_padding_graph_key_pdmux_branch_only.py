"""Every draft runner looks its graphs up by ShapeKey, and the target runner builds a
ShapeKey too - but only in the pdmux branch: without pdmux (the common case) its key is
still the bare batch size, so target decode still runs eagerly with
--disable-cuda-graph-padding (the fix under the wrong branch). The tree reports an editable
build's version, so no release number vouches for it."""

FIX = "disable-padding-graph-key"
RELEASE = "0.5.15.post1"
VERSION = "0.0.0.dev1+g0123abc"
DRAFT_RUNNERS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py",
    "sglang/srt/speculative/multi_layer_eagle_draft_extend_cuda_graph_runner.py",
)
EDITS = [(
    "sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
    '            graph_key = f"{get_current_stream_idx()}_{cuda_graph_bs}"\n',
    '            graph_key = self._make_graph_key(\n'
    '                cuda_graph_bs,\n'
    '                get_current_stream_idx(),\n'
    '                self._resolve_lora_variant(forward_batch),\n'
    '            )\n',
)] + [(
    path,
    "            self.backend.can_run(forward_batch, cuda_graph_bs)\n",
    "            self.backend.can_run(forward_batch, self._make_graph_key(cuda_graph_bs))\n",
) for path in DRAFT_RUNNERS]
