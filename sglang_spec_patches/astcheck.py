"""Syntax-tree helpers for the fixes' ``fixed_when.py`` checks (stdlib only).

A check says whether a tree guarantees what its fix guarantees, in any spelling. Several
fixes look at the same things - which buffers the EAGLE draft runner clears on a padded
replay, what a size depends on through local assignments - so those readings live here
once; each check keeps only what its fix requires.
"""

import ast

from . import evaluate


def method(tree, class_suffix, names):
    """The first method named in ``names`` (in that order) of a class whose name ends
    with ``class_suffix``, or None."""
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef) and cls.name.endswith(class_suffix):
            for name in names:
                for fn in cls.body:
                    if isinstance(fn, ast.FunctionDef) and fn.name == name:
                        return fn
    return None


def call_name(call):
    """The called name: ``f`` for ``f(...)``, ``m`` for ``x.m(...)``."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def local_values(fn):
    """Local name -> every expression assigned to it in ``fn`` (plain or annotated)."""
    assigned = {}
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    return assigned


def reach(exprs, assigned):
    """Every node the expressions depend on, following the local assignments in
    ``assigned`` (``local_values``), each local once."""
    todo, seen = list(exprs), set()
    while todo:
        for node in ast.walk(todo.pop()):
            yield node
            if isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
                seen.add(node.id)
                todo += assigned[node.id]


def attribute_values(fn, attr):
    """The values assigned to ``<anything>.<attr>`` in ``fn``, in source order."""
    return [node.value for node in ast.walk(fn) if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Attribute) and t.attr == attr for t in node.targets)]


def _real_counts(fn):
    """Locals that hold the real (unpadded) batch's size: every assignment to them is
    call-free arithmetic on ``forward_batch`` or on other such locals."""
    values = {}
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
    real = set()
    while True:
        more = {name for name, exprs in values.items() if name not in real and all(
            expr is not None and not any(isinstance(n, ast.Call) for n in ast.walk(expr))
            and ({"forward_batch"} | real) & {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
            for expr in exprs)}
        if not more:
            return real
        real |= more


def _names(expr):
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)} if expr is not None else set()


def _padded_rows(target, real):
    """'whole' or 'rows [lo:]' when target (x.buf or x.buf[...]) covers every padded
    row, else None."""
    if isinstance(target, ast.Attribute):
        return "whole"
    index = target.slice.elts[0] if isinstance(target.slice, ast.Tuple) else target.slice
    if not isinstance(index, ast.Slice) or index.step is not None:
        return None
    lower, upper = index.lower, index.upper
    if upper is not None and _names(upper) <= real:
        return None  # stops at a real size: misses padded rows
    if lower is None or (isinstance(lower, ast.Constant) and lower.value == 0):
        return "whole"
    if _names(lower) and _names(lower) <= real:
        return f"rows [{ast.unparse(lower)}:]"
    return None


def _zeroed(stmt, real):
    """(buffer, spelling) when stmt zeroes a buffer's padded rows, else None."""
    target = None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if isinstance(call.func, ast.Attribute) and not call.keywords and (
            (call.func.attr == "zero_" and not call.args)
            or (call.func.attr == "fill_" and len(call.args) == 1
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0)):
            target = call.func.value
    elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
          and isinstance(stmt.value, ast.Constant) and stmt.value.value == 0):
        target = stmt.targets[0]
        if not isinstance(target, ast.Subscript):
            return None
    buffer = target.value if isinstance(target, ast.Subscript) else target
    if not (isinstance(buffer, ast.Attribute) and isinstance(buffer.value, ast.Name)):
        return None
    rows = _padded_rows(target, real)
    return (buffer.attr, f"{ast.unparse(target)} ({rows})") if rows else None


def cleared_on_padded_replay(fn):
    """Buffer -> how it is cleared, for statements run on every padded replay: at the
    top of the function or inside ifs (not elses) that compare sizes."""
    real = _real_counts(fn)
    found = {}

    def visit(body):
        for stmt in body:
            if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare):
                visit(stmt.body)
                continue
            hit = _zeroed(stmt, real)
            if hit:
                found.setdefault(*hit)

    visit(fn.body)
    return found


# --- the CUDA-graph capture list ---------------------------------------------------------

DRAFT_RUNNER = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
CAPTURE_LIST = "get_batch_sizes_to_capture"
POOL_GRID = (1, 2, 3, 4, 5, 6, 7, 9, 13, 17, 33, 100)


def capture_bs_within_pool(read):
    """A proof that the EAGLE draft runner never captures a batch above the request
    pool, or None.

    The draft runner must take its list from ``get_batch_sizes_to_capture`` (found
    through its imports: ``model_executor/cuda_graph_runner.py``, from 0.5.14
    ``model_executor/runner/base_cuda_graph_runner.py``). That function is evaluated on
    its syntax tree (``evaluate.Evaluator``) for each pool size of a grid, with every
    other input unknown - the ``--cuda-graph-bs`` list, two-batch overlap, DP attention,
    the alignment, every helper it calls that the tree does not define - and every path
    through it must return a list whose sizes are all at most the pool. A rounding of
    the pool in any spelling, or a call that cannot be followed, proves nothing.
    """
    text = read(DRAFT_RUNNER)
    if text is None:
        return None
    runner = method(ast.parse(text), "EAGLEDraftCudaGraphRunner", ["__init__"])
    if runner is None or not _capture_list_from(runner, CAPTURE_LIST):
        return None
    evaluator = evaluate.Evaluator(read, follow_calls=False)  # what it calls is unknown: sound, and cheap
    func = evaluator.function(evaluator.module(DRAFT_RUNNER), CAPTURE_LIST)
    if func is None:
        return None
    for pool in POOL_GRID:
        model_runner = evaluate.Obj(req_to_token_pool=evaluate.Obj(size=evaluate.Span(pool)))
        try:
            ends = evaluator.paths(func, [model_runner])
        except evaluate.Unproven:
            return None
        returned = [value for kind, value in ends if kind == "return"]
        if not returned or not all(_at_most(value, pool) for value in returned):
            return None
    return (f"{CAPTURE_LIST} ({func.module.relpath}) never captures a batch above the request pool "
            f"(every path, pools {POOL_GRID[0]}..{POOL_GRID[-1]}, any --cuda-graph-bs and alignment)")


def _capture_list_from(fn, name):
    """Every assignment to ``self.capture_bs`` in ``fn`` is the first value ``name(...)`` returns."""
    found = False
    for node in ast.walk(fn):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            first = target.elts[0] if isinstance(target, ast.Tuple) and target.elts else target
            others = target.elts[1:] if isinstance(target, ast.Tuple) else []
            if any(isinstance(t, ast.Attribute) and t.attr == "capture_bs" for t in others):
                return False
            if isinstance(first, ast.Attribute) and first.attr == "capture_bs":
                call = node.value
                if not (isinstance(target, ast.Tuple) and isinstance(call, ast.Call) and call_name(call) == name):
                    return False
                found = True
    return found


def _at_most(value, pool):
    first = value.vals[0] if isinstance(value, evaluate.Tup) and value.vals else value
    return isinstance(first, evaluate.Seq) and all(
        isinstance(item, evaluate.Span) and item.hi <= pool for item in first.items)


# --- multi-step draft buffers against the largest captured batch -----------------------

# (two-batch overlap, gathered buffers (DP attention), attention TP size, attention CP size)
ALIGNMENT_WORLDS = ((False, False, 1, 1), (True, False, 1, 1), (False, True, 2, 1), (True, True, 2, 1),
                    (False, True, 3, 1), (False, False, 1, 2))
DRAFT_POOLS = (1, 2, 3, 5, 7, 13)
GRAPH_BS_LISTS = ((1, 2, 4, 8), (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32))
DRAFT_STEPS = 3


def _alignment(tbo, gathered, tp, cp):
    """The capture alignment (``mul_base`` of get_batch_sizes_to_capture, 0.5.10rc0 on)."""
    align = (2 if tbo else 1) * (tp if gathered else 1)
    return align * cp if align % cp else align


def largest_captured_batch(pool, align, graph_bs):
    """The largest batch the draft runner captures (0.5.10rc0 .. 0.5.23): the pool rounded
    up to the alignment when a listed size is above that, else the largest aligned size."""
    top = -(-pool // align) * align
    sizes = [bs for bs in list(graph_bs) + ([top] if max(graph_bs) > top else []) if bs % align == 0 and bs <= top]
    return max(sizes, default=0)


def _tensor(shape, *args, **kwargs):
    dims = shape.vals if isinstance(shape, evaluate.Tup) else shape.items if isinstance(shape, evaluate.Seq) and shape.exact else [shape]
    return evaluate.Obj(shape=evaluate.Tup(dims))


def _arange(start, end=None, *args, **kwargs):
    start, end = (evaluate.Span(0), start) if end is None else (start, end)
    return evaluate.Obj(shape=evaluate.Tup([evaluate.arith(ast.Sub(), end, start)]))


TORCH = evaluate.Obj(zeros=_tensor, ones=_tensor, empty=_tensor, full=_tensor, arange=_arange)


def _world(evaluator, pool, tbo, gathered, tp, cp, graph_bs):
    """Point ``evaluator`` at one world of the grid; the model runner of that world."""
    span = evaluate.Span
    bs_list = lambda: evaluate.seq_of(graph_bs)  # noqa: E731  (a fresh list per read)
    server_args = evaluate.Obj(enable_two_batch_overlap=tbo, cuda_graph_bs=bs_list(), page_size=span(1),
                               cuda_graph_config=evaluate.Obj(decode=evaluate.Obj(bs=bs_list())))
    model_runner = evaluate.Obj(server_args=server_args, page_size=span(1),
                                req_to_token_pool=evaluate.Obj(size=span(pool)))
    parallel = evaluate.Obj(attn_tp_size=span(tp), attn_cp_size=span(cp))
    functions = {
        "require_gathered_buffer": lambda *a, **k: gathered,
        "get_parallel": lambda *a, **k: parallel,
        "get_attention_tp_size": lambda *a, **k: span(tp),
        "get_attention_cp_size": lambda *a, **k: span(cp),
        "is_hip": lambda *a, **k: False,
        "get_exec": lambda *a, **k: evaluate.Obj(
            overlap=evaluate.Obj(enable_two_batch_overlap=tbo),
            graph=evaluate.Obj(cuda_graph_config=evaluate.Obj(decode=evaluate.Obj(bs=bs_list())))),
    }
    evaluator.world_functions = functions
    return model_runner


def draft_buffers_hold_capture(read, file, class_suffix, needs, topks=(1, 2, 4)):
    """A proof that a multi-step draft backend's CUDA-graph buffers hold what the draft
    kernel and FlashInfer use for the largest captured batch, or None.

    ``needs``: buffer attribute -> (dimension, extra): ``self.<buffer>.shape[dimension]``
    must be at least ``largest captured batch * topk + extra``. ``__init__`` (and
    ``init_cuda_graph_state``, handed the largest captured batch, where it assigns one of
    them) are evaluated from the syntax tree (``evaluate.Evaluator``) for every pool,
    alignment world, CUDA-graph batch list and topk of a grid; each buffer must be an
    allocation of a size that can be evaluated (a slice or anything else proves nothing),
    assigned to ``self`` before the step backends take views of it - or, when assigned in
    ``init_cuda_graph_state``, handed to them there. Any other method assigning one of
    them proves nothing.
    """
    text = read(file)
    if text is None:
        return None
    cls = next((c for c in ast.walk(ast.parse(text)) if isinstance(c, ast.ClassDef) and c.name.endswith(class_suffix)), None)
    if cls is None:
        return None
    methods = {fn.name: fn for fn in cls.body if isinstance(fn, ast.FunctionDef)}
    assigning = {name for name, fn in methods.items() if _assigns_self(fn, needs)}
    if "__init__" not in methods or not assigning <= {"__init__", "init_cuda_graph_state"}:
        return None
    phases = ["__init__"] + (["init_cuda_graph_state"] if "init_cuda_graph_state" in assigning else [])
    checked, evaluator = 0, evaluate.Evaluator(read, names={"torch": TORCH}, lenient=True)
    module = evaluator.module(file)
    for pool in DRAFT_POOLS:
        for world in ALIGNMENT_WORLDS:
            for graph_bs in GRAPH_BS_LISTS:
                largest = largest_captured_batch(pool, _alignment(*world), graph_bs)
                for topk in topks:
                    model_runner = _world(evaluator, pool, *world, graph_bs)
                    this = evaluate.Obj()
                    selves = [this]
                    try:
                        for phase in phases:
                            func = evaluate.Func(methods[phase], module)
                            args = ([this, model_runner, evaluate.Span(topk), evaluate.Span(DRAFT_STEPS)] if phase == "__init__"
                                    else [this, evaluate.Span(largest), evaluate.TOP])
                            ends = evaluator.paths(func, args)
                            if any(kind != "return" for kind, _ in ends):
                                return None
                            # every path shares ``this`` unless it forked; a fork proves nothing here
                            if len(ends) != 1:
                                return None
                    except evaluate.Unproven:
                        return None
                    for attr, (dim, extra) in needs.items():
                        buf = this.get(attr)
                        shape = buf.get("shape") if isinstance(buf, evaluate.Obj) else None
                        size = shape.vals[dim] if isinstance(shape, evaluate.Tup) and len(shape.vals) > dim else None
                        if not (isinstance(size, evaluate.Span) and size.lo >= largest * topk + extra):
                            return None
                        if dim and not (isinstance(shape.vals[0], evaluate.Span) and shape.vals[0].lo >= DRAFT_STEPS):
                            return None
                    checked += 1
    for attr in needs:
        if not _reaches_step_backends(methods, phases, attr, this.lines.get(attr)):
            return None
    sizes = ", ".join(f"{a}.shape[{d}] >= bs * topk" + (f" + {e}" if e else "") for a, (d, e) in needs.items())
    return (f"{cls.name} sizes {sizes} for the largest captured batch ({checked} cases: pools "
            f"{DRAFT_POOLS[0]}..{DRAFT_POOLS[-1]}, alignments 1..4, topk {', '.join(map(str, topks))})")


def _assigns_self(fn, attrs):
    return any(isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and any(
        isinstance(t, ast.Attribute) and t.attr in attrs and isinstance(t.value, ast.Name) and t.value.id == "self"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])) for node in ast.walk(fn))


def _reaches_step_backends(methods, phases, attr, line):
    """The last assignment of ``self.<attr>`` (at ``line``) reaches the step backends:
    in ``__init__`` before any call is handed ``self.<attr>``; in
    ``init_cuda_graph_state`` with ``<backend>.<attr>`` assigned there after it."""
    init = methods["__init__"]
    in_init = init.lineno <= (line or 0) <= init.end_lineno
    if in_init:
        handed = [node.lineno for node in ast.walk(init) if isinstance(node, ast.Call) and any(
            isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.value, ast.Name) and n.value.id == "self"
            for arg in list(node.args) + [k.value for k in node.keywords] for n in ast.walk(arg))]
        return line is not None and all(line < h for h in handed)
    graph = methods.get("init_cuda_graph_state")
    return graph is not None and any(
        isinstance(node, ast.Assign) and node.lineno > line and any(
            isinstance(t, ast.Attribute) and t.attr == attr and not (isinstance(t.value, ast.Name) and t.value.id == "self")
            for t in node.targets) for node in ast.walk(graph))
