"""draft-context-length holds when both of these are proven, in numbers:

* ``ModelConfig`` (``sglang/srt/configs/model_config.py``): wherever a context length
  longer than the model's own is accepted (``self.context_len = context_length`` inside
  the body of a ``>``/``<`` comparison), the same block - directly or under
  ``if is_draft_model`` - sets ``self.hf_text_config.max_position_embeddings`` (or
  ``self.hf_config``'s: what the draft's rotary cache is built from, not a local) to a
  value evaluated at least ``context_length`` (for a grid of contexts);
* every ``req_to_token`` row is wide enough for the draft tokens: each
  ``max_context_len=`` argument in the model runner (up to 0.5.15) or the KV-cache
  configurator (0.5.16 on), evaluated on a grid of contexts, draft-token counts and page
  sizes, is at least ``context_len + speculative_num_draft_tokens`` (verify and draft
  cache assignment write up to ``seq_len + draft tokens - 1``). Locals are followed
  along the paths that reach the argument, a forwarded parameter through every call in
  the file that passes it, and a sizing function of ``mem_cache`` through what it
  returns (at least; ``max(x, <unknown>)`` counts as x).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import Unknown, evaluate, local_values, reach, values_on_paths

MODEL_CONFIG = "sglang/srt/configs/model_config.py"
POOL_FILES = (  # where req_to_token pools are built
    "sglang/srt/model_executor/model_runner.py",
    "sglang/srt/model_executor/model_runner_kv_cache_mixin.py",
    "sglang/srt/mem_cache/kv_cache_configurator.py",
)
SIZING_FILES = ("sglang/srt/mem_cache/common.py", "sglang/srt/mem_cache/allocation_sizing.py")
READS = POOL_FILES + SIZING_FILES  # besides the diffs' files: a partial copy must hold them
CONTEXTS = (4096,)
DRAFT_TOKENS = (2, 64)
PAGE_SIZES = (1, 64)
ROPE_OWNERS = ("hf_text_config", "hf_config")


def check(read):
    text = read(MODEL_CONFIG)
    if text is None or not _stretch_raises_rope(ast.parse(text)):
        return None
    trees = {f: ast.parse(t) for f in POOL_FILES if (t := read(f)) is not None}
    called = {getattr(n.func, "id", None) for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.Call)}
    sizers = [fn for t in filter(None, map(read, SIZING_FILES)) for fn in ast.parse(t).body
              if isinstance(fn, ast.FunctionDef) and fn.name in called]
    grid = list(_grid(sizers))
    widths = 0
    for tree in trees.values():
        for fn, keyword in _pool_widths(tree):
            if not _wide_enough(tree, fn, keyword.value, grid):
                return None
            widths += 1
    if not widths:
        return None
    return ("a stretched context raises max_position_embeddings to it (model_config.py) and every "
            f"req_to_token pool ({widths}) is at least context_len + speculative_num_draft_tokens wide")


# --- the draft's rotary cache ----------------------------------------------------------

def _is_self_attr(node, attr):
    return (isinstance(node, ast.Attribute) and node.attr == attr
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _rope_raised(stmts):
    """A statement in ``stmts`` (or under ``if is_draft_model``) that sets the config's
    max_position_embeddings to at least the stretched context."""
    for stmt in stmts:
        if isinstance(stmt, ast.If) and (
                (isinstance(stmt.test, ast.Name) and stmt.test.id == "is_draft_model")
                or _is_self_attr(stmt.test, "is_draft_model")):
            if _rope_raised(stmt.body):
                return True
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "max_position_embeddings"
                and any(_is_self_attr(t.value, owner) for owner in ROPE_OWNERS) for t in stmt.targets):
            try:
                if all(evaluate(stmt.value, {"context_length": c})[0] >= c for c in CONTEXTS):
                    return True
            except (Unknown, TypeError):
                pass
    return False


def _stretch_raises_rope(tree):
    verdicts = []

    def visit(body, stretching):
        if stretching and any(
            isinstance(s, ast.Assign) and any(_is_self_attr(t, "context_len") for t in s.targets)
            and isinstance(s.value, ast.Name) and s.value.id == "context_length" for s in body
        ):
            verdicts.append(_rope_raised(body))
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


# --- the req_to_token rows -------------------------------------------------------------

def _pool_widths(tree):
    """(innermost function, keyword) for every ``max_context_len=`` argument."""
    found = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.keyword) and node.arg == "max_context_len":
                    found[node] = fn  # inner functions come later in the walk and win
    return [(fn, kw) for kw, fn in found.items()]


def _grid(sizers):
    """(the width needed, the values bound) per grid point; a sizing function is bound to
    the least it returns there."""
    for c in CONTEXTS:
        for d in DRAFT_TOKENS:
            for p in PAGE_SIZES:
                env = {"context_len": c, "speculative_num_draft_tokens": d,
                       "max_speculative_num_draft_tokens": d, "page_size": p,
                       "speculative_algorithm": "EAGLE"}
                for sizer in sizers:
                    try:
                        env[sizer.name] = (min(v for v, _ in values_on_paths(sizer, None, env)), False)
                    except (Unknown, ValueError, TypeError):
                        pass
                yield c + d, env


def _least(fn, expr, env):
    values = values_on_paths(fn, expr, env)
    if not values or any(not isinstance(v, int) for v, _ in values):
        raise Unknown(ast.unparse(expr))
    return min(v for v, _ in values)


def _wide_enough(tree, fn, expr, grid):
    read_names = {n.id for n in reach([expr], local_values(fn)) if isinstance(n, ast.Name)}
    forwarded = {param: list(_calls_passing(tree, fn.name, param)) for param in _params(fn) & read_names}
    try:
        for need, env in grid:
            env = dict(env)
            for param, passed in forwarded.items():  # a width forwarded by the callers in this file
                if passed:
                    env[param] = (min(_least(caller, kw.value, env) for caller, kw in passed), False)
            if _least(fn, expr, env) < need:
                return False
    except (Unknown, TypeError):
        return False
    return True


def _params(fn):
    args = fn.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg != "self"}


def _calls_passing(tree, name, param):
    for caller in ast.walk(tree):
        if isinstance(caller, (ast.FunctionDef, ast.AsyncFunctionDef)) and caller.name != name:
            for node in ast.walk(caller):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == name:
                    for kw in node.keywords:
                        if kw.arg == param:
                            yield caller, kw
