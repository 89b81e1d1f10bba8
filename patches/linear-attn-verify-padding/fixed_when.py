"""linear-attn-verify-padding holds when, on a target-verify replay, every read of
``num_padding`` in the linear-attention backend's replay metadata
(``MambaAttnBackendBase._replay_metadata``; in 0.5.2 - 0.5.3
``MambaAttnBackend.init_forward_metadata_replay_cuda_graph``) sees ``bs`` minus the
batch's real rows, whatever the real lengths are.

Proven by running that function's statements on a grid (batch sizes 1-8, every number of
real rows, 1-5 draft tokens per row), with stand-in values for what the function is given:
a target-verify mode, a verify input holding the real rows' draft tokens, host lengths no
expression here can compute with (so a count over them is never proven), and the
``num_padding`` the backend's ``init_forward_metadata_out_graph`` passes on from the
runner's view when the runner's ``build_replay_fb_view`` sets it (upstream, 0.5.14 on).
Branches are followed where their test can be evaluated; a branch that cannot be decided
must not assign ``num_padding``.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches import astcheck

BACKEND = "sglang/srt/layers/attention/hybrid_linear_attn_backend.py"
RUNNERS = ("sglang/srt/model_executor/runner/decode_cuda_graph_runner.py",
           "sglang/srt/model_executor/cuda_graph_runner.py")
REPLAY = ("_replay_metadata", "init_forward_metadata_replay_cuda_graph")
CLASSES = ("MambaAttnBackendBase", "MambaAttnBackend")  # the latter up to 0.5.3
GRID = [(bs, raw, d) for bs in range(1, 9) for raw in range(bs + 1) for d in (1, 2, 4, 5)]
UNKNOWN = object()
SAFE = {"getattr": getattr, "min": min, "max": max, "int": int, "len": len, "None": None}


def check(read):
    _COMPILED.clear()  # per-node caches hold one tree at a time
    _USES.clear()
    text = read(BACKEND)
    if text is None:
        return None
    tree = ast.parse(text)
    replay = next(filter(None, (astcheck.method(tree, c, REPLAY) for c in CLASSES)), None)
    if replay is None:
        return None
    passed = _passed_from_view(tree, read)
    if not all(_value_at_every_read(replay, bs, raw, d, (bs - raw) if passed else UNKNOWN) == "right"
               for bs, raw, d in GRID):
        return None
    source = "the num_padding the runner's view passes" if passed else "the verify input's rows"
    return f"{replay.name}() reads bs - real rows as num_padding on every target-verify replay ({source})"


def _passed_from_view(tree, read):
    """The runner's view carries num_padding = bs - raw_bs and the backend's out-graph
    entry hands it to the replay metadata outside capture."""
    entry = astcheck.method(tree, CLASSES[0], ("init_forward_metadata_out_graph",))
    if entry is None or not any(_view_sets_padding(read(path)) for path in RUNNERS):
        return False
    for call in ast.walk(entry):
        if isinstance(call, ast.Call) and astcheck.call_name(call) in REPLAY:
            for kw in call.keywords:
                if kw.arg == "num_padding":
                    batch = _Stub(num_padding=7)
                    return _eval(kw.value, {"forward_batch": batch, "in_capture": False}) == 7
    return False


def _view_sets_padding(text):
    if text is None:
        return False
    for fn in ast.parse(text).body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "build_replay_fb_view":
            for ret in fn.body:
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call):
                    for kw in ret.value.keywords:
                        if kw.arg == "num_padding":
                            return all(_eval(kw.value, {"bs": bs, "raw_bs": raw}) == bs - raw
                                       for bs, raw, _ in GRID)
    return False


def _value_at_every_read(fn, bs, raw, d, passed):
    """'right' when each read of num_padding on the verify path sees bs - raw, else 'wrong'."""
    env = {"bs": bs, "forward_mode": _VerifyMode(), "in_capture": False, "seq_lens_cpu": _Opaque(),
           "spec_info": _Stub(draft_token=_Tokens(raw * d), draft_token_num=d), "num_padding": passed}
    reads = []

    def run(stmts):
        for st in stmts:
            if isinstance(st, ast.Return):
                _note_reads(st, env, reads)
                return True  # nothing after it runs
            if isinstance(st, ast.Assign) and [_name(t) for t in st.targets] == ["num_padding"]:
                _note_reads(st.value, env, reads)
                env["num_padding"] = _eval(st.value, env)
            elif isinstance(st, ast.If):
                _note_reads(st.test, env, reads)
                taken = _eval(st.test, env)
                if taken is UNKNOWN:
                    if _assigns(st):
                        reads.append(UNKNOWN)  # an undecided branch sets it: not proven
                    _note_reads(st, env, reads)
                elif run(st.body if taken else st.orelse):
                    return True
            elif _assigns(st):
                reads.append(UNKNOWN)
            else:
                _note_reads(st, env, reads)
        return False

    run(fn.body)
    return "right" if reads and all(v == bs - raw for v in reads) else "wrong"


def _name(node):
    return node.id if isinstance(node, ast.Name) else None


_USES = {}  # node -> (assigns num_padding, reads num_padding), once per node: the grid reuses them


def _uses(node):
    if node not in _USES:
        names = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == "num_padding"]
        _USES[node] = (any(isinstance(n.ctx, ast.Store) for n in names),
                       any(isinstance(n.ctx, ast.Load) for n in names))
    return _USES[node]


def _assigns(node):
    return _uses(node)[0]


def _note_reads(node, env, reads):
    if _uses(node)[1]:
        reads.append(env["num_padding"])


_COMPILED = {}  # expression node -> (names it reads, code), once per node: the grid reuses them


def _eval(expr, env):
    if expr not in _COMPILED:
        names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
        # Only plain arithmetic on the stand-ins: no power or shift (a huge number would
        # stall the plan) and no dunder attribute (no way out of the stand-ins).
        unsafe = any(isinstance(n, (ast.Pow, ast.LShift)) or (isinstance(n, ast.Attribute) and n.attr.startswith("__"))
                     for n in ast.walk(expr))
        try:
            code = None if unsafe else compile(ast.fix_missing_locations(ast.Expression(expr)), "<fixed_when>", "eval")
        except (SyntaxError, ValueError):
            code = None
        _COMPILED[expr] = (names, code)
    names, code = _COMPILED[expr]
    if code is None or any(env.get(n) is UNKNOWN for n in names):
        return UNKNOWN
    try:
        return eval(code, {"__builtins__": SAFE}, dict(env))
    except Exception:
        return UNKNOWN


class _Stub:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class _Tokens:
    def __init__(self, n):
        self.n = n
        self.shape = (n,)

    def numel(self):
        return self.n

    def __len__(self):
        return self.n


class _VerifyMode:
    """A target-verify forward mode: ``is_target_verify()`` and nothing else."""

    def __getattr__(self, name):
        if name.startswith("is_"):
            return lambda *args, **kwargs: name == "is_target_verify"
        raise AttributeError(name)


class _Opaque:
    """Host lengths: nothing can be computed from them here."""

    def __getattr__(self, name):
        raise AttributeError(name)
