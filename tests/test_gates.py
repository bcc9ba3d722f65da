"""Tests of nnkit.gates: every gate against central differences, the guide's numbers."""
import math
import random

import pytest

import nnkit
from nnkit.gates import (
    AddGate,
    Circuit,
    ExpGate,
    LinearCircuit,
    MaxGate,
    MultiplyGate,
    NegateGate,
    PowerGate,
    ReciprocalGate,
    ReLUGate,
    SigmoidGate,
    SubtractGate,
    TanhGate,
    Unit,
    numerical_gradient,
    random_local_search,
    relative_error,
    sigmoid,
)

# (gate factory, reference function on plain floats)
BINARY = [
    (AddGate, lambda a, b: a + b),
    (SubtractGate, lambda a, b: a - b),
    (MultiplyGate, lambda a, b: a * b),
    (MaxGate, max),
]
UNARY = [
    (SigmoidGate, lambda a: 1.0 / (1.0 + math.exp(-a))),
    (TanhGate, math.tanh),
    (ReLUGate, lambda a: max(a, 0.0)),
    (ExpGate, math.exp),
    (NegateGate, lambda a: -a),
    (ReciprocalGate, lambda a: 1.0 / a),
    (lambda: PowerGate(2), lambda a: a * a),
    (lambda: PowerGate(3), lambda a: a**3),
    (lambda: PowerGate(0.5), math.sqrt),
]


def _gate_grads(make_gate, values, top_grad):
    units = [Unit(v) for v in values]
    gate = make_gate()
    out = gate.forward(*units)
    out.grad = top_grad
    gate.backward()
    return out.value, [u.grad for u in units]


def _random_point(rng, n, positive=False):
    while True:
        xs = [rng.uniform(0.2, 3.0) if positive else rng.uniform(-3.0, 3.0) for _ in range(n)]
        # keep away from the kinks of max and ReLU and from 0 for 1/a
        if n == 2 and abs(xs[0] - xs[1]) < 0.05:
            continue
        if any(abs(v) < 0.05 for v in xs):
            continue
        return xs


@pytest.mark.parametrize("make_gate,ref", BINARY + UNARY)
def test_gate_forward_and_backward_match_central_differences(make_gate, ref):
    rng = random.Random(0)
    n = make_gate().arity
    positive = ref is math.sqrt
    for _ in range(20):
        xs = _random_point(rng, n, positive)
        top = rng.uniform(-2.0, 2.0)
        value, grads = _gate_grads(make_gate, xs, top)
        assert value == pytest.approx(ref(*xs), rel=1e-12)
        numeric = numerical_gradient(lambda *v: top * ref(*v), xs, h=1e-6)
        for g, d in zip(grads, numeric):
            assert g == pytest.approx(d, rel=1e-6, abs=1e-8)


def test_single_gate_and_the_goal():
    out = MultiplyGate().forward(Unit(-2.0), Unit(3.0))
    assert out.value == -6.0
    nudged = MultiplyGate().forward(Unit(-1.99), Unit(2.99)).value
    assert nudged == pytest.approx(-5.9501, abs=1e-12)


def test_forward_difference_numbers_of_strategy_2():
    calls = []

    def f(x, y):
        calls.append((x, y))
        return x * y

    g = numerical_gradient(f, [-2.0, 3.0], h=1e-4, mode="forward")
    assert len(calls) == 3  # n + 1 evaluations for two inputs
    assert g[0] == pytest.approx(3.0, abs=1e-9)
    assert g[1] == pytest.approx(-2.0, abs=1e-9)
    calls.clear()
    numerical_gradient(f, [-2.0, 3.0], h=1e-4, mode="central")
    assert len(calls) == 4  # 2n evaluations


def test_random_local_search_stays_in_box_and_improves():
    nnkit.seed(0)
    (bx, by), best = random_local_search(lambda x, y: x * y, [-2.0, 3.0], 0.01, 100)
    assert -6.0 < best <= -5.9501 + 1e-12
    assert abs(bx + 2) <= 0.01 and abs(by - 3) <= 0.01
    assert best == pytest.approx(bx * by)
    # same seed, same search
    nnkit.seed(0)
    assert random_local_search(lambda x, y: x * y, [-2.0, 3.0])[1] == best


def test_two_gate_circuit_gives_minus_12_and_gradient():
    c = Circuit()
    x, y, z = Unit(-2.0), Unit(5.0), Unit(-4.0)
    q = c(AddGate(), x, y)
    f = c(MultiplyGate(), q, z)
    assert (q.value, f.value) == (3.0, -12.0)
    c.backward(f)
    assert [x.grad, y.grad, z.grad] == [-4.0, -4.0, 3.0]
    assert q.grad == -4.0 and f.grad == 1.0
    # one step along the gradient raises the output
    for u in (x, y, z):
        u.value += 0.01 * u.grad
    assert (x.value + y.value) * z.value == pytest.approx(-11.5924, abs=1e-12)
    # forward differences as in the guide's check
    num = numerical_gradient(lambda a, b, c_: (a + b) * c_, [-2, 5, -4], h=1e-4, mode="forward")
    assert num == pytest.approx([-4, -4, 3], abs=1e-8)


def _neuron(a, b, c, x, y):
    circ = Circuit()
    ax = circ(MultiplyGate(), a, x)
    by = circ(MultiplyGate(), b, y)
    axpby = circ(AddGate(), ax, by)
    axpbypc = circ(AddGate(), axpby, c)
    s = circ(SigmoidGate(), axpbypc)
    return circ, s, (ax, by, axpby, axpbypc)


def test_single_neuron_numbers():
    a, b, c, x, y = Unit(1.0), Unit(2.0), Unit(-3.0), Unit(-1.0), Unit(3.0)
    circ, s, (ax, by, axpby, axpbypc) = _neuron(a, b, c, x, y)
    assert [ax.value, by.value, axpby.value, axpbypc.value] == [-1.0, 6.0, 5.0, 2.0]
    assert s.value == pytest.approx(0.880797, abs=1e-6)
    circ.backward(s)
    dq = s.value * (1 - s.value)
    assert dq == pytest.approx(0.104994, abs=1e-6)
    grads = [a.grad, b.grad, c.grad, x.grad, y.grad]
    assert grads == pytest.approx([-0.104994, 0.314981, 0.104994, 0.104994, 0.209987], abs=1e-6)
    # against the closed form, forward differences as in the guide, and central
    def fast(a_, b_, c_, x_, y_):
        return 1 / (1 + math.exp(-(a_ * x_ + b_ * y_ + c_)))

    fwd = numerical_gradient(fast, [1, 2, -3, -1, 3], h=1e-4, mode="forward")
    assert fwd == pytest.approx([-0.104998, 0.314945, 0.104990, 0.104990, 0.209971], abs=1e-6)
    assert max(abs(g - d) for g, d in zip(grads, fwd)) < 5e-5
    cen = numerical_gradient(fast, [1, 2, -3, -1, 3])
    assert max(relative_error(g, d) for g, d in zip(grads, cen)) < 1e-8
    # a step of 0.01 on all five inputs
    for u in (a, b, c, x, y):
        u.value += 0.01 * u.grad
    assert [a.value, b.value, c.value, x.value, y.value] == pytest.approx(
        [0.998950, 2.003150, -2.998950, -0.998950, 3.002100], abs=1e-6
    )
    _, s2, _ = _neuron(a, b, c, x, y)
    assert s2.value == pytest.approx(0.882550, abs=1e-6)
    assert s2.value > 0.8808


def test_sigmoid_values():
    assert sigmoid(-5) == pytest.approx(0.006693, abs=1e-6)
    assert sigmoid(0) == 0.5
    assert sigmoid(5) == pytest.approx(0.993307, abs=1e-6)
    assert sigmoid(3) * (1 - sigmoid(3)) == pytest.approx(0.045177, abs=1e-6)
    assert sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0  # no overflow


def test_gradients_accumulate_until_reset():
    a, b, c, x, y = Unit(1.0), Unit(2.0), Unit(-3.0), Unit(-1.0), Unit(3.0)
    circ, s, _ = _neuron(a, b, c, x, y)
    circ.backward(s)
    once = [a.grad, b.grad, c.grad, x.grad, y.grad]
    circ.backward(s)
    twice = [a.grad, b.grad, c.grad, x.grad, y.grad]
    assert twice == pytest.approx([2 * g for g in once])
    # by hand, without resetting the inner wires, the stale inner gradients
    # are pulled through again and pile up with depth: c (two gates below the
    # top) gets 1 + 2 = 3 copies, a, b, x, y (four gates below) 1 + 4 = 5
    circ.zero_grad()
    for _ in range(2):
        s.grad = 1.0
        for gate in reversed(circ.gates):
            gate.backward()
    copies = [5, 5, 3, 5, 5]
    assert [a.grad, b.grad, c.grad, x.grad, y.grad] == pytest.approx(
        [k * g for k, g in zip(copies, once)]
    )
    circ.zero_grad()
    assert all(u.grad == 0.0 for u in circ.units())
    circ.backward(s, grad=0.0)  # no pull at the top: no force anywhere
    assert [a.grad, b.grad, c.grad, x.grad, y.grad] == [0.0] * 5


def test_branching_wire_sums_its_gradients():
    # x = a * a: one wire feeds both inputs, gradient 2a
    a = Unit(1.7)
    circ = Circuit()
    out = circ(MultiplyGate(), a, a)
    circ.backward(out)
    assert a.grad == pytest.approx(2 * 1.7)
    # same via PowerGate
    a2 = Unit(1.7)
    circ2 = Circuit()
    circ2.backward(circ2(PowerGate(2), a2))
    assert a2.grad == pytest.approx(a.grad)


def test_max_routes_gradient_and_breaks_ties_to_first_input():
    for (va, vb), expect in [((3.0, 1.0), (5.0, 0.0)), ((1.0, 3.0), (0.0, 5.0)), ((2.0, 2.0), (5.0, 0.0))]:
        _, grads = _gate_grads(MaxGate, [va, vb], 5.0)
        assert tuple(grads) == expect
    _, (g,) = _gate_grads(ReLUGate, [0.0], 1.0)
    assert g == 0.0
    _, (g,) = _gate_grads(ReLUGate, [-0.5], 1.0)
    assert g == 0.0


def test_ninja_quotient_and_square_of_product():
    # x = (a + b) / (c + d) through add, add, reciprocal, multiply
    vals = [1.5, -0.4, 2.0, 0.7]
    a, b, c, d = (Unit(v) for v in vals)
    circ = Circuit()
    x1 = circ(AddGate(), a, b)
    x2 = circ(AddGate(), c, d)
    x3 = circ(ReciprocalGate(), x2)
    x = circ(MultiplyGate(), x1, x3)
    circ.backward(x)
    s, t = 1.5 - 0.4, 2.0 + 0.7
    assert x.value == pytest.approx(s / t)
    assert [a.grad, b.grad] == pytest.approx([1 / t, 1 / t])
    assert [c.grad, d.grad] == pytest.approx([-s / t**2, -s / t**2])
    # x = ((a*b + c) * d)^2
    a, b, c, d = (Unit(v) for v in vals)
    circ = Circuit()
    q = circ(AddGate(), circ(MultiplyGate(), a, b), c)
    x2 = circ(MultiplyGate(), q, d)
    out = circ(PowerGate(2), x2)
    circ.backward(out)
    qv = 1.5 * -0.4 + 2.0
    assert a.grad == pytest.approx(2 * qv * 0.7**2 * -0.4)
    assert d.grad == pytest.approx(2 * qv**2 * 0.7)
    num = numerical_gradient(lambda a_, b_, c_, d_: ((a_ * b_ + c_) * d_) ** 2, vals)
    assert [a.grad, b.grad, c.grad, d.grad] == pytest.approx(num, rel=1e-7)


def test_linear_circuit_force_spec_example():
    a, b, c = Unit(1.0), Unit(-2.0), Unit(-1.0)
    x, y = Unit(1.2), Unit(0.7)
    lc = LinearCircuit()
    score = lc.forward(x, y, a, b, c)
    assert score.value == pytest.approx(-1.2)
    lc.backward(1.0)
    a.grad += -a.value  # the regularization "spring"
    b.grad += -b.value
    assert [a.grad, b.grad, c.grad] == pytest.approx([0.2, 2.7, 1.0])
    assert [x.grad, y.grad] == pytest.approx([1.0, -2.0])


def test_clear_errors():
    with pytest.raises(TypeError, match="MultiplyGate.forward expects 2"):
        MultiplyGate().forward(Unit(1.0))
    with pytest.raises(TypeError, match="input 1 must be a Unit, got float"):
        AddGate().forward(Unit(1.0), 2.0)
    with pytest.raises(RuntimeError, match="SigmoidGate.backward called before forward"):
        SigmoidGate().backward()
    with pytest.raises(ZeroDivisionError, match="ReciprocalGate"):
        ReciprocalGate().forward(Unit(0.0))
    with pytest.raises(ValueError, match="mode"):
        numerical_gradient(lambda x: x, [1.0], mode="backward")
    with pytest.raises(RuntimeError, match="LinearCircuit.backward"):
        LinearCircuit().backward(1.0)
