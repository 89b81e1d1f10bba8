"""draft-seq-lens-sum holds when the EAGLE draft runner's ``replay`` (``execute`` in later
releases) hands the replay metadata the padded batch's sum and puts the raw sum back
after, proven in numbers: the method is walked statement by statement, on a grid of
real and padded batch sizes (``raw_bs`` from ``forward_batch.batch_size``, ``bs`` the
captured size, equal or larger), fill values and raw sums, following its branches
(``if bs != raw_bs``, ``if raw_seq_lens_sum is not None``, dead ``if False:`` never
taken) and locals. Where it calls ``init_forward_metadata_*`` (what the multi-step draft
backends size and slice ``kv_indices`` by), ``forward_batch.seq_lens_sum`` must be
``raw sum + (bs - raw_bs) * seq_len_fill_value`` on every path; where it returns, the raw
sum again (a ``finally`` or the normal path; upstream, 0.5.14 on, restores on the normal
path). A sum over the padded lengths (``seq_lens[:n].sum()``) counts as the raw sum plus
``(n - raw_bs)`` fill values for ``n >= raw_bs`` (the padding branch fills those rows).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast
import copy

from sglang_spec_patches import astcheck

FILE = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
CLASS_SUFFIX = "DraftCudaGraphRunner"
METHODS = ("replay", "execute")
SUM = "_forward_batch_seq_lens_sum"  # forward_batch.seq_lens_sum, walked as a local
PADDED_SUM = "_padded_sum"  # <buffers>.seq_lens[:n].sum(), as a function of n
RAW_SUM = 1000
GRID = [(raw, bs, fill) for raw in (3, 5) for bs in (raw, 8) for fill in (1, 3)]


def check(read):
    text = read(FILE)
    if text is None:
        return None
    method = astcheck.method(ast.parse(text), CLASS_SUFFIX, METHODS)
    if method is None:
        return None
    fn = _SumAsLocal().visit(copy.deepcopy(method))
    metadata = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr.startswith("init_forward_metadata_")]
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    if not metadata or not returns:
        return None
    measure = ast.Name(SUM, ast.Load())
    for raw, bs, fill in GRID:
        env = {"batch_size": raw, "raw_bs": raw, "bs": bs, "seq_len_fill_value": fill, SUM: RAW_SUM}
        funcs = {PADDED_SUM: lambda n, raw=raw, fill=fill: RAW_SUM + (n - raw) * fill if n >= raw else None}
        padded = RAW_SUM + (bs - raw) * fill
        try:
            seen = [v for call in metadata for v in astcheck.values_on_paths(
                fn, call, env, funcs, measure=measure, fixed=("raw_bs", "bs"))]
            restored = [v for ret in returns for v in astcheck.values_on_paths(
                fn, ret, env, funcs, measure=measure, fixed=("raw_bs", "bs"))]
        except astcheck.Unknown:
            return None
        if not seen or any(v != (padded, True) for v in seen):
            return None
        if not restored or any(v != (RAW_SUM, True) for v in restored):
            return None
    first = min(metadata, key=lambda n: n.lineno)
    where = "in a finally" if any(isinstance(t, ast.Try) and t.finalbody and any(
        isinstance(n, ast.Name) and n.id == SUM and isinstance(n.ctx, ast.Store)
        for s in t.finalbody for n in ast.walk(s)) for t in ast.walk(fn)) else "after replay"
    return (f"{method.name}() gives {first.func.attr}() forward_batch.seq_lens_sum = raw sum + "
            f"(bs - raw_bs) * seq_len_fill_value on every padded path and restores the raw sum {where}")


class _SumAsLocal(ast.NodeTransformer):
    """``forward_batch.seq_lens_sum`` becomes a local the walk can follow; a sum over the
    first n padded lengths becomes ``_padded_sum(n)``."""

    def visit_Attribute(self, node):
        if node.attr == "seq_lens_sum" and isinstance(node.value, ast.Name) and node.value.id == "forward_batch":
            return ast.copy_location(ast.Name(SUM, node.ctx), node)
        return self.generic_visit(node)

    def visit_Call(self, node):
        inner = node
        if isinstance(inner.func, ast.Attribute) and inner.func.attr == "item" and not inner.args:
            inner = inner.func.value  # x.sum().item()
        if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr == "sum"
                and not inner.args and isinstance(inner.func.value, ast.Subscript)):
            rows = inner.func.value
            if (isinstance(rows.value, ast.Attribute) and rows.value.attr == "seq_lens"
                    and isinstance(rows.slice, ast.Slice) and rows.slice.lower is None
                    and rows.slice.upper is not None and rows.slice.step is None):
                return ast.copy_location(ast.Call(ast.Name(PADDED_SUM, ast.Load()), [rows.slice.upper], []), node)
        return self.generic_visit(node)
