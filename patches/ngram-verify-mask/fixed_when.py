"""ngram-verify-mask holds when ``NgramVerifyInput.generate_attn_arg_prefill`` returns a
tree mask it grew (by concatenation or padding) from ``self.custom_mask`` to a length
computed from the function's own batch size (``req_pool_indices``' length, which counts
the padded requests), guarded by or sized from the mask's current length, in any
spelling: grown in place on ``self.custom_mask`` or in a local copy.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import call_name, local_values, method, reach

FILES = ("sglang/srt/speculative/ngram_info.py", "sglang/srt/speculative/ngram_utils.py")
GROWERS = ("cat", "concat", "concatenate", "pad")


def check(read):
    for file in FILES:
        text = read(file)
        if not text or "NgramVerifyInput" not in text:
            continue
        fn = method(ast.parse(text), "NgramVerifyInput", ("generate_attn_arg_prefill",))
        if fn is not None and _returns_grown_mask(fn):
            return (f"{file.rsplit('/', 1)[1]} generate_attn_arg_prefill() pads the tree mask it "
                    "returns to the padded batch's size")
    return None


def _is_self_mask(node):
    return (isinstance(node, ast.Attribute) and node.attr == "custom_mask"
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _returns_grown_mask(fn):
    assigned = local_values(fn)  # to follow mask_len, short_by, ...
    batch = {name for name, values in assigned.items() if any(_is_batch_size(v) for v in values)}
    # Locals that hold the mask itself (custom_mask = self.custom_mask, and grown copies).
    aliases = {name for name, values in assigned.items() if any(_is_self_mask(v) for v in values)}

    def is_mask(node):
        return _is_self_mask(node) or (isinstance(node, ast.Name) and node.id in aliases)

    grown = set()  # "self" for self.custom_mask, else the local's name

    def visit(body, guards):
        for stmt in body:
            if isinstance(stmt, ast.If):
                visit(stmt.body, guards + [stmt.test])
                continue
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                    and call_name(stmt.value) in GROWERS
                    and any(is_mask(n) for n in ast.walk(stmt.value))):
                continue
            nodes = list(reach([stmt.value, *guards], assigned))
            sized_by_batch = any(isinstance(n, ast.Name) and n.id in batch for n in nodes) or any(
                _is_batch_size(n) for n in nodes)
            knows_length = any(isinstance(n, ast.Attribute) and n.attr in ("numel", "shape")
                               and is_mask(n.value) for n in nodes)
            if sized_by_batch and knows_length:
                for target in stmt.targets:
                    if _is_self_mask(target):
                        grown.add("self")
                    elif isinstance(target, ast.Name):
                        grown.add(target.id)

    visit(fn.body, [])
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and node.value.elts:
            last = node.value.elts[-1]
            if (_is_self_mask(last) and "self" in grown) or (isinstance(last, ast.Name) and last.id in grown):
                return True
    return False


def _is_batch_size(expr):
    """len(req_pool_indices), req_pool_indices.numel() / .size(0) / .shape[0]."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "len":
        return any(_names(a, "req_pool_indices") for a in expr.args)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("numel", "size"):
        return _names(expr.func.value, "req_pool_indices")
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Attribute) and expr.value.attr == "shape":
        return _names(expr.value.value, "req_pool_indices")
    return False


def _names(expr, name):
    return isinstance(expr, ast.Name) and expr.id == name


