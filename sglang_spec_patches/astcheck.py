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


def reads_graph_sizes(expr, assigned, attrs=("cuda_graph_bs",)):
    """Whether a size depends on the CUDA-graph batch list (one of ``attrs``) or on a
    CUDA-graph sizing function (a call whose name has ``cuda_graph`` in it)."""
    return any((isinstance(n, ast.Attribute) and n.attr in attrs)
               or (isinstance(n, ast.Call) and "cuda_graph" in (call_name(n) or ""))
               for n in reach([expr], assigned))


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
    evaluator = evaluate.Evaluator(read)
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
