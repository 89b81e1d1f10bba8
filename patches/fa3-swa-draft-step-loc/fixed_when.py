"""fa3-swa-draft-step-loc holds when every place ``FlashAttentionBackend`` turns the draft
batch's ``out_cache_loc`` into sliding-window write locations - the eager
``init_forward_metadata`` and the CUDA-graph refill (``_apply_cuda_graph_metadata`` up to
0.5.18, ``_init_full_cg_decode_metadata`` after) - hands on this draft step's own slots.

"This step's own slots" is read exactly: the locations come (directly, through local
assignments, through a translation call, or through a method of the backend that returns
them) from ``x.view(-1, self.topk, self.speculative_num_steps)[:, :, self.speculative_step_id]``
(the draft layout is bs x topk x steps) or from upstream's
``per_step_draft_out_cache_loc(x, bs, self.topk, self.speculative_num_steps)[self.speculative_step_id]``.
The value that reaches the writer is the LAST one assigned before it, and the branch that
assigns it must be taken in draft decode: its guards are evaluated for topk 1, 2, 4 and
2, 3, 5 steps (spec input present, decode mode, sliding-window pool on); a guard this
cannot evaluate, or one false for any of them, proves nothing.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None`` and
``lacks_need(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import call_name

FILE = "sglang/srt/layers/attention/flashattention_backend.py"
CLASS = "FlashAttentionBackend"
EAGER = ("init_forward_metadata",)
REFILL = ("_apply_cuda_graph_metadata", "_init_full_cg_decode_metadata")
BUFFERS = ("swa_out_cache_loc_buf", "cuda_graph_swa_out_cache_loc")
TRANSLATIONS = ("translate_loc_from_full_to_swa", "sliding_window_write_loc_for")
GRID = [(topk, steps) for topk in (1, 2, 4) for steps in (2, 3, 5)]


class _Unknown(Exception):
    pass


def check(read):
    text = read(FILE)
    if text is None:
        return None
    cls = next((c for c in ast.walk(ast.parse(text)) if isinstance(c, ast.ClassDef) and c.name == CLASS), None)
    if cls is None:
        return None
    methods = {fn.name: fn for fn in cls.body if isinstance(fn, ast.FunctionDef)}
    refills = [(methods[name], s) for name in REFILL if name in methods for s in _buffer_copies(methods[name])]
    eager = [(methods[name], s) for name in EAGER if name in methods for s in _metadata_sinks(methods[name])]
    if not refills:
        return None
    try:
        if all(_own_step_slots(fn, value, line, methods) for fn, (value, line) in refills + eager):
            return (f"{CLASS} writes each draft step's sliding-window KV through that step's own "
                    f"out_cache_loc slots ({len(refills)} CUDA-graph refill, {len(eager)} eager)")
    except _Unknown:
        pass
    return None


def lacks_need(read):
    """Before 0.5.13 the backend never precomputes sliding-window write locations: the pool
    translates the loc each step hands it (``set_kv_buffer``), which is the step's own."""
    text = read(FILE)
    if text is None:
        return None
    tree = ast.parse(text)
    named = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    if "swa_out_cache_loc" in named or any(b in named for b in BUFFERS):
        return None
    if not any(isinstance(c, ast.ClassDef) and c.name == CLASS for c in ast.walk(tree)):
        return None
    return (f"{CLASS} never precomputes sliding-window write locations (no swa_out_cache_loc); "
            "each step's own out_cache_loc reaches the pool")


def _buffer_copies(fn):
    """(value, line) of ``self.<buffer>[...].copy_(value)``."""
    for node in ast.walk(fn):
        if (isinstance(node, ast.Call) and call_name(node) == "copy_" and node.args
                and isinstance(node.func.value, ast.Subscript) and _is_self_attr(node.func.value.value, BUFFERS)):
            yield node.args[0], node.lineno


def _metadata_sinks(fn):
    """(value, line) of ``<x>.swa_out_cache_loc = value`` (not a view of a backend buffer)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "swa_out_cache_loc" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Attribute):
                continue  # a view of a buffer bound for the graph, refilled elsewhere
            yield value, node.lineno


def _is_self_attr(node, names):
    return (isinstance(node, ast.Attribute) and node.attr in names
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _own_step_slots(fn, value, line, methods, depth=0):
    """Whether ``value`` (used at ``line`` of ``fn``) is this step's slots in draft decode."""
    if depth > 8:
        raise _Unknown
    if isinstance(value, ast.Call) and call_name(value) in TRANSLATIONS and value.args:
        return _own_step_slots(fn, value.args[0], line, methods, depth + 1)
    if isinstance(value, ast.IfExp):
        taken = {_evaluate(value.test, world) for world in _worlds()}
        if taken != {True}:
            raise _Unknown
        return _own_step_slots(fn, value.body, line, methods, depth + 1)
    if _is_step_selection(value):
        return True
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and isinstance(value.func.value, ast.Name) and value.func.value.id == "self"
            and value.func.attr in methods):
        callee = methods[value.func.attr]
        returns = [r for r in ast.walk(callee) if isinstance(r, ast.Return) and r.value is not None]
        return bool(returns) and all(_own_step_slots(callee, r.value, r.lineno, methods, depth + 1) for r in returns)
    if isinstance(value, ast.Name):
        last = _last_assignment(fn, value.id, line)
        if last is None:
            return False
        assigned, guards = last
        for test in guards:
            if {_evaluate(test, world) for world in _worlds()} != {True}:
                return False
        return _own_step_slots(fn, assigned, assigned.lineno, methods, depth + 1)
    return False


def _last_assignment(fn, name, line):
    """The value last assigned to ``name`` before ``line`` and the tests of the ``if``s it
    sits in (the body side only)."""
    found = []

    def visit(stmts, guards):
        for stmt in stmts:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                if stmt.lineno < line:
                    found.append((stmt.value, list(guards)))
            if isinstance(stmt, ast.If):
                visit(stmt.body, guards + [stmt.test])
                visit(stmt.orelse, guards + [ast.UnaryOp(op=ast.Not(), operand=stmt.test)])
            elif isinstance(stmt, (ast.For, ast.While, ast.With, ast.Try)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, block, []) or [], guards + [None])
                for handler in getattr(stmt, "handlers", []):
                    visit(handler.body, guards + [None])

    visit(fn.body, [])
    if not found:
        return None
    value, guards = max(found, key=lambda f: f[0].lineno)
    if any(g is None for g in guards):  # inside a loop, try or with: order not provable here
        raise _Unknown
    return value, guards


def _is_step_selection(node):
    """``x.view(-1, self.topk, self.speculative_num_steps)[:, :, self.speculative_step_id]``
    (maybe followed by ``.reshape(-1)`` / ``.flatten()`` / ``.contiguous()``), or upstream's
    ``per_step_draft_out_cache_loc(x, bs, self.topk, self.speculative_num_steps)[self.speculative_step_id]``."""
    while (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
           and node.func.attr in ("reshape", "flatten", "contiguous")):
        if node.func.attr == "reshape" and not (len(node.args) == 1 and _is_int(node.args[0], -1)):
            return False
        node = node.func.value
    if not isinstance(node, ast.Subscript):
        return False
    index = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    source = node.value
    if isinstance(source, ast.Call) and call_name(source) == "per_step_draft_out_cache_loc":
        args = source.args
        return (len(args) == 4 and len(index) == 1 and _is_self_attr(index[0], ("speculative_step_id",))
                and _is_self_attr(args[2], ("topk",)) and _is_self_attr(args[3], ("speculative_num_steps",)))
    if isinstance(source, ast.Call) and call_name(source) in ("view", "reshape"):
        dims = source.args
        return (len(dims) == 3 and _is_self_attr(dims[1], ("topk",))
                and _is_self_attr(dims[2], ("speculative_num_steps",))
                and len(index) == 3 and all(_is_full_slice(i) for i in index[:2])
                and _is_self_attr(index[2], ("speculative_step_id",)))
    return False


def _is_int(node, value):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _is_int(node.operand, -value)
    return isinstance(node, ast.Constant) and node.value == value and type(node.value) is int


def _is_full_slice(node):
    return isinstance(node, ast.Slice) and node.lower is None and node.upper is None and node.step is None


def _worlds():
    for topk, steps in GRID:
        yield {"topk": topk, "speculative_num_steps": steps, "speculative_step_id": 0,
               "use_sliding_window_kv_pool": True}


_DRAFT_DECODE_MODE = {"is_decode_or_idle": True, "is_decode": True, "is_idle": False, "is_extend": False,
                      "is_target_verify": False, "is_draft_extend": False, "is_draft_extend_v2": False}
_PRESENT = ("spec_info", "out_cache_loc", "locations", "swa_write_loc", "swa_out_cache_loc")


def _evaluate(node, world):
    """A guard's value in draft decode (``world``); raises _Unknown for anything else."""
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, world) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, world)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and right.value is None:
            present = _is_present(left)
            return present if isinstance(op, ast.IsNot) else not present
        a, b = _evaluate(left, world), _evaluate(right, world)
        ops = {ast.Gt: a > b if _ints(a, b) else None, ast.GtE: a >= b if _ints(a, b) else None,
               ast.Lt: a < b if _ints(a, b) else None, ast.LtE: a <= b if _ints(a, b) else None,
               ast.Eq: a == b, ast.NotEq: a != b}
        result = ops.get(type(op))
        if result is None:
            raise _Unknown
        return result
    if isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _DRAFT_DECODE_MODE and _mode_of(node.func.value):
        return _DRAFT_DECODE_MODE[node.func.attr]
    if _is_self_attr(node, tuple(world)):
        return world[node.attr]
    raise _Unknown


def _ints(a, b):
    return type(a) is int and type(b) is int


def _mode_of(node):
    return ((isinstance(node, ast.Name) and node.id == "forward_mode")
            or (isinstance(node, ast.Attribute) and node.attr == "forward_mode"))


def _is_present(node):
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name in _PRESENT:
        return True
    raise _Unknown
