"""draft-seq-lens-sum holds when the EAGLE draft runner's ``replay`` (``execute`` in later
releases) sets ``forward_batch.seq_lens_sum`` to the padded batch's sum before it builds
the replay metadata (``init_forward_metadata_replay_cuda_graph`` or
``init_forward_metadata_out_graph``), and after that puts back the raw sum it saved from
``forward_batch.seq_lens_sum``. The padded sum may be spelled with ``seq_len_fill_value``
or as a ``.sum()`` of the padded lengths; the restore may sit in a ``finally`` or on the
normal path (upstream, 0.5.14 on, restores on the normal path only).

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches import astcheck

FILE = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
CLASS_SUFFIX = "DraftCudaGraphRunner"
METHODS = ("replay", "execute")


def check(read):
    text = read(FILE)
    if text is None:
        return None
    method = astcheck.method(ast.parse(text), CLASS_SUFFIX, METHODS)
    if method is None:
        return None
    saved = _saved_names(method)
    metadata = [n for n in ast.walk(method) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr.startswith("init_forward_metadata_")]
    if not metadata or not saved:
        return None
    first_metadata = min(metadata, key=lambda n: n.lineno)
    padded = [a for a in _sum_assignments(method) if _is_padded_sum(a.value, saved)]
    restores = [a for a in _sum_assignments(method) if isinstance(a.value, ast.Name) and a.value.id in saved]
    if not any(a.lineno < first_metadata.lineno for a in padded):
        return None
    after = [a for a in restores if a.lineno > first_metadata.lineno]
    if not after:
        return None
    where = "in a finally" if any(_in_finally(method, a) for a in after) else "after replay"
    return (f"{method.name}() sets forward_batch.seq_lens_sum to the padded sum before "
            f"{first_metadata.func.attr}() and restores the raw sum {where}")


def _is_batch_sum(node):
    return (isinstance(node, ast.Attribute) and node.attr == "seq_lens_sum"
            and isinstance(node.value, ast.Name) and node.value.id == "forward_batch")


def _saved_names(fn):
    """Locals assigned the raw ``forward_batch.seq_lens_sum``."""
    return {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) and _is_batch_sum(n.value)
            for t in n.targets if isinstance(t, ast.Name)}


def _sum_assignments(fn):
    return [n for n in ast.walk(fn) if isinstance(n, ast.Assign)
            and any(_is_batch_sum(t) for t in n.targets)]


def _is_padded_sum(value, saved):
    """The raw sum plus the padded rows' fill, or a sum over the padded lengths."""
    attrs = {n.attr for n in ast.walk(value) if isinstance(n, ast.Attribute)}
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    if "seq_len_fill_value" in attrs and names & saved:
        return True
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "sum"
               and "seq_lens" in {a.attr for a in ast.walk(n.func.value) if isinstance(a, ast.Attribute)}
               for n in ast.walk(value))


def _in_finally(fn, node):
    return any(isinstance(t, ast.Try) and any(node in ast.walk(s) for s in t.finalbody) for t in ast.walk(fn))
