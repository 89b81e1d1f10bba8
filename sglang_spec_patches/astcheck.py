"""Syntax-tree helpers for the fixes' ``fixed_when.py`` checks (stdlib only).

A check says whether a tree guarantees what its fix guarantees, in any spelling. Several
fixes look at the same things - which buffers the EAGLE draft runner clears on a padded
replay, what a size depends on through local assignments - so those readings live here
once; each check keeps only what its fix requires.
"""

import ast
import copy

from . import evaluate as symbolic  # the capture-list and buffer proofs


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


def _zero_target(stmt):
    """The buffer expression (``x.buf`` or ``x.buf[...]``) ``stmt`` sets to zero, or None:
    ``.zero_()``, ``.fill_(0)`` or ``x.buf[rows] = 0``."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if isinstance(call.func, ast.Attribute) and not call.keywords and (
            (call.func.attr == "zero_" and not call.args)
            or (call.func.attr == "fill_" and len(call.args) == 1
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0)):
            target = call.func.value
        else:
            return None
    elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Subscript)
          and isinstance(stmt.value, ast.Constant) and stmt.value.value == 0):
        target = stmt.targets[0]
    else:
        return None
    buffer = target.value if isinstance(target, ast.Subscript) else target
    if isinstance(buffer, ast.Attribute) and isinstance(buffer.value, ast.Name):
        return target
    return None


def _graph_replay(fn):
    """The call that runs the captured graph: the last call named ``replay``,
    ``_replay`` or ``_replay_graph`` (a DeepEP adapter's ``replay()`` comes first)."""
    calls = [n for n in ast.walk(fn)
             if isinstance(n, ast.Call) and call_name(n) in ("replay", "_replay", "_replay_graph")]
    return max(calls, key=lambda n: (n.lineno, n.col_offset)) if calls else None


_FLAG = "_sglang_spec_patches_cleared"
_PRESENT = ("a buffer", True)  # what a buffer is while the walk checks it: not None


def cleared_on_padded_replay(fn, padded_replay, fixed, rows):
    """Buffer -> how it is cleared, for every buffer that ``fn`` (a draft runner's
    ``replay``/``execute``) sets to zero on every padded replay before the graph runs,
    on the object the rest of the method reads it from (``self.`` or ``buffers.``), over
    every padded row. Proven by walking ``fn`` with the padded replay's sizes bound
    (``padded_replay``; names in ``fixed`` keep their value whatever ``fn`` assigns): a
    clearing under ``if bs == raw_bs:``, in dead code, after the replay, or behind a test
    the walk cannot decide (it counts both ways) does not count. ``rows``: buffer ->
    (real rows, padded rows) in these sizes; the rows cleared must start at or below the
    real count and reach the padded count (unsliced: the whole buffer)."""
    replay = _graph_replay(fn)
    if replay is None:
        return {}
    found = {}
    for stmt in sorted((n for n in ast.walk(fn) if isinstance(n, ast.stmt) and _zero_target(n) is not None),
                       key=lambda n: n.lineno):
        target = _zero_target(stmt)
        buffer = target.value if isinstance(target, ast.Subscript) else target
        name, owner = buffer.attr, buffer.value.id
        if name in found or (name not in rows and None not in rows):
            continue
        owners = {n.value.id for n in ast.walk(fn) if isinstance(n, ast.Attribute) and n.attr == name
                  and isinstance(n.value, ast.Name) and n is not buffer and not any(n is m for m in ast.walk(stmt))}
        if owners and owner not in owners:
            continue  # cleared on an object the replay does not read it from
        real, padded = rows.get(name, rows.get(None))
        walked, flagged_stmt, walked_replay = _flagged_copy(fn, stmt, replay)
        env = {**padded_replay, name: _PRESENT}  # `if buffers.<name> is not None:` holds
        try:
            flags = values_on_paths(walked, walked_replay, env, measure=ast.Name(_FLAG, ast.Load()), fixed=fixed)
            if not flags or any(v != (1, True) for v in flags):
                continue
            spelled = ast.unparse(target)
            if isinstance(target, ast.Subscript):
                index = target.slice.elts[0] if isinstance(target.slice, ast.Tuple) else target.slice
                if not isinstance(index, ast.Slice) or index.step is not None:
                    continue
                lows = [(0, True)] if index.lower is None else values_on_paths(
                    walked, flagged_stmt, env, measure=index.lower, fixed=fixed)
                highs = [] if index.upper is None else values_on_paths(
                    walked, flagged_stmt, env, measure=index.upper, fixed=fixed)
                if any(v is None or v > real for v, _ in lows) or any(v is None or v < padded for v, _ in highs):
                    continue
                spelled += f" (rows [{ast.unparse(index.lower)}:])" if index.lower is not None else " (whole)"
            else:
                spelled += " (whole)"
        except Unknown:
            continue
        found[name] = spelled
    return found


def _flagged_copy(fn, stmt, replay):
    """A copy of ``fn`` that sets a flag to 0 first and to 1 right after ``stmt``; the
    copies of ``stmt`` and ``replay``."""
    walked = copy.deepcopy(fn)
    twin = {id(a): b for a, b in zip(ast.walk(fn), ast.walk(walked))}
    new_stmt, new_replay = twin[id(stmt)], twin[id(replay)]
    for node in ast.walk(walked):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and any(s is new_stmt for s in body):
                at = next(i for i, s in enumerate(body) if s is new_stmt)
                body.insert(at + 1, ast.Assign([ast.Name(_FLAG, ast.Store())], ast.Constant(1), lineno=0))
    walked.body.insert(0, ast.Assign([ast.Name(_FLAG, ast.Store())], ast.Constant(0), lineno=0))
    return walked, new_stmt, new_replay


# --- amounts: call-free arithmetic evaluated on values the check binds ------------------
#
# A check that must prove an amount (a buffer's length against what a kernel writes)
# extracts the expression and evaluates it on a small grid of values it binds itself.
# Nothing of SGLang runs: only the arithmetic below, on names and attributes found in
# ``env`` (by name: ``self.topk`` and ``topk`` both read ``env["topk"]``). A value is a
# pair (number, exact); ``max(a, <unbound>)`` is a lower bound (not exact), which is
# enough to prove "at least", and is refused wherever an exact value is needed.


_MISSING = object()


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
        return _MISSING
    return env.get(key, _MISSING)


def evaluate(node, env, funcs=None):
    """(value, exact) of ``node``; ``funcs``: name -> plain Python function over the
    evaluated arguments (``ceil_align``, a sizing function the check read)."""
    funcs = funcs or {}
    found = _bound(node, env)
    if found is not _MISSING:
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
    tests = [n.test for n in ast.walk(fn) if isinstance(n, (ast.If, ast.While))]  # which branch runs
    relevant = {n.id for n in reach(exprs + tests, assigned) if isinstance(n, ast.Name)} & set(assigned)
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
                if isinstance(stmt, ast.While) and isinstance(stmt.test, ast.Constant) and not stmt.test.value:
                    continue  # while False: never runs
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


_LENGTH_OF = ("numel", "__len__")
_NEW_OF_LENGTH = ("new_ones", "new_zeros", "new_full", "new_empty")
_TENSOR_OF_LENGTH = ("full", "ones", "zeros", "empty")
_CONCAT = ("cat", "concat", "concatenate")


class _Lengths(ast.NodeTransformer):
    def __init__(self, attrs):
        self.attrs = attrs

    def visit_Attribute(self, node):
        if node.attr in self.attrs and isinstance(node.value, ast.Name) and node.value.id == "self":
            return ast.copy_location(ast.Name(f"self_{node.attr}", node.ctx), node)
        return self.generic_visit(node)

    def visit_Subscript(self, node):  # x.shape[0]
        self.generic_visit(node)
        if (isinstance(node.value, ast.Attribute) and node.value.attr == "shape"
                and isinstance(node.slice, ast.Constant) and node.slice.value == 0):
            return node.value.value
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        name, args = call_name(node), node.args
        value = node.func.value if isinstance(node.func, ast.Attribute) else None
        first = args[0] if args else None
        if isinstance(first, ast.Tuple) and len(first.elts) == 1:
            first = first.elts[0]  # torch.full((n,), ...)
        if name in _LENGTH_OF and value is not None and not args:
            return value
        if name == "size" and value is not None and len(args) == 1 and isinstance(args[0], ast.Constant) \
                and args[0].value == 0:
            return value
        if name == "len" and len(args) == 1:
            return args[0]
        if name in _NEW_OF_LENGTH and value is not None and first is not None:
            return first
        if name in _TENSOR_OF_LENGTH and isinstance(node.func, ast.Attribute) and first is not None:
            return first
        if name in _CONCAT and len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)) \
                and all(k.arg == "dim" and isinstance(k.value, ast.Constant) and k.value.value in (0, -1)
                        for k in node.keywords) and args[0].elts:
            total = args[0].elts[0]
            for part in args[0].elts[1:]:
                total = ast.BinOp(total, ast.Add(), part)
            return total
        if name == "pad" and len(args) >= 2 and isinstance(args[1], (ast.Tuple, ast.List)) \
                and len(args[1].elts) == 2:  # F.pad(x, (before, after), value=...)
            return ast.BinOp(ast.BinOp(args[0], ast.Add(), args[1].elts[0]), ast.Add(), args[1].elts[1])
        return node


def as_lengths(fn, attrs=()):
    """A copy of ``fn`` in which every 1-D tensor stands for its length, so a check can
    walk how long a buffer grows (``values_on_paths``): ``self.<attr>`` for ``attrs``
    becomes the local ``self_<attr>``; ``x.numel()``, ``len(x)``, ``x.shape[0]``,
    ``x.size(0)`` become ``x``; ``torch.full((n,), v)``, ``torch.ones(n)``,
    ``x.new_ones(n)`` become ``n``; ``torch.cat([a, b])`` becomes ``a + b``;
    ``F.pad(x, (lo, hi))`` becomes ``x + lo + hi``. Anything else stays as it is (and the
    evaluator does not know it)."""
    return ast.fix_missing_locations(_Lengths(set(attrs)).visit(copy.deepcopy(fn)))


# (draft tokens, requests in the padded batch, real requests) for the verify-mask grid
VERIFY_GRID = [(d, bs, raw) for d in (2, 4, 8) for bs in (4, 16) for raw in (1, 3, bs)]


def returns_full_verify_mask(fn):
    """Whether ``generate_attn_arg_prefill`` (EAGLE's or n-gram's verify input) returns,
    as the last element of every ``return``, a tree mask at least as long as FlashInfer
    reads for the padded batch: ``paged_kernel_lens_sum * D + D * D * bs`` booleans, ``bs``
    being ``len(req_pool_indices)`` (padded requests included), while ``self.custom_mask``
    was built for the real requests only. Proven on a grid of draft-token counts, padded
    and real batch sizes (``VERIFY_GRID``; 40 tokens a real request, fill 1 a padded
    one), following the function's locals and branches."""
    walked = as_lengths(fn, ("custom_mask",))
    returns = [n for n in ast.walk(walked) if isinstance(n, ast.Return)
               and isinstance(n.value, ast.Tuple) and n.value.elts]
    if not returns:
        return False
    for d, bs, raw in VERIFY_GRID:
        kv_sum = 40 * raw + (bs - raw)  # paged_kernel_lens_sum of the padded batch
        env = {"self_custom_mask": 40 * raw * d + d * d * raw, "req_pool_indices": bs,
               "paged_kernel_lens_sum": kv_sum, "draft_token_num": d}
        need = kv_sum * d + d * d * bs
        try:
            lengths = [v for ret in returns for v in values_on_paths(walked, ret, env, measure=ret.value.elts[-1])]
        except Unknown:
            return False
        if not lengths or any(not isinstance(v, int) or v < need for v, _ in lengths):
            return False
    return True


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
    its syntax tree (``symbolic.Evaluator``) for each pool size of a grid, with every
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
    evaluator = symbolic.Evaluator(read, follow_calls=False)  # what it calls is unknown: sound, and cheap
    func = evaluator.function(evaluator.module(DRAFT_RUNNER), CAPTURE_LIST)
    if func is None:
        return None
    for pool in POOL_GRID:
        model_runner = symbolic.Obj(req_to_token_pool=symbolic.Obj(size=symbolic.Span(pool)))
        try:
            ends = evaluator.paths(func, [model_runner])
        except symbolic.Unproven:
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
    first = value.vals[0] if isinstance(value, symbolic.Tup) and value.vals else value
    return isinstance(first, symbolic.Seq) and all(
        isinstance(item, symbolic.Span) and item.hi <= pool for item in first.items)


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
    dims = shape.vals if isinstance(shape, symbolic.Tup) else shape.items if isinstance(shape, symbolic.Seq) and shape.exact else [shape]
    return symbolic.Obj(shape=symbolic.Tup(dims))


def _arange(start, end=None, *args, **kwargs):
    start, end = (symbolic.Span(0), start) if end is None else (start, end)
    return symbolic.Obj(shape=symbolic.Tup([symbolic.arith(ast.Sub(), end, start)]))


TORCH = symbolic.Obj(zeros=_tensor, ones=_tensor, empty=_tensor, full=_tensor, arange=_arange)


def _world(evaluator, pool, tbo, gathered, tp, cp, graph_bs):
    """Point ``evaluator`` at one world of the grid; the model runner of that world."""
    span = symbolic.Span
    bs_list = lambda: symbolic.seq_of(graph_bs)  # noqa: E731  (a fresh list per read)
    server_args = symbolic.Obj(enable_two_batch_overlap=tbo, cuda_graph_bs=bs_list(), page_size=span(1),
                               cuda_graph_config=symbolic.Obj(decode=symbolic.Obj(bs=bs_list())))
    model_runner = symbolic.Obj(server_args=server_args, page_size=span(1),
                                req_to_token_pool=symbolic.Obj(size=span(pool)))
    parallel = symbolic.Obj(attn_tp_size=span(tp), attn_cp_size=span(cp))
    functions = {
        "require_gathered_buffer": lambda *a, **k: gathered,
        "get_parallel": lambda *a, **k: parallel,
        "get_attention_tp_size": lambda *a, **k: span(tp),
        "get_attention_cp_size": lambda *a, **k: span(cp),
        "is_hip": lambda *a, **k: False,
        "get_exec": lambda *a, **k: symbolic.Obj(
            overlap=symbolic.Obj(enable_two_batch_overlap=tbo),
            graph=symbolic.Obj(cuda_graph_config=symbolic.Obj(decode=symbolic.Obj(bs=bs_list())))),
    }
    evaluator.world_functions = functions
    return model_runner


def draft_buffers_hold_capture(read, file, class_suffix, needs, topks=(1, 2, 4)):
    """A proof that a multi-step draft backend's CUDA-graph buffers hold what the draft
    kernel and FlashInfer use for the largest captured batch, or None.

    ``needs``: buffer attribute -> (dimension, extra): ``self.<buffer>.shape[dimension]``
    must be at least ``largest captured batch * topk + extra``. ``__init__`` (and
    ``init_cuda_graph_state``, handed the largest captured batch, where it assigns one of
    them) are evaluated from the syntax tree (``symbolic.Evaluator``) for every pool,
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
    checked, evaluator = 0, symbolic.Evaluator(read, names={"torch": TORCH}, lenient=True)
    module = evaluator.module(file)
    for pool in DRAFT_POOLS:
        for world in ALIGNMENT_WORLDS:
            for graph_bs in GRAPH_BS_LISTS:
                largest = largest_captured_batch(pool, _alignment(*world), graph_bs)
                for topk in topks:
                    model_runner = _world(evaluator, pool, *world, graph_bs)
                    this = symbolic.Obj()
                    selves = [this]
                    try:
                        for phase in phases:
                            func = symbolic.Func(methods[phase], module)
                            args = ([this, model_runner, symbolic.Span(topk), symbolic.Span(DRAFT_STEPS)] if phase == "__init__"
                                    else [this, symbolic.Span(largest), symbolic.TOP])
                            ends = evaluator.paths(func, args)
                            if any(kind != "return" for kind, _ in ends):
                                return None
                            # every path shares ``this`` unless it forked; a fork proves nothing here
                            if len(ends) != 1:
                                return None
                    except symbolic.Unproven:
                        return None
                    for attr, (dim, extra) in needs.items():
                        buf = this.get(attr)
                        shape = buf.get("shape") if isinstance(buf, symbolic.Obj) else None
                        size = shape.vals[dim] if isinstance(shape, symbolic.Tup) and len(shape.vals) > dim else None
                        if not (isinstance(size, symbolic.Span) and size.lo >= largest * topk + extra):
                            return None
                        if dim and not (isinstance(shape.vals[0], symbolic.Span) and shape.vals[0].lo >= DRAFT_STEPS):
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
