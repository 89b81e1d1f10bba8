"""verify-mask-padding holds when ``EagleVerifyInput.generate_attn_arg_prefill`` grows
``self.custom_mask`` (by concatenation or padding) to a length computed from the
function's own batch size (``len(req_pool_indices)`` or its ``numel()``, which counts
the padded requests), guarded by or sized from the mask's current length, in any
spelling.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import call_name, local_values, method, reach

FILES = ("sglang/srt/speculative/eagle_info.py", "sglang/srt/speculative/eagle_utils.py")
GROWERS = ("cat", "concat", "concatenate", "pad")


def check(read):
    for file in FILES:
        text = read(file)
        if not text or "EagleVerifyInput" not in text:
            continue
        fn = method(ast.parse(text), "EagleVerifyInput", ("generate_attn_arg_prefill",))
        if fn is not None and _grows_mask(fn):
            return (f"{file.rsplit('/', 1)[1]} generate_attn_arg_prefill() grows self.custom_mask "
                    "to the padded batch's size")
    return None


def _is_custom_mask(node):
    return (isinstance(node, ast.Attribute) and node.attr == "custom_mask"
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _grows_mask(fn):
    assigned = local_values(fn)  # to follow mask_len, short_by, ...
    batch = {name for name, values in assigned.items() if any(_counts_requests(v) for v in values)}

    def visit(body, guards):
        for stmt in body:
            if isinstance(stmt, ast.If):
                if visit(stmt.body, guards + [stmt.test]):
                    return True
                continue
            if (isinstance(stmt, ast.Assign) and any(_is_custom_mask(t) for t in stmt.targets)
                    and isinstance(stmt.value, ast.Call) and call_name(stmt.value) in GROWERS):
                nodes = list(reach([stmt.value, *guards], assigned))
                sized_by_batch = any(isinstance(n, ast.Name) and n.id in batch for n in nodes)
                knows_length = any(isinstance(n, ast.Attribute) and n.attr in ("numel", "shape")
                                   and _is_custom_mask(n.value) for n in nodes)
                if sized_by_batch and knows_length:
                    return True
        return False

    return visit(fn.body, [])


def _counts_requests(expr):
    """``len(req_pool_indices)``, ``req_pool_indices.numel()``, ``.size(0)``, ``.shape[0]``."""
    if not _mentions_name(expr, "req_pool_indices"):
        return False
    if isinstance(expr, ast.Call):
        return call_name(expr) in ("len", "numel", "size")
    return isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Attribute) and expr.value.attr == "shape"


def _mentions_name(expr, name):
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(expr))
