"""Every runner now passes ``self._make_graph_key(...)``, but the target runner builds it from
the size alone: capture and replay store graphs under ShapeKey(size, stream, LoRA variant),
so with pdmux streams or LoRA variants (record_nolora_graph) the lookup key still never
equals a stored one and those batches still run eagerly with --disable-cuda-graph-padding
(a partial fix: right type, wrong fields)."""

FIX = "disable-padding-graph-key"
RELEASE = "0.5.15.post1"
DRAFT_RUNNERS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py",
    "sglang/srt/speculative/multi_layer_eagle_draft_extend_cuda_graph_runner.py",
)
EDITS = [(
    "sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
    '        graph_key = cuda_graph_bs\n'
    '        if self.enable_pdmux:\n'
    '            graph_key = f"{get_current_stream_idx()}_{cuda_graph_bs}"\n',
    '        graph_key = self._make_graph_key(cuda_graph_bs)\n',
)] + [(
    path,
    "            self.backend.can_run(forward_batch, cuda_graph_bs)\n",
    "            self.backend.can_run(forward_batch, self._make_graph_key(cuda_graph_bs))\n",
) for path in DRAFT_RUNNERS]
