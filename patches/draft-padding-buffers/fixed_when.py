"""draft-padding-buffers holds when the EAGLE draft runner's ``replay`` clears the padded
slots of ``topk_p``, ``topk_index``, ``hidden_states`` and ``req_pool_indices`` before the
graph runs: whole buffers or the rows from the real batch size on, on any object
(``self.`` or ``buffers.``), with ``.zero_()``, ``.fill_(0)`` or ``x[rows] = 0``, in
``replay`` (``execute`` in later releases) itself or under an ``if`` that compares
(the padding branch).

Read by the engine only (no SGLang import; the padding-branch reading is shared in
``sglang_spec_patches.astcheck``): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import cleared_on_padded_replay, method

FILE = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
CLASS_SUFFIX = "DraftCudaGraphRunner"
BUFFERS = ("topk_p", "topk_index", "hidden_states", "req_pool_indices")
METHODS = ("replay", "execute")


def check(read):
    text = read(FILE)
    if text is None:
        return None
    replay = method(ast.parse(text), CLASS_SUFFIX, METHODS)
    if replay is None:
        return None
    cleared = cleared_on_padded_replay(replay)
    if not all(name in cleared for name in BUFFERS):
        return None
    spelled = ", ".join(f"{cleared[name]}" for name in BUFFERS)
    return f"{replay.name}() clears the padded draft slots: {spelled}"
