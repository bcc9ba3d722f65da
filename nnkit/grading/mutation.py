"""Mutants of the solution functions: small wrong variants that the hidden tests must reject.

Only code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is mutated (what a learner
writes).  One mutation per mutant, from these operators:

    arith       + <-> -,  * <-> /,  ** -> *,  @ -> *,  // -> /,  % -> //, and in ``x op= y``
    drop-term   a + b -> a (or b),  a - b -> a (or -b),  a * b -> a (or b),  a / b -> a, ...
    max-shift   z - z.max(...) -> z: the shift that keeps exp() from overflowing, removed
    swap-args   a - b -> b - a (non-commutative operators), f(a, b) -> f(b, a),
                np.where(c, a, b) -> np.where(c, b, a), [a, b, ...] -> [b, a, ...]
    compare     < <-> <=, > <-> >=, < <-> >, == <-> !=, in <-> not in;  and <-> or
    constant    a number c -> c + 1;  True <-> False
    axis        axis=k -> axis=k+1, axis=... removed
    keepdims    keepdims=True removed
    transpose   x.T -> x,  np.transpose(x) -> x
    function    max <-> min, sum <-> mean, argmax <-> argmin, maximum <-> minimum; sqrt/exp/log/
                tanh/abs dropped
    unary       -x -> x,  not c -> c
    drop-update x op= y removed
    zeros       return v -> return zeros shaped like v (also ``yield``)

``mutants(source, cell)`` returns one ``Mutant`` per distinct wrong variant; ``Mutant.apply(ns)``
redefines the function in a namespace (returning what to restore).
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from nnkit.grading import markers

ZEROS = "__nnkit_zeros__"

_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
          ast.MatMult: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
_NONCOMMUTATIVE = (ast.Sub, ast.Div, ast.MatMult, ast.Pow, ast.FloorDiv, ast.Mod)
_COMPARE = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
            ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
            ast.In: (ast.NotIn,), ast.NotIn: (ast.In,), ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,)}
_SWAP_NAMES = {"max": "min", "min": "max", "sum": "mean", "mean": "sum", "argmax": "argmin",
               "argmin": "argmax", "maximum": "minimum", "minimum": "maximum", "amax": "amin", "amin": "amax"}
_DROP_CALLS = {"sqrt", "exp", "log", "tanh", "abs", "square"}
_COMMUTATIVE_CALLS = {"maximum", "minimum", "max", "min", "logaddexp", "add", "multiply", "hypot",
                      "isclose", "allclose", "array_equal", "zip"}


@dataclass
class Mutant:
    """One wrong variant of one solution function."""

    function: str      # the function (or Class.method) mutated
    binding: str       # the top-level name the mutated definition rebinds
    cell: int
    operator: str
    line: int          # line within the function, counting its ``def`` line as 1
    before: str
    after: str
    code: str          # source of the mutated top-level definition
    key: str = ""

    def describe(self) -> str:
        return f"{self.function}: line {self.line}: `{self.before}` -> `{self.after}` ({self.operator})"

    def apply(self, namespace: dict):
        """Define the mutant in ``namespace``; returns the previous binding (for ``restore``)."""
        previous = namespace.get(self.binding, _MISSING)
        exec(compile(self.code, f"<mutant {self.key}>", "exec"), namespace)  # noqa: S102
        return previous

    def restore(self, namespace: dict, previous) -> None:
        if previous is _MISSING:
            namespace.pop(self.binding, None)
        else:
            namespace[self.binding] = previous


_MISSING = object()


def solution_lines(source: str) -> set[int]:
    """Line numbers (1-based) strictly inside the solution blocks of a cell."""
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(markers.BEGIN):
            inside = True
        elif stripped.startswith(markers.END):
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _short(node) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _renamed(call: ast.Call, new: str) -> ast.Call:
    call = copy.deepcopy(call)
    if isinstance(call.func, ast.Attribute):
        call.func.attr = new
    else:
        call.func.id = new
    return call


def _variants(node, parent):
    """(operator, replacement node) pairs for one AST node; None replaces a statement by ``pass``."""
    out = []
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op in _ARITH:
            out.append(("arith", ast.BinOp(node.left, _ARITH[op](), node.right)))
        if op is ast.Sub:
            right = ast.unparse(node.right)
            drop = "max-shift" if ".max(" in right or "max(" in right else "drop-term"
            out.append((drop, node.left))
            out.append(("drop-term", ast.UnaryOp(ast.USub(), node.right)))
        elif op in (ast.Add, ast.Mult):
            out += [("drop-term", node.left), ("drop-term", node.right)]
        elif op in (ast.Div, ast.Pow, ast.FloorDiv):
            out.append(("drop-term", node.left))
        if op in _NONCOMMUTATIVE:
            out.append(("swap-args", ast.BinOp(node.right, node.op, node.left)))
    elif isinstance(node, ast.AugAssign):
        op = type(node.op)
        if op in _ARITH:
            out.append(("arith", ast.AugAssign(node.target, _ARITH[op](), node.value)))
        out.append(("drop-update", None))
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        for new in _COMPARE.get(type(node.ops[0]), ()):
            out.append(("compare", ast.Compare(node.left, [new()], node.comparators)))
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        out.append(("compare", ast.BoolOp(other, node.values)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(("unary", node.operand))
    elif isinstance(node, ast.Constant) and not isinstance(parent, ast.Expr):
        v = node.value
        label = "axis" if isinstance(parent, ast.keyword) and parent.arg == "axis" else "constant"
        if isinstance(v, bool):
            if not (isinstance(parent, ast.keyword) and parent.arg == "keepdims"):  # removing it says the same
                out.append((label, ast.Constant(not v)))
        elif isinstance(v, (int, float)):
            out.append((label, ast.Constant(v + 1)))
    elif isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
        out.append(("transpose", node.value))
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        if name == "transpose" and len(node.args) == 1:
            out.append(("transpose", node.args[0]))
        if name in _SWAP_NAMES:
            out.append(("function", _renamed(node, _SWAP_NAMES[name])))
        if name in _DROP_CALLS and len(node.args) == 1 and not node.keywords:
            out.append(("function", node.args[0]))
        if name == "where" and len(node.args) == 3:
            out.append(("swap-args", ast.Call(node.func, [node.args[0], node.args[2], node.args[1]], node.keywords)))
        elif len(node.args) >= 2 and name not in _COMMUTATIVE_CALLS and not any(
                isinstance(a, ast.Starred) for a in node.args[:2]):
            out.append(("swap-args", ast.Call(node.func, [node.args[1], node.args[0], *node.args[2:]], node.keywords)))
        for i, kw in enumerate(node.keywords):
            if kw.arg in ("axis", "keepdims"):
                kws = node.keywords[:i] + node.keywords[i + 1:]
                out.append((kw.arg, ast.Call(node.func, node.args, kws)))
    elif isinstance(node, (ast.List, ast.Tuple)) and isinstance(node.ctx, ast.Load) and len(node.elts) >= 2 \
            and not isinstance(parent, (ast.Subscript, ast.keyword)) and not any(isinstance(e, ast.Starred) for e in node.elts[:2]):
        elts = [node.elts[1], node.elts[0], *node.elts[2:]]
        out.append(("swap-args", type(node)(elts, ast.Load())))
    elif isinstance(node, ast.Return) and node.value is not None and not _is_zero(node.value):
        out.append(("zeros", ast.Return(_zeros_of(node.value))))
    elif isinstance(node, ast.Yield) and node.value is not None:
        out.append(("zeros", ast.Yield(_zeros_of(node.value))))
    return out


def _is_zero(node) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, (bool, str)) and node.value == 0


def _zeros_of(value):
    return ast.Call(ast.Name(ZEROS, ast.Load()), [value], [])


class _Replace(ast.NodeTransformer):
    def __init__(self, target, new):
        self.target, self.new = target, new

    def visit(self, node):
        if node is self.target:
            return ast.Pass() if self.new is None else self.new
        return self.generic_visit(node)


def _parents(tree):
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _targets(tree):
    """(qualified function name, top-level definition, function node) for every function."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield stmt.name, stmt, stmt
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{stmt.name}.{item.name}", stmt, item


def mutants(source: str, cell: int = 0) -> list[Mutant]:
    """Every distinct mutant of the solution code in one cell's ``source``."""
    inside = solution_lines(source)
    if not inside:
        return []
    tree = ast.parse(source)
    out, seen, keys = [], set(), {}
    for qualname, top, func in _targets(tree):
        original = ast.unparse(top)
        parents = _parents(top)
        nodes = list(ast.walk(top))
        body_nodes = set(ast.walk(func))
        for index, node in enumerate(nodes):
            if node not in body_nodes or node is func:
                continue
            start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
            if start is None or not all(n in inside for n in range(start, end + 1)):
                continue
            for operator, new in _variants(node, parents.get(node)):
                mutated_top = copy.deepcopy(top)
                target = list(ast.walk(mutated_top))[index]
                replacement = copy.deepcopy(new) if new is not None else None
                mutated_top = _Replace(target, replacement).visit(mutated_top)
                ast.fix_missing_locations(mutated_top)
                code = ast.unparse(mutated_top)
                if code == original or code in seen:
                    continue
                try:
                    compile(code, "<mutant>", "exec")
                except SyntaxError:
                    continue
                seen.add(code)
                after = "pass" if new is None else _short(new)
                m = Mutant(qualname, top.name, cell, operator, start - func.lineno + 1, _short(node), after, code)
                base = f"{m.function}: line {m.line}: `{m.before}` -> `{m.after}`"
                keys[base] = keys.get(base, 0) + 1
                m.key = base if keys[base] == 1 else f"{base} #{keys[base]}"
                out.append(m)
    return out
