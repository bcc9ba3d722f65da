"""Optimizers, schedules, clipping and penalties against hand-computed numbers.

Every expected value is recomputed here from the update rule with plain
Python floats, one component at a time, never with the library.
"""
import math

import numpy as np
import pytest

from nnkit import optim

# f(w) = 0.5 w^T A w - b^T w, gradient A w - b, minimum at A^{-1} b
A = [[3.0, 0.5], [0.5, 1.0]]
B = [1.0, -2.0]
W0 = [0.5, -0.25]


class P:
    """A stand-in parameter: just .data and .grad arrays."""

    def __init__(self, value):
        self.data = np.array(value, dtype=np.float64)
        self.grad = None


def grad_list(w):
    return [A[i][0] * w[0] + A[i][1] * w[1] - B[i] for i in range(2)]


def f(w):
    w = np.asarray(w)
    return 0.5 * w @ np.array(A) @ w - np.array(B) @ w


def run_library(make, steps=3):
    p = P(W0)
    opt = make([p])
    out = []
    for _ in range(steps):
        p.grad = np.array(A) @ p.data - np.array(B)
        opt.step()
        out.append(p.data.copy())
    return np.array(out)


def run_scalar(update, state_init, steps=3):
    """Apply a per-component scalar rule: update(w_i, g_i, state_i, t) -> (w_i, state_i)."""
    w = list(W0)
    states = [dict(state_init) for _ in w]
    out = []
    for t in range(1, steps + 1):
        g = grad_list(w)
        for i in range(2):
            w[i], states[i] = update(w[i], g[i], states[i], t)
        out.append(list(w))
    return np.array(out)


def test_sgd_three_steps():
    lr = 0.1
    expect = run_scalar(lambda w, g, s, t: (w - lr * g, s), {})
    np.testing.assert_allclose(run_library(lambda ps: optim.SGD(ps, lr=lr)), expect, rtol=1e-12)


def test_momentum_three_steps():
    lr, mu = 0.1, 0.9

    def rule(w, g, s, t):
        v = mu * s["v"] - lr * g
        return w + v, {"v": v}

    expect = run_scalar(rule, {"v": 0.0})
    got = run_library(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    np.testing.assert_allclose(run_library(lambda ps: optim.Momentum(ps, lr=lr)), expect, rtol=1e-12)


def test_momentum_zero_is_plain_gd():
    a = run_library(lambda ps: optim.SGD(ps, lr=0.2))
    b = run_library(lambda ps: optim.SGD(ps, lr=0.2, momentum=1e-300))
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_nesterov_matches_lookahead_form():
    """Run the textbook look-ahead rule v <- mu v - lr grad(theta + mu v), theta <- theta + v.

    The library tracks phi = theta + mu v instead; check phi_t = theta_t + mu v_t.
    """
    lr, mu = 0.1, 0.9
    theta, v = list(W0), [0.0, 0.0]
    # the library starts at phi_0 = theta_0 (v_0 = 0)
    expect = []
    for _ in range(3):
        look = [theta[i] + mu * v[i] for i in range(2)]
        g = grad_list(look)
        v = [mu * v[i] - lr * g[i] for i in range(2)]
        theta = [theta[i] + v[i] for i in range(2)]
        expect.append([theta[i] + mu * v[i] for i in range(2)])
    got = run_library(lambda ps: optim.Nesterov(ps, lr=lr, momentum=mu))
    np.testing.assert_allclose(got, np.array(expect), rtol=1e-12)


def test_adagrad_three_steps():
    lr, eps = 0.5, 1e-8

    def rule(w, g, s, t):
        G = s["G"] + g * g
        return w - lr * g / math.sqrt(G + eps), {"G": G}

    expect = run_scalar(rule, {"G": 0.0})
    np.testing.assert_allclose(run_library(lambda ps: optim.Adagrad(ps, lr=lr)), expect, rtol=1e-12)
    # first step moves every coordinate by about lr, whatever the gradient's size
    np.testing.assert_allclose(np.abs(expect[0] - np.array(W0)), [lr, lr], rtol=1e-6)


def test_rmsprop_three_steps():
    lr, a, eps = 0.01, 0.9, 1e-8

    def rule(w, g, s, t):
        e = a * s["e"] + (1 - a) * g * g
        return w - lr * g / math.sqrt(e + eps), {"e": e}

    expect = run_scalar(rule, {"e": 0.0})
    np.testing.assert_allclose(run_library(lambda ps: optim.RMSprop(ps, lr=lr)), expect, rtol=1e-12)


def test_rmsprop_with_momentum_three_steps():
    lr, a, mu, eps = 0.01, 0.9, 0.5, 1e-8

    def rule(w, g, s, t):
        e = a * s["e"] + (1 - a) * g * g
        v = mu * s["v"] - lr * g / math.sqrt(e + eps)
        return w + v, {"e": e, "v": v}

    expect = run_scalar(rule, {"e": 0.0, "v": 0.0})
    got = run_library(lambda ps: optim.RMSprop(ps, lr=lr, momentum=mu))
    np.testing.assert_allclose(got, expect, rtol=1e-12)


def test_adadelta_three_steps():
    rho, eps = 0.9, 1e-6

    def rule(w, g, s, t):
        eg = rho * s["eg"] + (1 - rho) * g * g
        dw = -math.sqrt(s["ed"] + eps) / math.sqrt(eg + eps) * g
        ed = rho * s["ed"] + (1 - rho) * dw * dw
        return w + dw, {"eg": eg, "ed": ed}

    expect = run_scalar(rule, {"eg": 0.0, "ed": 0.0})
    np.testing.assert_allclose(run_library(lambda ps: optim.Adadelta(ps)), expect, rtol=1e-12)


@pytest.mark.parametrize("eps_inside", [False, True])
def test_adam_three_steps(eps_inside):
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8

    def rule(w, g, s, t):
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        denom = math.sqrt(vh + eps) if eps_inside else math.sqrt(vh) + eps
        return w - lr * mh / denom, {"m": m, "v": v}

    expect = run_scalar(rule, {"m": 0.0, "v": 0.0})
    got = run_library(lambda ps: optim.Adam(ps, lr=lr, eps_inside=eps_inside))
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    # bias correction makes the first step exactly lr * sign(g) (up to eps)
    g0 = np.array(grad_list(W0))
    np.testing.assert_allclose(expect[0], np.array(W0) - lr * np.sign(g0), rtol=1e-6)


def test_adamw_three_steps():
    """Decoupled decay: w <- w - lr * wd * w, then Adam's step on the loss gradient alone."""
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-8, 0.05

    def rule(w, g, s, t):
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return w - lr * wd * w - lr * mh / (math.sqrt(vh) + eps), {"m": m, "v": v}

    expect = run_scalar(rule, {"m": 0.0, "v": 0.0})
    got = run_library(lambda ps: optim.AdamW(ps, lr=lr, weight_decay=wd))
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    coupled = run_library(lambda ps: optim.Adam(ps, lr=lr, weight_decay=wd))
    assert np.abs(got - coupled).max() > 1e-3  # not Adam with an L2 gradient term


def test_adamw_decay_does_not_depend_on_the_gradient_scale():
    """With a zero loss gradient AdamW shrinks w by (1 - lr wd) per step; Adam + L2 moves ~lr per step."""
    lr, wd, steps = 0.01, 0.1, 50
    decoupled, coupled = P([2.0, -0.5]), P([2.0, -0.5])
    opts = optim.AdamW([decoupled], lr=lr, weight_decay=wd), optim.Adam([coupled], lr=lr, weight_decay=wd)
    for _ in range(steps):
        for p, opt in zip((decoupled, coupled), opts):
            p.grad = np.zeros(2)
            opt.step()
    np.testing.assert_allclose(decoupled.data, np.array([2.0, -0.5]) * (1 - lr * wd) ** steps, rtol=1e-12)
    # Adam divides the penalty gradient wd * w by its own size: both weights, 2.0 and -0.5, move
    # nearly lr per step towards 0, as far as each other and far more than the decay's 1% of w
    moved = np.abs(coupled.data - np.array([2.0, -0.5])) / (steps * lr)
    assert np.all((moved > 0.75) & (moved <= 1.0)), moved


def test_adamw_without_decay_is_adam():
    np.testing.assert_array_equal(run_library(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.0), steps=5),
                                  run_library(lambda ps: optim.Adam(ps, lr=0.1), steps=5))
    assert optim.AdamW([P([1.0])]).weight_decay == 0.01  # PyTorch's default


def test_rprop_three_steps():
    lr, em, ep = 0.3, 0.5, 1.2

    def rule(w, g, s, t):
        d, prev = s["d"], s["prev"]
        if g * prev > 0:
            d = min(d * ep, 50.0)
        elif g * prev < 0:
            d = max(d * em, 1e-6)
            g = 0.0
        sign = (g > 0) - (g < 0)
        return w - sign * d, {"d": d, "prev": g}

    expect = run_scalar(rule, {"d": lr, "prev": 0.0}, steps=6)
    got = run_library(lambda ps: optim.Rprop(ps, lr=lr), steps=6)
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    # with this start and lr the sign of some gradient flips within six steps
    flips = any(
        np.sign(grad_list(list(expect[k]))[i]) != np.sign(grad_list(list(expect[k + 1]))[i])
        for k in range(5) for i in range(2)
    )
    assert flips


def test_weight_decay_l1_and_elastic_net_enter_the_gradient():
    lr, l2, l1 = 0.1, 0.3, 0.05

    def rule(w, g, s, t):
        sign = (w > 0) - (w < 0)
        return w - lr * (g + l2 * w + l1 * sign), s

    expect = run_scalar(rule, {})
    got = run_library(lambda ps: optim.SGD(ps, lr=lr, weight_decay=l2, l1=l1))
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    # L2 only: a zero data gradient shrinks the weights by (1 - lr*l2) per step
    p = P([2.0, -4.0])
    opt = optim.SGD([p], lr=lr, weight_decay=l2)
    for _ in range(3):
        p.grad = np.zeros(2)
        opt.step()
    np.testing.assert_allclose(p.data, np.array([2.0, -4.0]) * (1 - lr * l2) ** 3, rtol=1e-12)
    # L1 only: a constant pull of lr*l1 towards zero
    p = P([2.0, -4.0])
    opt = optim.SGD([p], lr=lr, l1=l1)
    for _ in range(3):
        p.grad = np.zeros(2)
        opt.step()
    np.testing.assert_allclose(p.data, [2.0 - 3 * lr * l1, -4.0 + 3 * lr * l1], rtol=1e-12)


def test_max_norm_constraint_projects_columns():
    w = P([[3.0, 0.1], [4.0, 0.2]])  # column norms 5 and ~0.224
    w.grad = np.zeros((2, 2))
    b = P([10.0, -10.0])
    b.grad = np.zeros(2)
    opt = optim.SGD([w, b], lr=0.1, max_norm=2.0, max_norm_axis=0)
    opt.step()
    np.testing.assert_allclose(w.data[:, 0], [3.0 * 2 / 5, 4.0 * 2 / 5], rtol=1e-12)
    np.testing.assert_allclose(w.data[:, 1], [0.1, 0.2], rtol=1e-12)  # already inside: untouched
    np.testing.assert_allclose(b.data, [10.0, -10.0])  # biases are not constrained
    # rows instead (PyTorch's (out, in) layout)
    w2 = P([[3.0, 4.0], [0.3, 0.4]])
    optim.max_norm_([w2], 1.0, axis=-1)
    np.testing.assert_allclose(w2.data, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-12)


def test_params_without_grad_are_skipped_and_zero_grad_clears():
    a, b = P([1.0]), P([2.0])
    a.grad = np.array([1.0])
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert b.data[0] == 2.0 and a.data[0] == pytest.approx(0.9)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_state_dict_round_trip_continues_identically():
    p1, p2 = P(W0), P(W0)
    o1, o2 = optim.Adam([p1], lr=0.05), optim.Adam([p2], lr=0.05)
    for _ in range(2):
        p1.grad = np.array(A) @ p1.data - np.array(B)
        o1.step()
    p2.data[...] = p1.data
    sd = o1.state_dict()
    assert sd["type"] == "Adam" and sd["state"][0]["t"] == 2
    o2.load_state_dict(sd)
    for p, o in ((p1, o1), (p2, o2)):
        p.grad = np.array(A) @ p.data - np.array(B)
        o.step()
    np.testing.assert_array_equal(p1.data, p2.data)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="expected an object with .data and .grad"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([P([1.0])], lr=-1)
    p = P([1.0, 2.0])
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match=r"gradient shape \(3,\) does not match parameter shape \(2,\)"):
        optim.SGD([p], lr=0.1).step()
    with pytest.raises(ValueError, match="eta_minus"):
        optim.Rprop([P([1.0])], etas=(1.5, 1.2))


# -- schedules ---------------------------------------------------------------------------
def rates(sched, n):
    out = [sched.lr]
    for _ in range(n):
        out.append(sched.step())
    return out


def test_step_lr():
    opt = optim.SGD([P([0.0])], lr=1.0)
    assert rates(optim.StepLR(opt, step_size=3, gamma=0.5), 7) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_exponential_lr_tau_and_late_start():
    opt = optim.SGD([P([0.0])], lr=0.2)
    r = rates(optim.ExponentialLR(opt, tau=4, start=2), 6)
    assert r[:3] == [0.2, 0.2, 0.2]
    assert r[6] == pytest.approx(0.2 / math.e)  # tau steps after the start: eta_0 / e
    opt = optim.SGD([P([0.0])], lr=1.0)
    assert rates(optim.ExponentialLR(opt, gamma=0.9), 3) == pytest.approx([1, 0.9, 0.81, 0.729])


def test_cosine_lr():
    opt = optim.SGD([P([0.0])], lr=1.0)
    r = rates(optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.2), 6)
    half = (1 + math.cos(math.pi / 4)) / 2
    assert r == pytest.approx([1.0, 0.2 + 0.8 * half, 0.6, 0.2 + 0.8 * (1 - half), 0.2, 0.2, 0.2])


def test_inverse_time_lr():
    opt = optim.SGD([P([0.0])], lr=0.5)
    assert rates(optim.InverseTimeLR(opt, decay=0.25), 4) == pytest.approx(
        [0.5, 0.5 / 1.25, 0.5 / 1.5, 0.5 / 1.75, 0.25])


def test_linear_warmup_then_step():
    opt = optim.SGD([P([0.0])], lr=1.0)
    after = optim.StepLR(opt, step_size=2, gamma=0.1)
    warm = optim.LinearWarmup(opt, warmup_steps=4, then=after)
    assert rates(warm, 7) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1])
    assert opt.lr == pytest.approx(0.1)


# -- clipping ----------------------------------------------------------------------------
def test_clip_grad_norm_global():
    a, b, c = P([0.0, 0.0]), P([0.0]), P([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])  # global norm 5; c has no grad
    total = optim.clip_grad_norm_([a, b, c], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])
    assert c.grad is None
    total = optim.clip_grad_norm_([a, b], max_norm=10.0)  # below the threshold: unchanged
    assert total == pytest.approx(1.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])


def test_clip_grad_value():
    a = P([0.0, 0.0, 0.0])
    a.grad = np.array([-3.0, 0.2, 7.0])
    optim.clip_grad_value_([a], 0.5)
    np.testing.assert_allclose(a.grad, [-0.5, 0.2, 0.5])


# -- every optimizer makes progress on hard surfaces --------------------------------------
ILL = np.diag([100.0, 1.0])


def rosenbrock_grad(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def rosenbrock(w):
    x, y = w
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


CASES = {
    "SGD": lambda ps: optim.SGD(ps, lr=1e-3),
    "Momentum": lambda ps: optim.Momentum(ps, lr=1e-3, momentum=0.9),
    "Nesterov": lambda ps: optim.Nesterov(ps, lr=1e-3, momentum=0.9),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "Adadelta": lambda ps: optim.Adadelta(ps, lr=1.0),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "Adam": lambda ps: optim.Adam(ps, lr=0.02),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.02, weight_decay=0.01),
    "Rprop": lambda ps: optim.Rprop(ps, lr=0.01),
}


@pytest.mark.parametrize("name", CASES)
def test_each_optimizer_descends_rosenbrock(name):
    p = P([-1.2, 1.0])
    start = rosenbrock(p.data)
    opt = CASES[name]([p])
    for _ in range(2000):
        p.grad = rosenbrock_grad(p.data)
        opt.step()
    end = rosenbrock(p.data)
    assert np.isfinite(end) and end < 0.25 * start, f"{name}: {start} -> {end}"


@pytest.mark.parametrize("name", CASES)
def test_each_optimizer_descends_ill_conditioned_quadratic(name):
    p = P([1.0, 1.0])
    start = 0.5 * p.data @ ILL @ p.data
    opt = CASES[name]([p])
    for _ in range(500):
        p.grad = ILL @ p.data
        opt.step()
    end = 0.5 * p.data @ ILL @ p.data
    assert end < 1e-2 * start, f"{name}: {start} -> {end}"


def test_momentum_beats_gd_on_ill_conditioned_quadratic():
    """Lecture 7, §4.5: with the same stable rate, momentum reaches a target cost sooner."""
    def iters(make):
        p = P([1.0, 1.0])
        opt = make([p])
        for k in range(1, 10000):
            p.grad = ILL @ p.data
            opt.step()
            if 0.5 * p.data @ ILL @ p.data < 1e-6:
                return k
        return 10000

    gd, mom = iters(lambda ps: optim.SGD(ps, lr=0.01)), iters(lambda ps: optim.Momentum(ps, lr=0.01))
    assert mom < gd / 3, (gd, mom)


def test_float32_parameters_stay_float32():
    p = P([1.0, 2.0])
    p.data = p.data.astype(np.float32)
    for make in CASES.values():
        opt = make([p])
        p.grad = np.ones(2, dtype=np.float32)
        opt.step()
        assert p.data.dtype == np.float32


# -- iterate averaging (Lecture 7, eq. 11) ----------------------------------------------------
def test_iterate_average_recurrence():
    p = P([1.0, -1.0])
    ema = optim.IterateAverage([p], tau=4)
    expect = [1.0, -1.0]
    for value in ([2.0, 0.0], [0.0, 4.0], [3.0, 3.0]):
        p.data[...] = value
        ema.update()
        expect = [0.75 * e + 0.25 * v for e, v in zip(expect, value)]
    np.testing.assert_allclose(ema.averages[0], expect, rtol=1e-12)
    q = P([0.0, 0.0])
    ema.copy_to([q])
    np.testing.assert_allclose(q.data, expect)


def test_iterate_average_has_lower_variance_than_noisy_sgd():
    """On f(w) = w^2 / 2 with noisy gradients the averaged iterate scatters far less."""
    rng = np.random.default_rng(0)
    p = P([0.0])
    opt = optim.SGD([p], lr=0.1)
    ema = optim.IterateAverage([p], tau=50)
    raw, avg = [], []
    for k in range(5000):
        p.grad = p.data + rng.standard_normal(1)
        opt.step()
        ema.update()
        if k >= 500:
            raw.append(p.data[0])
            avg.append(ema.averages[0][0])
    # stationary variance of the raw iterate: lr / (2 - lr) = 0.0526
    assert np.var(raw) == pytest.approx(0.1 / 1.9, rel=0.15)
    # the raw iterate is AR(1) with rho = 1 - lr = 0.9; an EMA with beta = 1 - 1/tau = 0.98 of it
    # has variance ratio (1 - beta) / (1 + beta) * (1 + rho beta) / (1 - rho beta) = 0.161
    beta, rho = 0.98, 0.9
    ratio = (1 - beta) / (1 + beta) * (1 + rho * beta) / (1 - rho * beta)
    assert np.var(avg) / np.var(raw) == pytest.approx(ratio, rel=0.3)
    assert np.var(avg) < 0.25 * np.var(raw)
