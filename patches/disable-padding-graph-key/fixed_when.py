"""disable-padding-graph-key holds when, in each of the four runners the bug covers (target
decode, EAGLE draft, draft-extend, multi-layer draft-extend), every graph lookup that
``--disable-cuda-graph-padding`` sends to the backend (``self.backend.can_run(batch, key)``
on the flag's side of its ``if``) passes a key built like the stored one:

* the key is a ``self._make_graph_key(...)`` call, directly or through locals every one of
  whose assignments is such a call (a bare size or a string never equals a ShapeKey);
* the class's ``_make_graph_key`` returns a ``ShapeKey(...)``, the type the backend stores;
* every field the runner's replay key gets from the running batch besides the size (the
  pdmux stream, the LoRA variant, 0.5.18's DSA variant) the lookup gets from the same calls.

``lacks_need`` proves the bug's precondition absent: no ``ShapeKey`` class, and every
runner that honours the flag tests membership in its own ``self.graphs`` dict (before
0.5.14 the runners stored and looked up their graphs themselves, by the same key).

Read by the engine only (stdlib, no SGLang import).
"""

import ast

from sglang_spec_patches import astcheck

RUNNERS = (
    "sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
    "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py",
    "sglang/srt/speculative/eagle_draft_extend_cuda_graph_runner.py",
    "sglang/srt/speculative/multi_layer_eagle_draft_extend_cuda_graph_runner.py",
)
OLD_RUNNERS = RUNNERS[1:] + (
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "sglang/srt/speculative/frozen_kv_mtp_cuda_graph_runner.py",
)
SHAPE_KEY = "sglang/srt/model_executor/runner/shape_key.py"
LOOKUP_METHODS = ("can_run_graph", "can_run")


def check(read):
    proved = []
    for file in RUNNERS:
        text = read(file)
        if text is None:
            return None
        classes = [c for c in ast.walk(ast.parse(text)) if isinstance(c, ast.ClassDef) and _backend_lookups(c)]
        if not classes or not all(_keyed_like_stored(c) for c in classes):
            return None
        proved += [c.name for c in classes]
    return (f"with --disable-cuda-graph-padding, {', '.join(proved)} look graphs up under the "
            "ShapeKey they were stored with (_make_graph_key, every field besides the size from the same "
            "calls as the replay key)")


def lacks_need(read):
    if "ShapeKey" in (read(SHAPE_KEY) or ""):
        return None
    seen = []
    for file in OLD_RUNNERS:
        text = read(file)
        if text is None:
            continue
        for cls in ast.walk(ast.parse(text)):
            if not isinstance(cls, ast.ClassDef):
                continue
            for fn in _methods(cls, LOOKUP_METHODS):
                flagged = _flag_side(fn)
                if any(".backend" in ast.unparse(c.func) for c in _calls(fn, "can_run")):
                    return None
                if flagged and not all(_in_own_graphs(e) for e in flagged):
                    return None
                if flagged:
                    seen.append(cls.name)
    if not seen:
        return None
    return (f"no ShapeKey graph store: with --disable-cuda-graph-padding {', '.join(seen)} test "
            "membership in their own self.graphs, filled by the runners themselves")


def _methods(cls, names):
    return [f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in names]


def _calls(node, name):
    return [n for n in ast.walk(node) if isinstance(n, ast.Call) and astcheck.call_name(n) == name]


def _is_self_attr(node, attr):
    return (isinstance(node, ast.Attribute) and node.attr == attr
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _flag_test(test):
    """True when the test holds with padding disabled, False when it holds without; None otherwise."""
    if _is_self_attr(test, "disable_padding"):
        return True
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_self_attr(test.operand, "disable_padding"):
        return False
    return None


def _flag_side(fn):
    """The expressions and statements a disabled-padding flag selects in ``fn``."""
    out = []
    for node in ast.walk(fn):
        if isinstance(node, (ast.IfExp, ast.If)):
            side = _flag_test(node.test)
            if side is not None:
                chosen = node.body if side else node.orelse
                out += chosen if isinstance(chosen, list) else [chosen]
    return out


def _in_own_graphs(expr):
    return (isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.In)
            and _is_self_attr(expr.comparators[0], "graphs"))


def _backend_lookups(cls):
    return [(fn, c) for fn in _methods(cls, LOOKUP_METHODS) for c in _calls(fn, "can_run")
            if isinstance(c.func, ast.Attribute) and _is_self_attr(c.func.value, "backend")]


def _is_key_call(node):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_make_graph_key" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self")


def _key_calls(expr, assigned):
    """The _make_graph_key calls ``expr`` is, or None when it may be anything else."""
    if _is_key_call(expr):
        return [expr]
    if isinstance(expr, ast.Name) and assigned.get(expr.id):
        values = assigned[expr.id]
        return values if all(_is_key_call(v) for v in values) else None
    return None


def _bind(call, params):
    """Parameter name -> argument expression of a _make_graph_key call."""
    bound = dict(zip(params, call.args))
    bound.update({k.arg: k.value for k in call.keywords if k.arg})
    return bound


def _called(expr, assigned):
    return {astcheck.call_name(n) for n in astcheck.reach([expr], assigned) if isinstance(n, ast.Call)}


def _keyed_like_stored(cls):
    make_key = next(iter(_methods(cls, ("_make_graph_key",))), None)
    returns = [r.value for r in ast.walk(make_key or ast.Pass()) if isinstance(r, ast.Return)]
    if not any(_is_shape_key(value) for value in returns):
        return False
    params = [a.arg for a in make_key.args.args[1:]]
    # What the replay/capture sites build the stored key from, field by field (the size aside).
    sources = {}
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and fn.name not in LOOKUP_METHODS:
            assigned = astcheck.local_values(fn)
            for call in filter(_is_key_call, ast.walk(fn)):
                for name, arg in list(_bind(call, params).items())[1:]:
                    called = _called(arg, assigned)
                    if called:
                        sources.setdefault(name, set()).update(called)
    for fn, lookup in _backend_lookups(cls):
        if not any(lookup in ast.walk(side) for side in _flag_side(fn)) or len(lookup.args) < 2:
            return False
        assigned = astcheck.local_values(fn)
        calls = _key_calls(lookup.args[1], assigned)
        if not calls:
            return False
        for call in calls:
            bound = _bind(call, params)
            for name, needed in sources.items():
                if name not in bound or not needed & _called(bound[name], assigned):
                    return False
    return True


def _is_shape_key(expr):
    return isinstance(expr, ast.Call) and astcheck.call_name(expr) == "ShapeKey"
