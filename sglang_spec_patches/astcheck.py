"""Syntax-tree helpers for the fixes' ``fixed_when.py`` checks (stdlib only).

A check says whether a tree guarantees what its fix guarantees, in any spelling. Several
fixes look at the same things - which buffers the EAGLE draft runner clears on a padded
replay, what a size depends on through local assignments - so those readings live here
once; each check keeps only what its fix requires.
"""

import ast


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


# --- amounts: call-free arithmetic evaluated on values the check binds ------------------
#
# A check that must prove an amount (a buffer's length against what a kernel writes)
# extracts the expression and evaluates it on a small grid of values it binds itself.
# Nothing of SGLang runs: only the arithmetic below, on names and attributes found in
# ``env`` (by name: ``self.topk`` and ``topk`` both read ``env["topk"]``). A value is a
# pair (number, exact); ``max(a, <unbound>)`` is a lower bound (not exact), which is
# enough to prove "at least", and is refused wherever an exact value is needed.


class Unknown(Exception):
    """The expression reads something the check did not bind, or that is no arithmetic."""


def _bound(node, env):
    if isinstance(node, ast.Name):
        key = node.id
    elif isinstance(node, ast.Attribute):
        key = node.attr
    elif isinstance(node, ast.Call):
        key = call_name(node)  # bound: what the call returns (max_speculative_num_draft_tokens())
    else:
        return None
    if key in env:
        return env[key]
    return None


def evaluate(node, env, funcs=None):
    """(value, exact) of ``node``; ``funcs``: name -> plain Python function over the
    evaluated arguments (``ceil_align``, a sizing function the check read)."""
    funcs = funcs or {}
    found = _bound(node, env)
    if found is not None:
        return found if isinstance(found, tuple) else (found, True)
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (int, bool))):
        return node.value, True
    if isinstance(node, ast.BinOp):
        (a, ea), (b, eb) = evaluate(node.left, env, funcs), evaluate(node.right, env, funcs)
        if a is None or b is None:
            raise Unknown(ast.unparse(node))
        op = type(node.op)
        if op is ast.Add:
            return a + b, ea and eb
        if op is ast.Mult and a >= 0 and b >= 0:
            return a * b, ea and eb
        if op is ast.Sub and eb:
            return a - b, ea
        if ea and eb and op in _EXACT_OPS and not (op in (ast.FloorDiv, ast.Mod) and b == 0):
            return _EXACT_OPS[op](a, b), True
        raise Unknown(ast.unparse(node))
    if isinstance(node, ast.UnaryOp):
        value, exact = evaluate(node.operand, env, funcs)
        if exact and isinstance(node.op, ast.Not):
            return not value, True
        if exact and isinstance(node.op, ast.USub) and value is not None:
            return -value, True
        raise Unknown(ast.unparse(node))
    if isinstance(node, ast.BoolOp):
        for i, part in enumerate(node.values):
            value, exact = evaluate(part, env, funcs)
            last = i == len(node.values) - 1
            if last or (isinstance(node.op, ast.Or) and value) or (isinstance(node.op, ast.And) and not value):
                if not exact and not last:
                    raise Unknown(ast.unparse(node))
                return value, exact
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        (a, ea), (b, eb) = evaluate(node.left, env, funcs), evaluate(node.comparators[0], env, funcs)
        op = type(node.ops[0])
        if ea and eb and op in _COMPARES and (op in (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)
                                             or (a is not None and b is not None)):
            return _COMPARES[op](a, b), True
        raise Unknown(ast.unparse(node))
    if isinstance(node, ast.IfExp):
        test, exact = evaluate(node.test, env, funcs)
        if exact:
            return evaluate(node.body if test else node.orelse, env, funcs)
    if isinstance(node, ast.Call) and not node.keywords:
        name = call_name(node)
        if name == "max" and node.args:
            known = []
            for arg in node.args:
                try:
                    known.append(evaluate(arg, env, funcs))
                except Unknown:
                    known.append(None)
            values = [k for k in known if k is not None and k[0] is not None]
            if values:
                return max(v for v, _ in values), len(values) == len(known) and all(e for _, e in values)
        elif name in ("min", "int") or name in funcs:
            args = [evaluate(arg, env, funcs) for arg in node.args]
            if all(e and v is not None for v, e in args):
                fn = {"min": min, "int": int}.get(name) or funcs[name]
                return fn(*(v for v, _ in args)), True
    raise Unknown(ast.unparse(node))


_EXACT_OPS = {ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b, ast.Pow: lambda a, b: a ** b,
              ast.Mult: lambda a, b: a * b}
_COMPARES = {ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
             ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
             ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b}
_UNSET = object()  # a local assigned something the evaluator cannot compute
_MAX_PATHS = 256


def _path_plan(fn, wanted, measure):
    """The statements ``values_on_paths`` must visit: those holding ``wanted`` (or a
    return), and those that assign a local it depends on. Kept on ``fn``: a check asks
    the same question on many grid points."""
    plans = fn.__dict__.setdefault("_sglang_spec_patches_paths", {})
    key = (id(wanted), id(measure))
    if key in plans:
        return plans[key][2:]
    exprs = [measure] if measure is not None else [n.value for n in ast.walk(fn)
                                                   if isinstance(n, ast.Return) and n.value is not None]
    assigned = local_values(fn)
    for node in ast.walk(fn):  # x += ... reads x too
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            assigned.setdefault(node.target.id, []).append(node.value)
    relevant = {n.id for n in reach(exprs, assigned) if isinstance(n, ast.Name)} & set(assigned)
    parents = {id(child): node for node in ast.walk(fn) for child in ast.iter_child_nodes(node)}

    def with_ancestors(nodes):
        marked = set()
        for node in nodes:
            while node is not None and id(node) not in marked:
                marked.add(id(node))
                node = parents.get(id(node))
        return marked

    holders = with_ancestors([wanted] if wanted is not None else
                             [n for n in ast.walk(fn) if isinstance(n, ast.Return)])
    # statements that assign a tracked local, return, or hold wanted
    touching = holders | with_ancestors([n for n in ast.walk(fn) if isinstance(n, ast.Return) or (
        isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in relevant)])

    plans[key] = (wanted, measure, holders, touching)  # kept alive: their ids stay their own
    return holders, touching


def values_on_paths(fn, wanted, env, funcs=None, measure=None, fixed=()):
    """Every (value, exact) the expression ``wanted`` (a node inside ``fn``) takes on the
    paths through ``fn`` that reach it, walking the statements in order: locals are
    assigned as they go, an ``if`` whose test evaluates takes its branch, one that does
    not takes both; loops run their body once, ``try`` its body. Raises Unknown where a
    path reaches ``wanted`` with a value it cannot compute. ``wanted=None`` collects what
    the function returns. ``measure``: evaluate this expression instead where ``wanted``
    is reached (a local's value at a call). ``fixed``: names bound in ``env`` that
    assignments in ``fn`` never change (the grid's batch sizes). Only the locals the
    measured expression depends on are tracked, so a branch that assigns none of them
    does not fork the walk."""
    funcs = funcs or {}
    found = []
    measure = wanted if measure is None else measure
    holders, touching = _path_plan(fn, wanted, measure)

    def env_of(state):
        merged = dict(env)
        for name, value in state.items():
            if value is _UNSET:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    def note(node, state):
        if wanted is not None and id(node) in holders:
            found.append(evaluate(measure, env_of(state), funcs))

    def run(body, states):
        for stmt in body:
            if not states:
                return states
            if id(stmt) not in touching:
                continue
            if isinstance(stmt, ast.If):
                after = []
                for state in states:
                    note(stmt.test, state)
                    try:
                        test, exact = evaluate(stmt.test, env_of(state), funcs)
                    except Unknown:
                        test, exact = None, False
                    if not exact or test:
                        after += run(stmt.body, [dict(state)])
                    if not exact or not test:
                        after += run(stmt.orelse, [dict(state)])
                unique = {tuple(sorted(s.items(), key=lambda kv: kv[0])): s for s in after
                          if all(v is _UNSET or isinstance(v, tuple) for v in s.values())}
                states = (list(unique.values()) if len(unique) == len(after) else after)[:_MAX_PATHS]
                continue
            if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
                header = getattr(stmt, "iter", None) or getattr(stmt, "test", None)
                for state in states:
                    if header is not None:
                        note(header, state)
                    for item in getattr(stmt, "items", []):
                        note(item, state)
                states = run(stmt.body, states)
                states = run(getattr(stmt, "finalbody", []), states)
                continue
            for state in states:
                note(stmt, state)
            if isinstance(stmt, ast.Return):
                if wanted is None and stmt.value is not None:
                    for state in states:
                        found.append(evaluate(stmt.value, env_of(state), funcs))
                return []
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = (ast.BinOp(ast.Name(stmt.target.id, ast.Load()), stmt.op, stmt.value)
                         if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) else stmt.value)
                for state in states:
                    try:
                        computed = evaluate(value, env_of(state), funcs)
                    except Unknown:
                        computed = _UNSET
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id not in fixed:
                            state[target.id] = computed
        return states

    run(fn.body, [{}])
    return found
