"""The target runner looks its graphs up under the ShapeKey it stored them with, but the
three EAGLE draft runners still pass the bare batch size: with --disable-cuda-graph-padding
every draft and draft-extend step still runs eagerly (one runner fixed, the others not)."""

FIX = "disable-padding-graph-key"
RELEASE = "0.5.15.post1"
EDITS = [(
    "sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
    '        graph_key = cuda_graph_bs\n'
    '        if self.enable_pdmux:\n'
    '            graph_key = f"{get_current_stream_idx()}_{cuda_graph_bs}"\n',
    '        stream = get_current_stream_idx() if self.enable_pdmux else None\n'
    '        graph_key = self._make_graph_key(\n'
    '            cuda_graph_bs, stream, self._resolve_lora_variant(forward_batch)\n'
    '        )\n',
)]
