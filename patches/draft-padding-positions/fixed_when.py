"""draft-padding-positions holds when both EAGLE draft CUDA-graph runners (decode and,
where the file exists, draft-extend) set ``positions`` to zero in ``replay`` (``execute``
in later releases) on every padded replay before the graph runs, over every padded
slot, on the object the graph reads it from (``self.`` or ``buffers.``): with
``.zero_()``, ``.fill_(0)`` or ``x[rows] = 0``. Proven by walking the method with a
padded replay's sizes bound (5 requests padded to 8, 2 tokens a request; the draft-extend
runner gets 9 real tokens): a clearing under ``if bs == raw_bs:``, in dead code, after
the replay, or on another object does not count (``astcheck.cleared_on_padded_replay``).

Read by the engine only (no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import cleared_on_padded_replay, method

RAW, PADDED, PER_REQUEST = 5, 8, 2
RUNNERS = (
    # (file, class name suffix, required, what a padded replay binds, fixed names, positions' rows)
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py", "DraftCudaGraphRunner", True,
     {"batch_size": RAW, "raw_bs": RAW, "bs": PADDED,
      "num_tokens_per_bs": PER_REQUEST, "captured_req_width": PER_REQUEST},
     ("raw_bs", "bs"), (RAW * PER_REQUEST, PADDED * PER_REQUEST)),
    ("sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py", "DraftExtendCudaGraphRunner", False,
     {"batch_size": RAW, "raw_bs": RAW, "bs": PADDED,
      "num_tokens_per_bs": PER_REQUEST, "captured_req_width": PER_REQUEST,
      "num_tokens": RAW * PER_REQUEST - 1},  # accepted lengths vary: fewer real tokens
     ("raw_bs", "bs", "num_tokens"), (RAW * PER_REQUEST - 1, PADDED * PER_REQUEST)),
)
METHODS = ("replay", "execute")


def check(read):
    seen = []
    for file, class_suffix, required, padded_replay, fixed, rows in RUNNERS:
        text = read(file)
        if text is None:
            if required:
                return None
            continue
        replay = method(ast.parse(text), class_suffix, METHODS)
        how = None
        if replay is not None:
            how = cleared_on_padded_replay(replay, padded_replay, fixed, {"positions": rows}).get("positions")
        if how is None:
            return None
        seen.append(f"{file.rsplit('/', 1)[1]} {replay.name}() clears {how} on every padded replay before the graph runs")
    return "; ".join(seen)
