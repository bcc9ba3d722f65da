"""Real-valued circuits: scalar units and the gates that connect them.

This is the machinery of the first chapter of the course (after the hacker's
guide to neural networks by Andrej Karpathy, Chapter 1, "Real-valued
Circuits"). A circuit is built from *gates*; the wires between gates are
:class:`Unit` objects that carry two numbers:

- ``value``: what flows forward through the wire, and
- ``grad``: d(circuit output)/d(this wire), filled in by the backward pass.

Every gate has

- ``forward(*units) -> Unit``: remember the input units, compute the output
  unit (its ``grad`` starts at 0.0), and return it;
- ``backward()``: read the gradient on the output unit and *add* (``+=``)
  local derivative times that gradient onto each input unit (chain rule).

Gradients accumulate with ``+=`` so that a wire feeding two gates collects the
pull from both branches. The flip side: reset gradients (``unit.grad = 0.0`` or
:meth:`Circuit.zero_grad`) before a fresh backward pass.

Sign convention: as in the guide, the circuits here *increase* their output by
moving inputs along the gradient (``x += step * x.grad``). The later chapters
descend a loss instead.

This module imports only the standard library (``math``, ``random``); it knows
nothing else in nnkit.
"""
from __future__ import annotations

import math
import random as _random
from typing import Callable, Sequence

__all__ = [
    "Unit",
    "Gate",
    "AddGate",
    "SubtractGate",
    "MultiplyGate",
    "MaxGate",
    "SigmoidGate",
    "TanhGate",
    "ReLUGate",
    "ExpGate",
    "NegateGate",
    "ReciprocalGate",
    "PowerGate",
    "Circuit",
    "LinearCircuit",
    "sigmoid",
    "numerical_gradient",
    "random_local_search",
    "relative_error",
]


class Unit:
    """One wire of a circuit: a forward ``value`` and a backward ``grad``.

    ``grad`` holds d(output of the whole circuit)/d(this wire) once a backward
    pass has run. Hacker's guide, Ch. 1, "Example: Single Neuron".
    """

    __slots__ = ("value", "grad", "label")

    def __init__(self, value: float, grad: float = 0.0, label: str = ""):
        if isinstance(value, Unit):
            raise TypeError("Unit(value): value must be a number, got a Unit")
        self.value = float(value)
        self.grad = float(grad)
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Unit({name}value={self.value:.6g}, grad={self.grad:.6g})"


def sigmoid(x: float) -> float:
    """sigma(x) = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Gate:
    """Base class: stores the input units in ``forward`` and the output unit.

    A subclass sets ``arity`` (how many input units it takes), implements
    ``compute(*values) -> float`` and ``backward()``. Inputs are kept as
    ``self.u0``, ``self.u1`` (for binary gates) and the output as ``self.utop``
    ("the unit on top"), the names used in the guide.
    """

    arity = 2

    def __init__(self):
        self.inputs: tuple[Unit, ...] = ()
        self.utop: Unit | None = None

    @property
    def u0(self) -> Unit:
        return self.inputs[0]

    @property
    def u1(self) -> Unit:
        return self.inputs[1]

    def compute(self, *values: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, *units: Unit) -> Unit:
        """Remember ``units``, compute the output value, return a new output Unit."""
        name = type(self).__name__
        if len(units) != self.arity:
            raise TypeError(
                f"{name}.forward expects {self.arity} Unit(s), got {len(units)}"
            )
        for i, u in enumerate(units):
            if not isinstance(u, Unit):
                raise TypeError(
                    f"{name}.forward: input {i} must be a Unit, got {type(u).__name__} "
                    f"(wrap numbers as Unit(value))"
                )
        self.inputs = units
        self.utop = Unit(self.compute(*(u.value for u in units)), 0.0)
        return self.utop

    def _top_grad(self) -> float:
        if self.utop is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self.utop.grad

    def backward(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AddGate(Gate):
    """q = a + b;  dq/da = dq/db = 1: the gradient from above passes unchanged.

    Hacker's guide, Ch. 1, "Recursive Case" and "Patterns in the backward flow".
    """

    def compute(self, a, b):
        return a + b

    def backward(self):
        g = self._top_grad()
        self.u0.grad += 1.0 * g
        self.u1.grad += 1.0 * g


class SubtractGate(Gate):
    """q = a - b;  dq/da = 1, dq/db = -1."""

    def compute(self, a, b):
        return a - b

    def backward(self):
        g = self._top_grad()
        self.u0.grad += 1.0 * g
        self.u1.grad += -1.0 * g


class MultiplyGate(Gate):
    """q = a * b;  dq/da = b, dq/db = a: each input gets the *other* input's value.

    Hacker's guide, Ch. 1, "Analytic Gradient" and "Example: Single Neuron".
    """

    def compute(self, a, b):
        return a * b

    def backward(self):
        g = self._top_grad()
        self.u0.grad += self.u1.value * g
        self.u1.grad += self.u0.value * g


class MaxGate(Gate):
    """q = max(a, b);  the gradient is routed to the larger input, 0 to the other.

    On a tie the first input gets the whole gradient, so the two partials still
    sum to 1 (a valid subgradient). Hacker's guide, Ch. 1, "Patterns in the
    backward flow" and "Becoming a Backprop Ninja".
    """

    def compute(self, a, b):
        return a if a >= b else b

    def backward(self):
        g = self._top_grad()
        if self.u0.value >= self.u1.value:
            self.u0.grad += g
        else:
            self.u1.grad += g


class SigmoidGate(Gate):
    """s = sigma(a) = 1/(1+exp(-a));  ds/da = s (1 - s).

    Hacker's guide, Ch. 1, "Example: Single Neuron".
    """

    arity = 1

    def compute(self, a):
        return sigmoid(a)

    def backward(self):
        g = self._top_grad()
        s = self.utop.value
        self.u0.grad += s * (1.0 - s) * g


class TanhGate(Gate):
    """t = tanh(a);  dt/da = 1 - t**2."""

    arity = 1

    def compute(self, a):
        return math.tanh(a)

    def backward(self):
        g = self._top_grad()
        t = self.utop.value
        self.u0.grad += (1.0 - t * t) * g


class ReLUGate(Gate):
    """r = max(a, 0);  dr/da = 1 if a > 0 else 0 (the gradient stops at a <= 0).

    Hacker's guide, Ch. 1, "Becoming a Backprop Ninja" (Rectified Linear Unit).
    """

    arity = 1

    def compute(self, a):
        return a if a > 0 else 0.0

    def backward(self):
        g = self._top_grad()
        if self.u0.value > 0:
            self.u0.grad += g


class ExpGate(Gate):
    """e = exp(a);  de/da = exp(a) = e."""

    arity = 1

    def compute(self, a):
        return math.exp(a)

    def backward(self):
        g = self._top_grad()
        self.u0.grad += self.utop.value * g


class NegateGate(Gate):
    """n = -a;  dn/da = -1: the pull is flipped."""

    arity = 1

    def compute(self, a):
        return -a

    def backward(self):
        g = self._top_grad()
        self.u0.grad += -1.0 * g


class ReciprocalGate(Gate):
    """r = 1/a;  dr/da = -1/a**2.

    Hacker's guide, Ch. 1, "Becoming a Backprop Ninja" (division as 1/a times b).
    """

    arity = 1

    def compute(self, a):
        if a == 0:
            raise ZeroDivisionError("ReciprocalGate.forward: input value is 0")
        return 1.0 / a

    def backward(self):
        g = self._top_grad()
        a = self.u0.value
        self.u0.grad += (-1.0 / (a * a)) * g


class PowerGate(Gate):
    """p = a**k for a fixed exponent k;  dp/da = k a**(k-1).

    ``PowerGate(2)`` is the square: d(a*a)/da = 2a, the sum of the two
    branches when one wire feeds both inputs of a multiply gate.
    """

    arity = 1

    def __init__(self, exponent: float = 2):
        super().__init__()
        self.exponent = exponent

    def compute(self, a):
        return a ** self.exponent

    def backward(self):
        g = self._top_grad()
        k = self.exponent
        self.u0.grad += k * self.u0.value ** (k - 1) * g

    def __repr__(self) -> str:
        return f"PowerGate({self.exponent})"


class Circuit:
    """Records gates as they are applied; ``backward`` runs them in reverse order.

    >>> c = Circuit()
    >>> x, y, z = Unit(-2.0), Unit(5.0), Unit(-4.0)
    >>> q = c(AddGate(), x, y)
    >>> f = c(MultiplyGate(), q, z)
    >>> c.backward(f)
    >>> (f.value, x.grad, y.grad, z.grad)
    (-12.0, -4.0, -4.0, 3.0)

    Hacker's guide, Ch. 1: "forward all the gates one by one, then backward all
    the gates in reverse order".
    """

    def __init__(self):
        self.gates: list[Gate] = []

    def __call__(self, gate: Gate, *inputs: Unit) -> Unit:
        """Forward ``gate`` on ``inputs``, remember it, return its output unit."""
        out = gate.forward(*inputs)
        self.gates.append(gate)
        return out

    def units(self) -> list[Unit]:
        """Every unit the recorded gates touched (inputs and outputs), each once."""
        seen: dict[int, Unit] = {}
        for gate in self.gates:
            for u in (*gate.inputs, gate.utop):
                seen.setdefault(id(u), u)
        return list(seen.values())

    def zero_grad(self) -> None:
        """Set ``grad = 0`` on every unit of the circuit."""
        for u in self.units():
            u.grad = 0.0

    def backward(self, top: Unit, grad: float = 1.0) -> None:
        """Pull on ``top`` with force ``grad`` and run every gate's backward, last first.

        The gradients of the *inner* wires (outputs of gates) are reset first,
        so a second call adds exactly one more copy of the gradient onto the
        circuit's inputs, as ``loss.backward()`` does in PyTorch. Calling the
        gates' ``backward`` by hand twice instead would also re-add the stale
        inner gradients and over-count.
        """
        if not self.gates:
            raise RuntimeError("Circuit.backward: no gates were forwarded")
        for gate in self.gates:
            gate.utop.grad = 0.0
        top.grad = float(grad)
        for gate in reversed(self.gates):
            gate.backward()


class LinearCircuit:
    """score = a*x + b*y + c from two multiply and two add gates.

    ``forward(x, y, a, b, c)`` takes five Units and returns the score Unit;
    ``backward(gradient_top)`` sets the pull on the score and writes gradients
    into all five inputs. Hacker's guide, Ch. 2, "Learning a Support Vector Machine".
    """

    def __init__(self):
        self.mul_ax = MultiplyGate()
        self.mul_by = MultiplyGate()
        self.add_axby = AddGate()
        self.add_c = AddGate()
        self.score: Unit | None = None

    def forward(self, x: Unit, y: Unit, a: Unit, b: Unit, c: Unit) -> Unit:
        ax = self.mul_ax.forward(a, x)
        by = self.mul_by.forward(b, y)
        axpby = self.add_axby.forward(ax, by)
        self.score = self.add_c.forward(axpby, c)
        return self.score

    def backward(self, gradient_top: float) -> None:
        if self.score is None:
            raise RuntimeError("LinearCircuit.backward called before forward")
        self.score.grad = float(gradient_top)
        self.add_c.backward()
        self.add_axby.backward()
        self.mul_by.backward()
        self.mul_ax.backward()


def numerical_gradient(
    f: Callable[..., float],
    xs: Sequence[float],
    h: float = 1e-5,
    mode: str = "central",
) -> list[float]:
    """Finite-difference gradient of a scalar function f(x_0, ..., x_{n-1}).

    forward:  df/dx_i ~ [f(x + h e_i) - f(x)] / h            (n + 1 calls of f)
    central:  df/dx_i ~ [f(x + h e_i) - f(x - h e_i)] / (2h)  (2n calls of f)

    The forward difference is what the guide uses (Ch. 1, "Numerical Gradient",
    h = 1e-4); its error shrinks like h, the central difference's like h**2.
    """
    if mode not in ("forward", "central"):
        raise ValueError(f"numerical_gradient: mode must be 'forward' or 'central', got {mode!r}")
    if h <= 0:
        raise ValueError(f"numerical_gradient: h must be positive, got {h}")
    xs = [float(v) for v in xs]
    base = f(*xs) if mode == "forward" else None
    grads = []
    for i in range(len(xs)):
        plus = list(xs)
        plus[i] += h
        if mode == "forward":
            grads.append((f(*plus) - base) / h)
        else:
            minus = list(xs)
            minus[i] -= h
            grads.append((f(*plus) - f(*minus)) / (2 * h))
    return grads


def random_local_search(
    f: Callable[..., float],
    xs: Sequence[float],
    tweak: float = 0.01,
    iters: int = 100,
    rng: _random.Random | None = None,
) -> tuple[list[float], float]:
    """Try ``iters`` random nudges x + tweak * U(-1, 1) per input; keep the best.

    Returns ``(best_xs, best_out)``. Every try starts from the original ``xs``
    (the guide's Strategy #1, Ch. 1, "Random Local Search"). ``rng`` is a
    ``random.Random``; by default the module generator seeded by ``nnkit.seed``.
    """
    draw = (rng or _random).random
    best_out = -math.inf
    best_xs = [float(v) for v in xs]
    for _ in range(iters):
        trial = [v + tweak * (2.0 * draw() - 1.0) for v in xs]
        out = f(*trial)
        if out > best_out:
            best_out, best_xs = out, trial
    return best_xs, best_out


def relative_error(a: float, b: float, eps: float = 1e-12) -> float:
    """|a - b| / max(|a|, |b|, eps): the usual yardstick of a gradient check."""
    return abs(a - b) / max(abs(a), abs(b), eps)
