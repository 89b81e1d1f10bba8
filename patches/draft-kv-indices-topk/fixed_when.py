"""draft-kv-indices-topk holds when every multi-step draft backend of FlashInfer (and
FlashInfer MLA, where present) gives its CUDA-graph ``kv_indices`` a row as wide as the
draft kernel writes, proven in numbers: in ``init_cuda_graph_state`` of each
``*MultiStepDraftBackend`` class, every ``self.cuda_graph_kv_indices = torch.zeros((rows,
width), ...)`` that runs (followed through locals and branches) has at least
``speculative_num_steps`` rows and a row of at least ``max_bs * topk * max_context_len``
entries (``generate_draft_decode_kv_indices`` packs topk branches a request into each
step's row), on a grid of batch sizes, topk, contexts and steps. A sizing function of
``speculative/spec_utils.py`` (upstream's ``draft_kv_indices_buffer_width``, 0.5.13 on)
is evaluated from what it returns.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import Unknown, call_name, values_on_paths

FILES = (
    ("sglang/srt/layers/attention/flashinfer_backend.py", True),
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py", False),
)
SIZING_FILE = "sglang/srt/speculative/spec_utils.py"
READS = (SIZING_FILE,)  # besides the diffs' files: a partial copy must hold it
GRID = [(bs, topk, ctx, steps) for bs in (1, 8) for topk in (1, 4) for ctx in (64, 4096) for steps in (3, 5)]
ALLOCATORS = ("zeros", "empty", "full", "ones")


def check(read):
    sizers = _sizing_functions(read(SIZING_FILE))
    seen = []
    for file, required in FILES:
        text = read(file)
        if text is None:
            if required:
                return None
            continue
        sized = _rows_wide_enough(ast.parse(text), sizers)
        if sized is None:
            if required:
                return None
            continue
        if not sized:
            return None
        seen.append(file.rsplit("/", 1)[1])
    if not seen:
        return None
    return ("the multi-step draft kv_indices CUDA-graph buffer has a row of at least max_bs * topk * "
            "max_context_len entries for each step in " + ", ".join(seen))


def _sizing_functions(text):
    """name -> a function of its arguments' values: what the module-level function returns."""
    if text is None:
        return {}
    found = {}
    for fn in ast.parse(text).body:
        if isinstance(fn, ast.FunctionDef):
            params = [a.arg for a in fn.args.args]

            def run(*args, fn=fn, params=params):
                values = values_on_paths(fn, None, dict(zip(params, args)))
                if not values or any(not e for _, e in values):
                    raise Unknown(fn.name)
                return min(v for v, _ in values)
            found[fn.name] = run
    return found


def _rows_wide_enough(tree, sizers):
    """None when the file has no such buffer; else whether every one is wide enough."""
    verdicts = []
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("MultiStepDraftBackend")):
            continue
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "init_cuda_graph_state"):
                continue
            for stmt in ast.walk(fn):
                if isinstance(stmt, ast.Assign) and any(
                        isinstance(t, ast.Attribute) and t.attr == "cuda_graph_kv_indices"
                        and isinstance(t.value, ast.Name) and t.value.id == "self" for t in stmt.targets):
                    verdicts.append(_wide_enough(fn, stmt, sizers))
    return all(verdicts) if verdicts else None


def _wide_enough(fn, stmt, sizers):
    call = stmt.value
    if not (isinstance(call, ast.Call) and call_name(call) in ALLOCATORS and call.args
            and isinstance(call.args[0], ast.Tuple) and len(call.args[0].elts) == 2):
        return False
    rows, width = call.args[0].elts
    for bs, topk, ctx, steps in GRID:
        env = {"max_bs": bs, "topk": topk, "max_context_len": ctx, "speculative_num_steps": steps}
        try:
            widths = values_on_paths(fn, stmt, env, sizers, measure=width)
            heights = values_on_paths(fn, stmt, env, sizers, measure=rows)
        except (Unknown, TypeError):
            return False
        if not widths or any(not isinstance(v, int) or v < bs * topk * ctx for v, _ in widths):
            return False
        if any(not isinstance(v, int) or v < steps for v, _ in heights):
            return False
    return True
