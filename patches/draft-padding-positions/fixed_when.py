"""draft-padding-positions holds when both EAGLE draft CUDA-graph runners (decode and,
where the file exists, draft-extend) set ``positions`` to zero in ``replay`` (``execute``
in later releases) on every padded replay before the graph runs, over every padded
slot, on the object the graph reads it from (``self.`` or ``buffers.``): with
``.zero_()``, ``.fill_(0)`` or ``x[rows] = 0``. Proven by walking the method with a
padded replay's sizes bound (5 requests padded to 8, with 1 and with 4 tokens a request;
the draft-extend runner gets one real token less, as accepted lengths vary): a clearing
under ``if bs == raw_bs:``, in dead code, after the replay, on another object or short
of a padded slot does not count (``astcheck.cleared_on_padded_replay``).

Read by the engine only (no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import cleared_on_padded_replay, method

RAW, PADDED, TOKENS_PER_REQUEST = 5, 8, (1, 4)
RUNNERS = (
    # (file, class name suffix, required, real tokens fewer than raw_bs * k, fixed names)
    ("sglang/srt/speculative/eagle_draft_cuda_graph_runner.py", "DraftCudaGraphRunner", True, 0,
     ("raw_bs", "bs")),
    ("sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py", "DraftExtendCudaGraphRunner", False, 1,
     ("raw_bs", "bs", "num_tokens")),  # num_tokens: the real token count there
)
METHODS = ("replay", "execute")


def check(read):
    seen = []
    for file, class_suffix, required, fewer, fixed in RUNNERS:
        text = read(file)
        if text is None:
            if required:
                return None
            continue
        replay = method(ast.parse(text), class_suffix, METHODS)
        how = set()
        for k in TOKENS_PER_REQUEST:
            real = RAW * k - fewer
            padded_replay = {"batch_size": RAW, "raw_bs": RAW, "bs": PADDED, "num_tokens": real,
                             "num_tokens_per_bs": k, "captured_req_width": k}
            if replay is not None:
                how.add(cleared_on_padded_replay(replay, padded_replay, fixed,
                                                 {"positions": (real, PADDED * k)}).get("positions"))
        if None in how or not how:
            return None
        seen.append(f"{file.rsplit('/', 1)[1]} {replay.name}() clears {how.pop()} on every padded replay "
                    "before the graph runs")
    return "; ".join(seen)
