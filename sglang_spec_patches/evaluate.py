"""Evaluate SGLang's sizing code from its syntax tree, on values that may be unknown
(stdlib only; nothing of SGLang is imported or run).

The fixes' checks need amounts - the largest batch a CUDA graph is captured for, the
width of a buffer - that the syntax tree alone does not give. ``Evaluator`` runs a
function's statements on abstract values:

* ``Span(lo, hi)``: an integer known to lie in [lo, hi] (a known number is lo == hi);
* ``Seq``: a list; each item stands for zero or more of its elements, unless the list
  is ``exact`` (then its items are its elements, each a known number);
* ``Obj``: an object with known attributes (the rest unknown), ``TOP``: anything.

Unknown conditions run both branches (each path to its end), unknown calls give
``TOP`` and may have changed any list handed to them, calls of functions defined in the
tree are evaluated from their source. A statement it does not model raises
``Unproven``: a check built on it then proves nothing, which is the safe answer.
"""

from __future__ import annotations

import ast
import copy

INF = float("inf")
MAX_PATHS = 512
MAX_DEPTH = 6
LONG = 64  # a longer list is kept as the range of its sizes


class Unproven(Exception):
    """The code does something the evaluator does not model."""


class _Singleton:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    def __deepcopy__(self, memo):
        return self


TOP = _Singleton("TOP")  # any value
MAYBE = _Singleton("MAYBE")  # a condition that may be true or false
NONE = _Singleton("None")


class Span:
    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        self.lo, self.hi = lo, lo if hi is None else hi

    def known(self):
        return self.lo == self.hi and self.lo not in (INF, -INF)

    def __repr__(self):
        return f"{self.lo}" if self.known() else f"[{self.lo}, {self.hi}]"

    def __deepcopy__(self, memo):
        return self


ANY_INT = Span(-INF, INF)


class Seq:
    def __init__(self, items, exact=False):
        self.items, self.exact = [], exact
        self.add(items)

    def add(self, items, exact=True):
        """Append items (``exact``: they are known to be there, as known numbers)."""
        self.items += items
        self.exact = self.exact and exact and all(isinstance(i, Span) and i.known() for i in self.items)
        if len(self.items) > LONG:  # keep evaluation cheap: the range of its sizes
            spans = [i for i in self.items if isinstance(i, Span)]
            rest = [i for i in self.items if not isinstance(i, Span)][:1]
            self.items = rest + ([Span(min(i.lo for i in spans), max(i.hi for i in spans))] if spans else [])
            self.exact = False

    def __repr__(self):
        return f"Seq({self.items}{', exact' if self.exact else ''})"


class Tup:
    def __init__(self, vals):
        self.vals = tuple(vals)


class Obj:
    """An object of the world the code runs in: the attributes it has, the rest unknown."""

    def __init__(self, **attrs):
        self.attrs, self.lines = attrs, {}

    def get(self, name):
        return self.attrs.get(name, TOP)

    def set(self, name, value, line):
        self.attrs[name], self.lines[name] = value, line

    def __deepcopy__(self, memo):
        twin = Obj(**copy.deepcopy(self.attrs, memo))
        twin.lines = dict(self.lines)
        memo[id(self)] = twin
        return twin


class Func:
    def __init__(self, node, module):
        self.node, self.module = node, module

    def __deepcopy__(self, memo):
        return self


def seq_of(values):
    """A known list of numbers."""
    return Seq([Span(v) for v in values], exact=True)


def items_of(value):
    if isinstance(value, Seq):
        return list(value.items)
    if isinstance(value, Tup):
        return list(value.vals)
    return [TOP]


def truth(value):
    if value is True or value is False or value is MAYBE:
        return value
    if value is NONE:
        return False
    if isinstance(value, Span):
        return True if value.lo > 0 or value.hi < 0 else False if value.lo == value.hi == 0 else MAYBE
    if isinstance(value, Seq):
        return bool(value.items) if value.exact else MAYBE
    if isinstance(value, Tup):
        return bool(value.vals)
    if isinstance(value, (Obj, Func)):
        return True
    return MAYBE


def join(a, b):
    """A value standing for either."""
    if isinstance(a, Span) and isinstance(b, Span):
        return Span(min(a.lo, b.lo), max(a.hi, b.hi))
    if isinstance(a, (Seq, Tup)) and isinstance(b, (Seq, Tup)):
        return Seq(items_of(a) + items_of(b))
    if isinstance(a, bool) and isinstance(b, bool):
        return a if a == b else MAYBE
    if isinstance(a, Obj) and isinstance(b, Obj) and a is not b:  # copies on two paths
        return Obj(**{k: join(a.get(k), b.get(k)) for k in a.attrs.keys() | b.attrs.keys()})
    return a if a is b else TOP


def _merged(states):
    """The paths that go on after an ``if``, joined into one where their lists are
    shared by the same names on each (else kept apart, so no alias is lost)."""
    going = [env for env, res in states if res is None]
    if len(going) < 2:
        return states
    out = going[0]
    for env in going[1:]:
        joined, pairs = {}, {}
        for name in out.keys() | env.keys():
            a, b = out.get(name, TOP), env.get(name, TOP)
            if isinstance(a, Seq) and isinstance(b, Seq):
                key = (id(a), id(b))
                if key not in pairs:
                    if any(id(a) == k[0] or id(b) == k[1] for k in pairs):
                        return states
                    exact = a.exact and b.exact and [i.lo for i in a.items] == [i.lo for i in b.items]
                    pairs[key] = Seq(a.items if exact else a.items + b.items, exact)
                joined[name] = pairs[key]
            elif isinstance(a, Seq) or isinstance(b, Seq):
                if any(isinstance(v, Seq) and any(id(v) in k for k in pairs) for v in (a, b)):
                    return states
                joined[name] = join(a, b)
            else:
                joined[name] = join(a, b)
        out = joined
    return [(env, res) for env, res in states if res is not None] + [(out, None)]


def _and(a, b):
    return False if a is False or b is False else True if a is True and b is True else MAYBE


def _mul(a, b):
    products = [x * y for x in (a.lo, a.hi) for y in (b.lo, b.hi) if not (0 in (x, y) and INF in (abs(x), abs(y)))]
    if len(products) < 4:
        products.append(0)
    return Span(min(products), max(products))


def arith(op, a, b):
    if not (isinstance(a, Span) and isinstance(b, Span)):
        return TOP
    if a.known() and b.known():
        x, y = a.lo, b.lo
        if isinstance(op, ast.Add):
            return Span(x + y)
        if isinstance(op, ast.Sub):
            return Span(x - y)
        if isinstance(op, ast.Mult):
            return Span(x * y)
        if isinstance(op, (ast.FloorDiv, ast.Mod)) and y != 0:
            return Span(x // y if isinstance(op, ast.FloorDiv) else x % y)
        return TOP
    if isinstance(op, ast.Add):
        return Span(a.lo + b.lo, a.hi + b.hi)
    if isinstance(op, ast.Sub):
        return Span(a.lo - b.hi, a.hi - b.lo)
    if isinstance(op, ast.Mult):
        return _mul(a, b)
    if isinstance(op, ast.FloorDiv) and b.lo > 0 and INF not in (abs(a.lo), abs(a.hi)):
        return Span(min(a.lo // b.lo, a.lo // b.hi if b.hi != INF else 0),
                    max(a.hi // b.lo, a.hi // b.hi if b.hi != INF else 0))
    if isinstance(op, ast.FloorDiv) and b.lo > 0:
        return Span(-INF if a.lo < 0 else 0, INF if a.hi > 0 else 0)
    if isinstance(op, ast.Mod) and b.lo > 0:
        return Span(0, b.hi - 1)
    return ANY_INT


def compare(op, a, b):
    if isinstance(op, (ast.Is, ast.IsNot)):
        if a is TOP or b is TOP:
            return MAYBE
        same = (a is NONE) == (b is NONE) if NONE in (a, b) else MAYBE
        return same if same is MAYBE or isinstance(op, ast.Is) else not same
    if not (isinstance(a, Span) and isinstance(b, Span)):
        return MAYBE
    if isinstance(op, ast.Lt):
        return True if a.hi < b.lo else False if a.lo >= b.hi else MAYBE
    if isinstance(op, ast.LtE):
        return True if a.hi <= b.lo else False if a.lo > b.hi else MAYBE
    if isinstance(op, ast.Gt):
        return compare(ast.Lt(), b, a)
    if isinstance(op, ast.GtE):
        return compare(ast.LtE(), b, a)
    if isinstance(op, (ast.Eq, ast.NotEq)):
        equal = True if a.known() and b.known() and a.lo == b.lo else False if a.hi < b.lo or b.hi < a.lo else MAYBE
        return equal if equal is MAYBE or isinstance(op, ast.Eq) else not equal
    return MAYBE


class Module:
    """One file of the tree: its top-level functions and the names it imports."""

    def __init__(self, relpath, tree):
        self.relpath, self.functions, self.imports, self.star_imports = relpath, {}, {}, []
        package = relpath.rsplit("/", 1)[0].split("/")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = Func(node, self)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                dotted = ".".join(base + (node.module.split(".") if node.module else []))
                for alias in node.names:
                    if alias.name == "*":
                        self.star_imports.append(dotted)
                    else:
                        self.imports[alias.asname or alias.name] = (dotted, alias.name)


_PARSED: dict = {}


def _parsed(relpath, text):
    """One parse per file text in a process (the fixes' checks read the same files)."""
    key = (relpath, text)
    if key not in _PARSED:
        if len(_PARSED) >= 32:
            _PARSED.clear()
        _PARSED[key] = Module(relpath, ast.parse(text))
    return _PARSED[key]


class Evaluator:
    """Evaluates functions of one tree (``read(relpath) -> text | None``) in a world:
    ``functions`` maps names of calls to their modelled result (a callable taking the
    abstract arguments), overriding the tree's own definitions."""

    def __init__(self, read, functions=None, names=None, lenient=False, follow_calls=True):
        self.read, self.world_functions, self._modules = read, dict(functions or {}), {}
        self.follow_calls = follow_calls  # False: every call of the tree's own functions is unknown
        self.world_names = dict(names or {})  # other global names of the world (``torch``)
        # lenient: skip a statement it does not model (a loop, a ``with``) when it binds
        # no local name and assigns no attribute of ``self``; else it is Unproven.
        self.lenient = lenient

    def module(self, relpath):
        if relpath not in self._modules:
            text = self.read(relpath)
            self._modules[relpath] = None if text is None else _parsed(relpath, text)
        return self._modules[relpath]

    def module_of(self, dotted):
        base = dotted.replace(".", "/")
        return self.module(base + ".py") or self.module(base + "/__init__.py")

    def function(self, module, name, hops=4):
        """The tree's definition of ``name`` as seen from ``module`` (following imports)."""
        while module is not None and hops:
            if name in module.functions:
                return module.functions[name]
            if name not in module.imports:
                for dotted in module.star_imports:
                    found = self.function(self.module_of(dotted), name, hops - 1)
                    if found:
                        return found
                return None
            dotted, name = module.imports[name]
            module, hops = self.module_of(dotted), hops - 1
        return None

    # --- running a function --------------------------------------------------------

    def paths(self, func, args=(), kwargs=None, depth=0):
        """Each path through ``func`` with these arguments: ('return', value) or
        ('raise', None)."""
        env = self._bind(func, list(args), dict(kwargs or {}))
        ends = self._block(func.node.body, [(env, None)], func.module, depth)
        return [res or ("return", NONE) for _, res in ends]

    def call(self, func, args, kwargs, depth):
        if depth >= MAX_DEPTH:
            return TOP
        try:
            returned = [v for kind, v in self.paths(func, args, kwargs, depth + 1) if kind == "return"]
        except Unproven:
            return None
        if not returned:
            return TOP
        out = returned[0]
        for v in returned[1:]:
            out = join(out, v)
        return out

    def _bind(self, func, args, kwargs):
        spec = func.node.args
        if spec.vararg or spec.kwarg:
            raise Unproven(f"{func.node.name} takes *args or **kwargs")
        env = {}
        params = spec.posonlyargs + spec.args
        defaults = [None] * (len(params) - len(spec.defaults)) + list(spec.defaults)
        for i, (param, default) in enumerate(zip(params, defaults)):
            if i < len(args):
                env[param.arg] = args[i]
            elif param.arg in kwargs:
                env[param.arg] = kwargs.pop(param.arg)
            else:
                env[param.arg] = TOP if default is None else self.eval(default, {}, func.module, 0)
        for param, default in zip(spec.kwonlyargs, spec.kw_defaults):
            env[param.arg] = kwargs.pop(param.arg) if param.arg in kwargs else (
                TOP if default is None else self.eval(default, {}, func.module, 0))
        return env

    def _block(self, stmts, states, module, depth):
        for stmt in stmts:
            nxt = []
            for env, res in states:
                nxt += [(env, res)] if res is not None else self._stmt(stmt, env, module, depth)
            if len(nxt) > MAX_PATHS:
                raise Unproven("too many paths")
            states = nxt
        return states

    def _stmt(self, stmt, env, module, depth):
        if isinstance(stmt, ast.Expr):
            self.eval(stmt.value, env, module, depth)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            if stmt.value is not None:
                value = self.eval(stmt.value, env, module, depth)
                for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                    self._assign(target, value, env, module, depth)
        elif isinstance(stmt, ast.AugAssign):
            if not isinstance(stmt.target, ast.Name) or stmt.target.id not in env:
                raise Unproven(f"line {stmt.lineno}: augmented assignment to {ast.unparse(stmt.target)}")
            current, value = env[stmt.target.id], self.eval(stmt.value, env, module, depth)
            if isinstance(current, Seq) and isinstance(stmt.op, ast.Add):
                current.add(items_of(value), exact=isinstance(value, Tup) or isinstance(value, Seq) and value.exact)  # in place: aliases see it
            elif current is TOP and isinstance(stmt.op, ast.Add) and isinstance(value, (Seq, Tup)):
                env[stmt.target.id] = Seq([TOP] + items_of(value))
            else:
                env[stmt.target.id] = arith(stmt.op, current, value)
        elif isinstance(stmt, ast.If):
            test = truth(self.eval(stmt.test, env, module, depth))
            if test is MAYBE:
                return _merged(self._block(stmt.body, [(copy.deepcopy(env), None)], module, depth)
                               + self._block(stmt.orelse, [(env, None)], module, depth))
            return self._block(stmt.body if test else stmt.orelse, [(env, None)], module, depth)
        elif isinstance(stmt, ast.Return):
            return [(env, ("return", NONE if stmt.value is None else self.eval(stmt.value, env, module, depth)))]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for alias in stmt.names:
                found = self.function(self.module_of(stmt.module), alias.name) if alias.name != "*" else None
                env[alias.asname or alias.name] = found or TOP
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                env[alias.asname or alias.name.split(".")[0]] = TOP
        elif isinstance(stmt, ast.Raise):
            return [(env, ("raise", None))]
        elif isinstance(stmt, ast.Assert):
            if truth(self.eval(stmt.test, env, module, depth)) is False:
                return [(env, ("raise", None))]
        elif not isinstance(stmt, ast.Pass) and not (self.lenient and _harmless(stmt)):
            raise Unproven(f"line {stmt.lineno}: {type(stmt).__name__} statement")
        return [(env, None)]

    def _assign(self, target, value, env, module, depth):
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts):
            if isinstance(value, Tup) and len(value.vals) == len(target.elts):
                parts = value.vals
            else:
                items = items_of(value)
                part = items[0] if len(items) == 1 else TOP
                for item in items[1:]:
                    part = join(part, item)
                parts = [part] * len(target.elts)
            for elt, part in zip(target.elts, parts):
                self._assign(elt, part, env, module, depth)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and isinstance(env.get(target.value.id), Seq):
            env[target.value.id].add([value], exact=False)
        elif isinstance(target, ast.Attribute) and isinstance(self.eval(target.value, env, module, depth), Obj):
            self.eval(target.value, env, module, depth).set(target.attr, value, target.lineno)
        elif isinstance(target, ast.Attribute) and not (isinstance(target.value, ast.Name) and target.value.id == "self"):
            pass  # an attribute of an object the world does not model: nothing read later
        else:
            raise Unproven(f"assignment to {ast.unparse(target)}")

    # --- expressions ----------------------------------------------------------------

    def eval(self, node, env, module, depth):
        ev = lambda n: self.eval(n, env, module, depth)  # noqa: E731
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return node.value
            if isinstance(node.value, int):
                return Span(node.value)
            return NONE if node.value is None else TOP
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in self.world_names:
                return self.world_names[node.id]
            found = self.function(module, node.id) if module is not None else None
            return found or TOP
        if isinstance(node, ast.Attribute):
            base = ev(node.value)
            return base.get(node.attr) if isinstance(base, Obj) else TOP
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add) and isinstance(a, (Seq, Tup)) and isinstance(b, (Seq, Tup)):
                return Seq(items_of(a) + items_of(b), exact=all(isinstance(x, Tup) or x.exact for x in (a, b)))
            if isinstance(node.op, ast.Mult) and isinstance(a, Seq):
                return Seq(a.items)
            return arith(node.op, a, b)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            if isinstance(node.op, ast.Not):
                t = truth(v)
                return MAYBE if t is MAYBE else not t
            if isinstance(node.op, ast.USub) and isinstance(v, Span):
                return Span(-v.hi, -v.lo)
            return v if isinstance(node.op, ast.UAdd) else TOP
        if isinstance(node, ast.BoolOp):
            out = ev(node.values[0])
            for nxt in node.values[1:]:
                t = truth(out)
                stop = (t is False) if isinstance(node.op, ast.And) else (t is True)
                if stop:
                    break
                right = ev(nxt)
                out = right if t is not MAYBE else join(out, right) if not isinstance(out, bool) else MAYBE
            return out
        if isinstance(node, ast.Compare):
            out, left = True, ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                out, left = _and(out, compare(op, left, right)), right
            return out
        if isinstance(node, ast.IfExp):
            t = truth(ev(node.test))
            return ev(node.body) if t is True else ev(node.orelse) if t is False else join(ev(node.body), ev(node.orelse))
        if isinstance(node, (ast.List, ast.Set)):
            items = []
            for elt in node.elts:
                items += items_of(ev(elt.value)) if isinstance(elt, ast.Starred) else [ev(elt)]
            return Seq(items, exact=not any(isinstance(e, ast.Starred) for e in node.elts))
        if isinstance(node, ast.Tuple):
            return Tup(ev(e) for e in node.elts)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self._comprehension(node, env, module, depth)
        if isinstance(node, ast.Subscript):
            base = ev(node.value)
            if isinstance(base, Seq):
                if isinstance(node.slice, ast.Slice):
                    return Seq(base.items)
                out = base.items[0] if base.items else TOP
                for item in base.items[1:]:
                    out = join(out, item)
                return out
            if isinstance(base, Tup) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
                return base.vals[node.slice.value] if -len(base.vals) <= node.slice.value < len(base.vals) else TOP
            return TOP
        if isinstance(node, ast.Call):
            return self._call(node, env, module, depth)
        if isinstance(node, ast.NamedExpr):
            raise Unproven("assignment expression")
        return TOP

    def _comprehension(self, node, env, module, depth):
        if len(node.generators) != 1 or not isinstance(node.generators[0].target, ast.Name):
            return TOP
        gen = node.generators[0]
        var, out, exact = gen.target.id, [], True
        source = self.eval(gen.iter, env, module, depth)
        exact = isinstance(source, Seq) and source.exact
        for item in items_of(source):
            local = dict(env)
            local[var] = item
            keep = True
            for cond in gen.ifs:
                self._refine(var, cond, local, module, depth)
                t = truth(self.eval(cond, local, module, depth))
                if t is False or (isinstance(local[var], Span) and local[var].lo > local[var].hi):
                    keep = False
                    break
                exact = exact and t is True
            if keep:
                out.append(self.eval(node.elt, local, module, depth))
        return Seq(out, exact=exact)

    def _refine(self, var, cond, env, module, depth):
        """Narrow ``var`` by a condition that must hold for the item to be kept."""
        if isinstance(cond, ast.BoolOp) and isinstance(cond.op, ast.And):
            for part in cond.values:
                self._refine(var, part, env, module, depth)
            return
        if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1):
            return
        left, op, right = cond.left, cond.ops[0], cond.comparators[0]
        if isinstance(right, ast.Name) and right.id == var:  # X >= var  ->  var <= X
            left, right = right, left
            op = {ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Lt: ast.Gt, ast.LtE: ast.GtE}.get(type(op), type(op))()
        if not (isinstance(left, ast.Name) and left.id == var):
            return
        bound = self.eval(right, env, module, depth)
        if not isinstance(bound, Span):
            return
        item = env[var] if isinstance(env[var], Span) else ANY_INT
        if isinstance(op, (ast.Lt, ast.LtE)):
            env[var] = Span(item.lo, min(item.hi, bound.hi - (1 if isinstance(op, ast.Lt) else 0)))
        elif isinstance(op, (ast.Gt, ast.GtE)):
            env[var] = Span(max(item.lo, bound.lo + (1 if isinstance(op, ast.Gt) else 0)), item.hi)

    def _call(self, node, env, module, depth):
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                return self._unknown_call(node, env, module, depth)
            args.append(self.eval(a, env, module, depth))
        if any(k.arg is None for k in node.keywords):
            return self._unknown_call(node, env, module, depth)
        kwargs = {k.arg: self.eval(k.value, env, module, depth) for k in node.keywords}
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.eval(func.value, env, module, depth)
            if isinstance(base, Seq):
                return self._list_method(base, func.attr, args)
            called = base.get(func.attr) if isinstance(base, Obj) else TOP
            if callable(called):
                return called(*args, **kwargs)
            return self._opened(args, kwargs)
        if not isinstance(func, ast.Name):
            return self._opened(args, kwargs)
        name = func.id
        if name in env:
            target = env[name]
        elif name in self.world_functions:
            return self.world_functions[name](*args, **kwargs)
        elif name in BUILTINS and self.function(module, name) is None:
            return BUILTINS[name](*args, **kwargs)
        else:
            target = self.function(module, name)
        if isinstance(target, Func) and self.follow_calls:
            result = self.call(target, args, kwargs, depth)
            if result is not None:
                return result
        return self._opened(args, kwargs)

    def _unknown_call(self, node, env, module, depth):
        for a in list(node.args) + [k.value for k in node.keywords]:
            self.eval(a.value if isinstance(a, ast.Starred) else a, env, module, depth)
        return TOP

    @staticmethod
    def _opened(args, kwargs):
        """An unknown call: it may have added anything to a list it was handed."""
        for value in list(args) + list(kwargs.values()):
            if isinstance(value, Seq):
                value.add([TOP])
        return TOP

    @staticmethod
    def _list_method(seq, name, args):
        if name == "append" and len(args) == 1 or name == "insert" and len(args) == 2:
            seq.add([args[-1]])
            return NONE
        if name == "extend" and len(args) == 1:
            seq.add(items_of(args[0]), exact=isinstance(args[0], Seq) and args[0].exact)
            return NONE
        if name == "copy" and not args:
            return Seq(seq.items, seq.exact)
        if name in ("sort", "reverse") and not args:
            return NONE
        seq.add([TOP])  # anything else may have changed it
        return TOP


def _harmless(stmt):
    """A statement that binds no local name (a loop's own variable aside) and assigns
    no attribute of ``self``."""
    loop_vars = {n.id for s in ast.walk(stmt) if isinstance(s, (ast.For, ast.comprehension))
                 for n in ast.walk(s.target) if isinstance(n, ast.Name)}
    for node in ast.walk(stmt):
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                   if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)) else
                   [i.optional_vars for i in node.items if i.optional_vars] if isinstance(node, ast.With) else [])
        for target in targets:
            for n in ast.walk(target):
                if isinstance(n, ast.Name) and (n.id == "self" or n.id not in loop_vars) and not (
                        isinstance(target, (ast.Attribute, ast.Subscript)) and n.id != "self"):
                    return False
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Global, ast.Nonlocal, ast.Delete, ast.Import, ast.ImportFrom)):
            return False
    return True


def _numbers(value):
    """(known numbers, all known) of an iterable value."""
    items = items_of(value)
    exact = isinstance(value, Seq) and value.exact or isinstance(value, Tup) and all(
        isinstance(v, Span) and v.known() for v in items)
    return items, exact


def _max_or_min(pick):
    def builtin(*args, **kwargs):
        if len(args) > 1:
            if all(isinstance(a, Span) for a in args):
                return Span(pick(a.lo for a in args), pick(a.hi for a in args))
            spans = [a for a in args if isinstance(a, Span)]
            if pick is max and spans:  # at least the largest known lower bound
                return Span(max(a.lo for a in spans), INF)
            if pick is min and spans:
                return Span(-INF, min(a.hi for a in spans))
            return TOP
        if len(args) != 1:
            return TOP
        items, exact = _numbers(args[0])
        if not all(isinstance(i, Span) for i in items):
            return TOP
        if exact and items:
            return Span(pick(i.lo for i in items))
        if not items:
            return kwargs.get("default", TOP)
        return Span(min(i.lo for i in items), max(i.hi for i in items))
    return builtin


def _as_list(value=None, *rest, **kwargs):
    if value is None:
        return Seq([], exact=True)
    items, exact = _numbers(value)
    if exact:
        items = sorted({i.lo for i in items})
        return seq_of(items)
    return Seq(items)


def _range(*args):
    if not args or not all(isinstance(a, Span) for a in args):
        return Seq([ANY_INT])
    if all(a.known() for a in args) and len(args) <= 3:
        values = range(*(a.lo for a in args))
        if len(values) <= 4096:
            return seq_of(values)
    start, stop = (Span(0), args[0]) if len(args) == 1 else args[:2]
    return Seq([Span(min(start.lo, stop.lo), max(start.hi, stop.hi))])


def _keep_order(value=None, *rest, **kwargs):
    if isinstance(value, (Seq, Tup)):
        return Seq(items_of(value), exact=isinstance(value, Seq) and value.exact)
    return Seq([TOP])


BUILTINS = {
    "max": _max_or_min(max),
    "min": _max_or_min(min),
    "len": lambda v=None, *a, **k: Span(len(v.items)) if isinstance(v, Seq) and v.exact else Span(0, INF),
    "list": _keep_order,
    "tuple": _keep_order,
    "sorted": _as_list,
    "set": _as_list,
    "int": lambda v=None, *a, **k: v if isinstance(v, Span) else TOP,
    "abs": lambda v=None, *a, **k: Span(abs(v.lo)) if isinstance(v, Span) and v.known() else TOP,
    "range": _range,
}
