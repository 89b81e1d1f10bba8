"""draft-triton-kv-indptr-capture-bs holds when the ``kv_indptr`` that
``TritonMultiStepDraftBackend`` hands the draft kernel has room for the largest captured
batch: at least ``bs * topk + 1`` entries a row, ``bs`` the request pool rounded up to the
capture alignment. The width is evaluated (``evaluate.Evaluator``) on a grid of pool sizes,
alignments, topk and step counts, in either place it can be set:

* ``init_cuda_graph_state(max_bs, ...)``, which the draft runner calls with the largest
  captured batch: a new ``self.kv_indptr`` of that width, assigned unconditionally or under
  ``if <width> > self.kv_indptr.shape[1]`` (this fix), with every step backend handed its
  row of the new buffer and, where the wrapper has a ``window_kv_indptr`` (the sliding-
  window rail), that one grown as well;
* ``__init__``: ``self.kv_indptr`` sized from the pool through the CUDA-graph rounding
  (``get_cuda_graph_max_batch_size``, ``_cuda_graph_capture_max_bs``, ``ceil_align``,
  modelled as rounding up to the alignment) or the listed CUDA-graph sizes, times topk.

Any other assignment to ``self.kv_indptr`` in the class (a slice, a later shrink) proves
nothing. Upstream's FlashInfer spelling, ``get_cuda_graph_max_batch_size(pool * topk)``,
rounds the product instead of the pool and is short on the grid (pool 5, alignment 2,
topk 2: 11 entries, 13 written).

Its bug needs a draft CUDA graph captured above the request pool: ``lacks_need`` proves a
tree never captures above it (``astcheck.capture_bs_within_pool``).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``,
``lacks_need(read) -> str | None``.
"""

import ast

from sglang_spec_patches import evaluate
from sglang_spec_patches.astcheck import capture_bs_within_pool, local_values, method

FILE = "sglang/srt/layers/attention/triton_backend.py"
CLASS = "TritonMultiStepDraftBackend"

# Besides FILE: where the draft runner's capture list comes from.
READS = (
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/model_executor/cuda_graph_runner.py",  # up to 0.5.13.post1
    "sglang/srt/model_executor/runner/__init__.py",  # 0.5.14 and later
    "sglang/srt/model_executor/runner/base_cuda_graph_runner.py",
)

POOLS = (1, 2, 3, 5, 7, 9, 13, 33)
ALIGNMENTS = (1, 2, 4, 8)
TOPKS = (1, 2, 4, 8)
STEPS = (2, 3, 5)
LISTED_MAX = (1, 8, 64, 512)  # the largest --cuda-graph-bs
ROUNDING = ("get_cuda_graph_max_batch_size", "_cuda_graph_capture_max_bs", "ceil_align")


def lacks_need(read):
    return capture_bs_within_pool(read)


def check(read):
    text = read(FILE)
    if text is None:
        return None
    tree = ast.parse(text)
    init = method(tree, CLASS, ["__init__"])
    state = method(tree, CLASS, ["init_cuda_graph_state"])
    if init is None:
        return None
    cls = next(c for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and c.name.endswith(CLASS))
    writes = [(fn, node) for fn in cls.body if isinstance(fn, ast.FunctionDef)
              for node in ast.walk(fn) if _assigns_self(node, "kv_indptr")]
    if state is not None:
        growth = [node for fn, node in writes if fn is state]
        others = [node for fn, node in writes if fn is not init and fn is not state]
        if len(growth) == 1 and not others and _grows_for_captured(state, growth[0], _has_window(init)):
            return (f"{CLASS}.init_cuda_graph_state grows kv_indptr to the largest captured batch "
                    f"times topk plus 1 ({_GRID})")
    init_writes = [node for fn, node in writes if fn is init]
    if len(writes) == 1 and len(init_writes) == 1 and _sized_in_init(init, init_writes[0]):
        return f"{CLASS}.__init__ sizes kv_indptr for the largest captured batch times topk plus 1 ({_GRID})"
    return None


_GRID = (f"every pool {POOLS[0]}..{POOLS[-1]}, alignment {ALIGNMENTS[0]}..{ALIGNMENTS[-1]}, "
         f"topk {TOPKS[0]}..{TOPKS[-1]}, steps {STEPS[0]}..{STEPS[-1]}")


def _grid():
    for pool in POOLS:
        for align in ALIGNMENTS:
            for topk in TOPKS:
                for steps in STEPS:
                    for listed in LISTED_MAX:
                        # the draft runner captures up to the pool rounded up, never past the list
                        captured = min(-(-pool // align) * align, max(listed, 1))
                        yield pool, align, topk, steps, listed, captured


def _assigns_self(node, attr):
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name) and t.value.id == "self"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))


def _has_window(init):
    return any(_assigns_self(node, "window_kv_indptr") for node in ast.walk(init))


def _width(assign):
    """The row width expression of ``self.kv_indptr = torch.zeros((steps, width), ...)``."""
    call = assign.value
    if not (isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Tuple)
            and len(call.args[0].elts) == 2):
        return None
    return call.args[0].elts[1]


def _evaluate(expr, fn, env, align):
    """``expr`` in ``fn`` with ``env``, locals followed through their single assignment,
    the CUDA-graph rounding functions modelled as rounding up to ``align``."""
    evaluator = evaluate.Evaluator(lambda rel: None, functions={
        "get_cuda_graph_max_batch_size": lambda *args, **kw: _ceil(args[-1] if args else evaluate.TOP, align),
        "_cuda_graph_capture_max_bs": lambda *args, **kw: _ceil(args[-1] if args else evaluate.TOP, align),
        "ceil_align": lambda value=None, *rest, **kw: _ceil(value, rest[0] if rest else evaluate.TOP),
    })
    assigned = local_values(fn)
    env = dict(env)
    for node in ast.walk(expr):  # locals it reads, once each, in any order they resolve
        if isinstance(node, ast.Name) and node.id not in env and node.id in assigned:
            if len(assigned[node.id]) != 1:
                return None
            env[node.id] = _evaluate(assigned[node.id][0], fn, env, align)
    try:
        value = evaluator.eval(expr, env, None, 0)
    except evaluate.Unproven:
        return None
    return value if isinstance(value, evaluate.Span) else None


def _ceil(value, align):
    if isinstance(align, int):
        align = evaluate.Span(align)
    if not (isinstance(value, evaluate.Span) and value.known() and isinstance(align, evaluate.Span) and align.known()):
        return evaluate.TOP
    return evaluate.Span(-(-value.lo // align.lo) * align.lo)


def _backend(pool, topk, steps, listed):
    graph = evaluate.Obj(decode=evaluate.Obj(bs=evaluate.seq_of([listed])))
    server_args = evaluate.Obj(cuda_graph_bs=evaluate.seq_of([listed]), cuda_graph_config=graph)
    runner = evaluate.Obj(req_to_token_pool=evaluate.Obj(size=evaluate.Span(pool)), server_args=server_args)
    return runner, evaluate.Obj(topk=evaluate.Span(topk), speculative_num_steps=evaluate.Span(steps))


def _wide_enough(expr, fn, env_of):
    for pool, align, topk, steps, listed, captured in _grid():
        value = _evaluate(expr, fn, env_of(pool, topk, steps, listed, captured), align)
        if value is None or value.lo < captured * topk + 1:
            return False
    return True


def _sized_in_init(init, assign):
    width = _width(assign)
    params = [a.arg for a in init.args.args]
    if width is None or len(params) < 4:
        return False

    def env_of(pool, topk, steps, listed, captured):
        runner, backend = _backend(pool, topk, steps, listed)
        return {"self": backend, params[1]: runner, params[2]: evaluate.Span(topk), params[3]: evaluate.Span(steps)}

    return _wide_enough(width, init, env_of)


def _grows_for_captured(state, assign, window):
    """``assign`` (``self.kv_indptr = ...`` in ``init_cuda_graph_state``) runs whenever the
    current row is short, is wide enough for ``max_bs``, and the step backends get its rows."""
    width, params = _width(assign), [a.arg for a in state.args.args]
    if width is None or len(params) < 2:
        return False
    body = _enclosing_body(state, assign)
    if body is None:
        return False
    block, test = body
    if test is not None and not _short_row_test(test, width, state):
        return False

    def env_of(pool, topk, steps, listed, captured):
        _, backend = _backend(pool, topk, steps, listed)
        return {"self": backend, params[1]: evaluate.Span(captured)}

    if not _wide_enough(width, state, env_of):
        return False
    stmts = [node for stmt in block for node in ast.walk(stmt)]
    handed = any(isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Attribute) and t.attr == "kv_indptr" and not (isinstance(t.value, ast.Name) and t.value.id == "self")
        for t in n.targets) and _row_of_kv_indptr(n.value) for n in stmts)
    grown_window = not window or any(_assigns_self(n, "window_kv_indptr") for n in stmts)
    return handed and grown_window


def _row_of_kv_indptr(value):
    return (isinstance(value, ast.Subscript) and isinstance(value.value, ast.Attribute)
            and value.value.attr == "kv_indptr" and isinstance(value.value.value, ast.Name)
            and value.value.value.id == "self" and not isinstance(value.slice, (ast.Slice, ast.Tuple)))


def _enclosing_body(fn, assign):
    """(statements the assignment runs with, the if-test guarding them or None): the
    assignment at the top of ``fn`` or in the body of one top-level ``if``."""
    if assign in fn.body:
        return fn.body, None
    for stmt in fn.body:
        if isinstance(stmt, ast.If) and assign in stmt.body:
            return stmt.body, stmt.test
    return None


def _short_row_test(test, width, fn):
    """``<width> > self.kv_indptr.shape[1]`` (or ``shape[1] < <width>``), the same width."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.Lt):
        left, right = right, left
    elif not isinstance(op, ast.Gt):
        return False
    same = ast.dump(_resolved(left, fn)) == ast.dump(_resolved(width, fn))
    row = ast.unparse(right) in ("self.kv_indptr.shape[1]", "self.kv_indptr.shape[-1]", "self.kv_indptr.size(1)")
    return same and row


def _resolved(expr, fn):
    """A local name stands for its single assigned value."""
    assigned = local_values(fn)
    if isinstance(expr, ast.Name) and len(assigned.get(expr.id, [])) == 1:
        return assigned[expr.id][0]
    return expr
