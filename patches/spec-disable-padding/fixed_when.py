"""spec-disable-padding holds when the decode CUDA-graph capture list is dense with padding
disabled, speculative decoding included, proven by walking the capture-list function
(``get_batch_sizes_to_capture`` in ``cuda_graph_runner.py``, ``ServerArgs`` or
``arg_groups/cuda_graph_hook.py`` in later releases) with ``disable_cuda_graph_padding``
on, a speculative algorithm set, no explicit ``cuda_graph_bs``, no two-batch overlap or
DP attention, and a maximum batch size of 8 or 24: on every path to a ``return``, the
last assignment to ``capture_bs`` makes it every size from 1 to the maximum
(``range(1, n)``, plain, in ``list()`` or a comprehension whose filter keeps every size,
``n`` evaluated above the maximum), and every later assignment keeps that (a filter that
keeps every size up to the maximum, ``sorted``/``set``/``list`` of it, or additions).
A dense list under a branch for ``speculative_algorithm is None``, in dead code, cut
short, or filtered afterwards does not count.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast
import copy

from sglang_spec_patches.astcheck import Unknown, values_on_paths

FILES = (
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "sglang/srt/server_args.py",
    "sglang/srt/arg_groups/cuda_graph_hook.py",
)
MAX_BS = (8, 24)
LIST = "capture_bs"
FLAG = "_sglang_spec_patches_dense"
WRAPPERS = ("list", "sorted", "set", "tuple")


def check(read):
    for file in FILES:
        text = read(file)
        if not text or "disable_cuda_graph_padding" not in text:
            continue
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, ast.FunctionDef) and _dense_when_disabled(fn):
                return (f"{file.rsplit('/', 1)[1]} {fn.name}(): with --disable-cuda-graph-padding the capture "
                        "list is every batch size from 1 to the maximum, speculative decoding included")
    return None


def _env(max_bs):
    return {"disable_cuda_graph_padding": True, "speculative_algorithm": "EAGLE", "cuda_graph_bs": None,
            "cuda_graph_max_bs": max_bs, "max_bs": max_bs, "size": max_bs, "enable_two_batch_overlap": False,
            "require_gathered_buffer": False, "enable_dp_attention": False, "get_attention_tp_size": 1}


def _assignments(fn):
    return [s for s in ast.walk(fn) if isinstance(s, (ast.Assign, ast.AugAssign)) and any(
        isinstance(t, ast.Name) and t.id == LIST for t in (s.targets if isinstance(s, ast.Assign) else [s.target]))]


def _dense_when_disabled(fn):
    if not any(isinstance(n, ast.Name) and n.id == LIST for n in ast.walk(fn)):
        return False
    if not any(isinstance(n, ast.Attribute) and n.attr == "disable_cuda_graph_padding" for n in ast.walk(fn)):
        return False
    for max_bs in MAX_BS:
        env = _env(max_bs)
        walked = copy.deepcopy(fn)
        twins = {id(a): b for a, b in zip(ast.walk(fn), ast.walk(walked))}
        for stmt in _assignments(fn):
            try:
                effect = _effect(fn, stmt, env, max_bs)
            except Unknown:
                effect = 0
            if effect is not None:
                _insert_after(walked, twins[id(stmt)], effect)
        walked.body.insert(0, ast.Assign([ast.Name(FLAG, ast.Store())], ast.Constant(0), lineno=0))
        returns = [n for n in ast.walk(walked) if isinstance(n, ast.Return)]
        if not returns:
            return False
        try:
            flags = [v for r in returns for v in values_on_paths(walked, r, env, measure=ast.Name(FLAG, ast.Load()))]
        except Unknown:
            return False
        if not flags or any(v != (1, True) for v in flags):
            return False
    return True


def _effect(fn, stmt, env, max_bs):
    """1: the assignment makes the list dense up to max_bs; None: it keeps what was;
    0: it breaks it (or cannot be proven). Raises Unknown."""
    value = stmt.value
    if isinstance(stmt, ast.AugAssign):
        return None if isinstance(stmt.op, ast.Add) else 0
    while isinstance(value, ast.Call) and getattr(value.func, "id", None) in WRAPPERS and len(value.args) == 1:
        value = value.args[0]
    if isinstance(value, ast.Name) and value.id == LIST:
        return None
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and isinstance(value.left, ast.Name) \
            and value.left.id == LIST:
        return None
    if isinstance(value, ast.ListComp) and len(value.generators) == 1:
        gen = value.generators[0]
        if not (isinstance(gen.target, ast.Name) and isinstance(value.elt, ast.Name) and value.elt.id == gen.target.id):
            return 0
        for v in range(1, max_bs + 1):
            for cond in gen.ifs:
                kept = values_on_paths(fn, stmt, {**env, gen.target.id: v}, measure=cond, fixed=(gen.target.id,))
                if not kept or any(k != (True, True) for k in kept):
                    return 0
        source = gen.iter
        if isinstance(source, ast.Name) and source.id == LIST:
            return None
        value = source
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "range" and len(value.args) in (2, 3):
        start, stop = value.args[0], value.args[1]
        step = value.args[2] if len(value.args) == 3 else ast.Constant(1)
        if not (isinstance(start, ast.Constant) and start.value == 1 and isinstance(step, ast.Constant)
                and step.value == 1):
            return 0
        stops = values_on_paths(fn, stmt, env, measure=stop)
        return 1 if stops and all(isinstance(s, int) and s > max_bs for s, _ in stops) else 0
    return 0


def _insert_after(walked, stmt, effect):
    for node in ast.walk(walked):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and any(s is stmt for s in body):
                at = next(i for i, s in enumerate(body) if s is stmt)
                body.insert(at + 1, ast.Assign([ast.Name(FLAG, ast.Store())], ast.Constant(effect), lineno=0))
                return
