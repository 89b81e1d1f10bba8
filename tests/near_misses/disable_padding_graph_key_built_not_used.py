"""Every draft runner looks its graphs up by ShapeKey, and the target runner builds the
right ShapeKey (size, pdmux stream, LoRA variant) - then still hands the backend the bare
batch size: the key is built but never used, and target decode still runs eagerly with
--disable-cuda-graph-padding."""

FIX = "disable-padding-graph-key"
RELEASE = "0.5.14"
DRAFT_RUNNERS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py",
    "sglang/srt/speculative/multi_layer_eagle_draft_extend_cuda_graph_runner.py",
)
EDITS = [(
    "sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
    '        graph_key = cuda_graph_bs\n'
    '        if self.enable_pdmux:\n'
    '            graph_key = f"{get_current_stream_idx()}_{cuda_graph_bs}"\n'
    '\n'
    '        is_bs_supported = (\n'
    '            self.backend.can_run(forward_batch, graph_key)\n',
    '        graph_key = self._make_graph_key(\n'
    '            cuda_graph_bs,\n'
    '            get_current_stream_idx() if self.enable_pdmux else None,\n'
    '            self._resolve_lora_variant(forward_batch),\n'
    '        )\n'
    '\n'
    '        is_bs_supported = (\n'
    '            self.backend.can_run(forward_batch, cuda_graph_bs)\n',
)] + [(
    path,
    "            self.backend.can_run(forward_batch, cuda_graph_bs)\n",
    "            self.backend.can_run(forward_batch, self._make_graph_key(cuda_graph_bs))\n",
) for path in DRAFT_RUNNERS]
