"""draft-padding-buffers holds when the EAGLE draft runner's ``replay`` (``execute`` in
later releases) sets the padded slots of ``topk_p``, ``topk_index``, ``hidden_states``
and ``req_pool_indices`` - all four - to zero on every padded replay before the graph
runs, on the object the graph reads them from (``self.`` or ``buffers.``): whole
buffers or the rows from the real batch size on, with ``.zero_()``, ``.fill_(0)`` or
``x[rows] = 0``. Proven by walking the method with a padded replay's sizes bound
(5 requests padded to 8, 1 and 4 tokens a request): a clearing under ``if bs == raw_bs:``, in dead code, after
the replay, on another object, or stopping short of the padded rows does not count
(``astcheck.cleared_on_padded_replay``).

Read by the engine only (no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import cleared_on_padded_replay, method

FILE = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
CLASS_SUFFIX = "DraftCudaGraphRunner"
BUFFERS = ("topk_p", "topk_index", "hidden_states", "req_pool_indices")
METHODS = ("replay", "execute")
RAW, PADDED, TOKENS_PER_REQUEST = 5, 8, (1, 4)


def check(read):
    text = read(FILE)
    if text is None:
        return None
    replay = method(ast.parse(text), CLASS_SUFFIX, METHODS)
    if replay is None:
        return None
    cleared = None
    for k in TOKENS_PER_REQUEST:
        padded_replay = {"batch_size": RAW, "raw_bs": RAW, "bs": PADDED, "num_tokens_per_bs": k,
                         "captured_req_width": k}
        found = cleared_on_padded_replay(replay, padded_replay, ("raw_bs", "bs"),
                                         dict.fromkeys(BUFFERS, (RAW, PADDED)))
        cleared = found if cleared is None else {name: how for name, how in found.items() if name in cleared}
    if not all(name in cleared for name in BUFFERS):
        return None
    spelled = ", ".join(f"{cleared[name]}" for name in BUFFERS)
    return f"{replay.name}() clears the padded draft slots: {spelled}, on every padded replay before the graph runs"
