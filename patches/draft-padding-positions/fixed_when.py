"""draft-padding-positions holds when both EAGLE draft CUDA-graph runners (decode and,
where the file exists, draft-extend) clear ``positions`` in ``replay`` (``execute`` in
later releases) before the graph runs: the whole buffer or from the real tokens on, on
any object (``self.`` or ``buffers.``), with ``.zero_()``, ``.fill_(0)`` or
``x[rows] = 0``, in the method itself or under an ``if`` that compares (the padding
branch).

Read by the engine only (no SGLang import; the padding-branch reading is shared in
``sglang_spec_patches.astcheck``): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import cleared_on_padded_replay, method

RUNNERS = (
    # (file, class name suffix, required): the draft-extend runner is checked if present
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py", "DraftCudaGraphRunner", True),
    ("sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py", "DraftExtendCudaGraphRunner", False),
)
METHODS = ("replay", "execute")


def check(read):
    seen = []
    for file, class_suffix, required in RUNNERS:
        text = read(file)
        if text is None:
            if required:
                return None
            continue
        replay = method(ast.parse(text), class_suffix, METHODS)
        how = cleared_on_padded_replay(replay).get("positions") if replay is not None else None
        if how is None:
            return None
        seen.append(f"{file.rsplit('/', 1)[1]} {replay.name}() clears {how}")
    return "; ".join(seen)
