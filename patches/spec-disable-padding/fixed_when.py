"""spec-disable-padding holds when the decode CUDA-graph capture list is dense with
padding disabled, speculative decoding included: somewhere in the capture-list code
(``get_batch_sizes_to_capture`` in ``cuda_graph_runner.py``, or ``ServerArgs`` /
``arg_groups/cuda_graph_hook.py`` in later releases) an ``if`` that tests
``disable_cuda_graph_padding``, not nested in a branch for ``speculative_algorithm is
None``, sets ``capture_bs`` to every size from 1 (``range(1, n)``, plain or filtered).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

FILES = (
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "sglang/srt/server_args.py",
    "sglang/srt/arg_groups/cuda_graph_hook.py",
)


def check(read):
    for file in FILES:
        text = read(file)
        if text and "disable_cuda_graph_padding" in text and _dense_when_disabled(ast.parse(text)):
            return (f"{file.rsplit('/', 1)[1]}: with --disable-cuda-graph-padding the capture "
                    "list is every batch size from 1, speculative decoding included")
    return None


def _mentions(expr, attr):
    return any((isinstance(n, ast.Attribute) and n.attr == attr) or (isinstance(n, ast.Name) and n.id == attr)
               for n in ast.walk(expr))


def _non_spec_only(test):
    """An if test that holds only without speculative decoding (``... is None``)."""
    return (isinstance(test, ast.Compare) and _mentions(test.left, "speculative_algorithm")
            and all(isinstance(op, ast.Is) for op in test.ops))


def _dense_from_one(expr):
    """``range(1, n)`` with no step (or step 1), possibly wrapped in list() or a filter."""
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "range" and len(n.args) in (2, 3):
            first, step = n.args[0], n.args[2] if len(n.args) == 3 else None
            if (isinstance(first, ast.Constant) and first.value == 1
                    and (step is None or (isinstance(step, ast.Constant) and step.value == 1))
                    and not isinstance(n.args[1], ast.Constant)):
                return True
    return False


def _sets_dense(body):
    return any(isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "capture_bs" for t in s.targets)
               and _dense_from_one(s.value) and not isinstance(s.value, ast.BinOp) for s in body)


def _dense_when_disabled(tree):
    def visit(body, non_spec):
        for stmt in body:
            if isinstance(stmt, ast.If):
                if not non_spec and _mentions(stmt.test, "disable_cuda_graph_padding") and _sets_dense(stmt.body):
                    return True
                if visit(stmt.body, non_spec or _non_spec_only(stmt.test)) or visit(stmt.orelse, non_spec):
                    return True
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list) and visit(inner, non_spec):
                        return True
        return False

    return visit(tree.body, False)
