"""draft-context-length holds when both of these are true, in any spelling:

* ``ModelConfig`` (``sglang/srt/configs/model_config.py``): wherever a context length
  longer than the model's own is accepted (``self.context_len = context_length`` inside
  the body of a ``>``/``<`` comparison), the same block also raises
  ``...max_position_embeddings`` (directly or under ``if is_draft_model``), so a
  stretched draft's rotary cache covers the stretched context;
* the request-to-token pool is built with the draft-token headroom: every
  ``max_context_len=`` argument in the model runner depends on
  ``speculative_num_draft_tokens`` (or ``max_speculative_num_draft_tokens``), directly,
  through a local, or through a sizing function of ``mem_cache/common.py`` (0.5.13 on).

From 0.5.16 the pools are built in ``mem_cache/kv_cache_configurator.py`` through
forwarded parameters; this check does not follow them (the upstream marker decides
those releases, where the fix is upstream anyway).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

MODEL_CONFIG = "sglang/srt/configs/model_config.py"
RUNNER_FILES = (  # where req_to_token pools are built, up to 0.5.15
    "sglang/srt/model_executor/model_runner.py",
    "sglang/srt/model_executor/model_runner_kv_cache_mixin.py",
)
SIZING_FILES = ("sglang/srt/mem_cache/common.py",)


def check(read):
    text = read(MODEL_CONFIG)
    if text is None or not _stretch_raises_rope(ast.parse(text)):
        return None
    sizers = set()
    for text in filter(None, map(read, SIZING_FILES)):
        sizers |= _draft_token_functions(ast.parse(text))
    pools = [_pool_widths(ast.parse(t), sizers) for t in map(read, RUNNER_FILES) if t is not None]
    widths = [ok for found in pools for ok in found]
    if not widths or not all(widths):
        return None
    return ("a stretched context raises max_position_embeddings (model_config.py) and every "
            f"req_to_token pool ({len(widths)}) has the speculative_num_draft_tokens headroom")


def _is_self_attr(node, attr):
    return (isinstance(node, ast.Attribute) and node.attr == attr
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _raises_rope(stmt):
    return any(isinstance(n, (ast.Assign, ast.AugAssign)) and any(
        isinstance(t, ast.Attribute) and t.attr == "max_position_embeddings"
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])) for n in ast.walk(stmt))


def _stretch_raises_rope(tree):
    verdicts = []

    def visit(body, stretching):
        if stretching and any(
            isinstance(s, ast.Assign) and any(_is_self_attr(t, "context_len") for t in s.targets)
            and isinstance(s.value, ast.Name) and s.value.id == "context_length" for s in body
        ):
            verdicts.append(any(_raises_rope(s) for s in body))
        for stmt in body:
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(stmt, field, None)
                if not isinstance(inner, list):
                    continue
                longer = (isinstance(stmt, ast.If) and field == "body" and isinstance(stmt.test, ast.Compare)
                          and any(isinstance(op, (ast.Gt, ast.Lt)) for op in stmt.test.ops))
                if field == "handlers":
                    for handler in inner:
                        visit(handler.body, stretching)
                else:
                    visit(inner, stretching or longer)

    visit(tree.body, False)
    return bool(verdicts) and all(verdicts)


def _is_draft_tokens(node):
    return isinstance(node, ast.Attribute) and node.attr.endswith("speculative_num_draft_tokens")


def _draft_token_functions(tree):
    """Module-level functions whose body reads the draft-token count."""
    return {fn.name for fn in tree.body if isinstance(fn, ast.FunctionDef)
            and any(_is_draft_tokens(n) for n in ast.walk(fn))}


def _pool_widths(tree, sizers):
    """One bool per ``max_context_len=`` argument: does it depend on the draft tokens?"""
    found = {}  # keyword node -> verdict, judged in the innermost function holding it
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        assigned = {}
        for node in ast.walk(fn):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Name):
                        assigned.setdefault(t.id, []).append(node.value)
        for node in ast.walk(fn):
            if isinstance(node, ast.keyword) and node.arg == "max_context_len":
                found[node] = _depends_on_draft_tokens(node.value, assigned, sizers)
    return list(found.values())


def _depends_on_draft_tokens(expr, assigned, sizers):
    todo, seen = [expr], set()
    while todo:
        for n in ast.walk(todo.pop()):
            if _is_draft_tokens(n) or (isinstance(n, ast.Call) and getattr(n.func, "id", None) in sizers):
                return True
            if isinstance(n, ast.Name) and n.id in assigned and n.id not in seen:
                seen.add(n.id)
                todo += assigned[n.id]
    return False
