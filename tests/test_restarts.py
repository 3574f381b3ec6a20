"""Restarts: O'Donoghue–Candès on an ill-conditioned quadratic, the talk's criteria, reset semantics."""

import copy
import math
import warnings

import pytest
import torch

from optviz.optim import adaptive
from optviz.optim.restarts import (
    FixedPeriod,
    FunctionScheme,
    GradientScheme,
    GradNormRatio,
    Restarts,
    ValLossIncrease,
    nesterov_momentum,
)
from optviz.optim.sgd import SGD as OptvizSGD

F64 = torch.float64
KAPPA = 1e3
TOL = 1e-10
PERIOD = math.pi * math.sqrt(KAPPA)  # the ripple period of f − f* predicted by theory


def rotated_quadratic(kappa=KAPPA, angle=0.3):
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, -s], [s, c]], dtype=F64)
    return R @ torch.diag(torch.tensor([1.0, 1.0 / kappa], dtype=F64)) @ R.T  # L = 1, μ = 1/κ, f* = 0


A = rotated_quadratic()


def nesterov_errors(criterion, n, x0=(1.0, 1.0), inner=torch.optim.SGD, **kw):
    """f(y_k) − f* along n steps of Nesterov (lr = 1/L, μ_j = (j−1)/(j+2)) wrapped in Restarts."""
    x = torch.tensor(x0, dtype=F64, requires_grad=True)
    opt = Restarts(inner([x], lr=1.0, momentum=0.5, nesterov=True), criterion,
                   momentum_schedule="nesterov", **kw)

    def closure():
        opt.zero_grad()
        f = 0.5 * x @ A @ x
        f.backward()
        return f

    errs = []
    for _ in range(n):
        errs.append(closure().item())
        opt.step(closure)
    return errs, opt


def settle_time(errs, tol, window):
    """First k with f − f* ≤ tol on all of [k, k + window] (a trough of a ripple does not count)."""
    for k in range(len(errs) - window):
        if max(errs[k:k + window + 1]) <= tol:
            return k
    return None


@pytest.fixture(scope="module")
def no_restart():
    errs, opt = nesterov_errors(None, 900)
    assert opt.restart_steps == []
    return errs


# -- O'Donoghue–Candès on a quadratic with κ = 10³ ------------------------------------------------
@pytest.mark.parametrize("criterion", [GradientScheme, FunctionScheme], ids=["gradient", "function"])
def test_adaptive_restart_is_several_times_faster(criterion, no_restart):
    window = round(PERIOD)
    errs, opt = nesterov_errors(criterion(), 500)
    k = settle_time(errs, TOL, window)
    assert k is not None and opt.restart_steps
    # without restart the same accuracy is not reached (and kept for a ripple period) within 3k steps
    assert 3 * k + window <= len(no_restart)
    assert settle_time(no_restart[: 3 * k + window + 1], TOL, window) is None


def test_ripples_have_period_pi_sqrt_kappa(no_restart):
    e = no_restart
    maxima = [k for k in range(200, len(e) - 1) if e[k - 1] < e[k] >= e[k + 1]]
    assert len(maxima) >= 5
    gaps = [b - a for a, b in zip(maxima, maxima[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(PERIOD, rel=0.10)
    assert all(abs(g - PERIOD) < 0.25 * PERIOD for g in gaps)


def test_gradient_scheme_equals_odonoghue_candes_with_constant_momentum():
    """With a constant μ, torch's Nesterov form + GradientScheme + y ← x rewind is exactly the
    (x, y) algorithm of O'Donoghue & Candès with the gradient restart, written here from the paper."""
    t, mu, n = 0.6, 0.99, 400
    x0 = torch.tensor([1.0, -2.0], dtype=F64)

    # the reference, in the (x, y) form
    x_ref, y_ref, ref_ys, ref_dirs, ref_restarts = x0.clone(), x0.clone(), [], [], []
    for k in range(1, n + 1):
        g = A @ y_ref
        x_new = y_ref - t * g
        ref_dirs.append(float(g @ (x_new - x_ref)))
        if ref_dirs[-1] > 0:
            ref_restarts.append(k)
            y_ref = x_new.clone()
        else:
            y_ref = x_new + mu * (x_new - x_ref)
        x_ref = x_new
        ref_ys.append(y_ref.clone())

    p = x0.clone().requires_grad_(True)
    opt = Restarts(torch.optim.SGD([p], lr=t, momentum=mu, nesterov=True), "gradient")
    for k in range(n):
        opt.zero_grad()
        (0.5 * p @ A @ p).backward()
        opt.step()
        assert torch.allclose(p.detach(), ref_ys[k], rtol=1e-11, atol=1e-13)
        assert opt.last_direction == pytest.approx(ref_dirs[k], rel=1e-8, abs=1e-13)
    assert len(ref_restarts) >= 3
    assert opt.restart_steps == ref_restarts


def test_nesterov_schedule_counts_from_last_restart():
    x = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.1, momentum=0.9, nesterov=True), FixedPeriod(5),
                   momentum_schedule="nesterov")
    seen = []

    def closure():
        seen.append(opt.param_groups[0]["momentum"])
        opt.zero_grad()
        (0.5 * x @ A @ x).backward()
        return None

    for _ in range(12):
        opt.step(closure)
    expected = [(j - 1) / (j + 2) for j in (1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2)]
    assert seen == pytest.approx(expected, abs=0)
    assert [nesterov_momentum(j) for j in (1, 2, 10)] == [0.0, 0.25, 0.75]

    # a callable schedule is accepted too
    opt2 = Restarts(torch.optim.SGD([x], lr=0.1, momentum=0.9), None, momentum_schedule=lambda j: 1 - 1 / j)
    opt2.step(closure)
    opt2.step(closure)
    assert opt2.param_groups[0]["momentum"] == 0.5


# -- the talk's criteria --------------------------------------------------------------------------
def quad_closure(x, opt):
    def closure():
        opt.zero_grad()
        loss = (x**2).sum()
        loss.backward()
        return loss
    return closure


def test_fixed_period_fires_exactly_every_P_steps():
    x = torch.ones(3, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.01, momentum=0.9), FixedPeriod(15))
    for _ in range(50):
        opt.step(quad_closure(x, opt))
    assert opt.restart_steps == [15, 30, 45]

    # the string form, and a manual restart restarts the count
    opt = Restarts(torch.optim.SGD([x], lr=0.01, momentum=0.9), "period", period=4)
    for k in range(1, 15):
        opt.step(quad_closure(x, opt))
        if k == 6:
            opt.restart()
    assert opt.restart_steps == [4, 6, 10, 14]


def test_fixed_period_in_epochs():
    x = torch.ones(3, requires_grad=True)
    opt = Restarts(torch.optim.AdamW([x], lr=0.01), FixedPeriod(15, unit="observe"), reset=("moments", "step"))
    for epoch in range(1, 40):
        for _ in range(3):
            opt.step(quad_closure(x, opt))
        fired = opt.observe()
        assert fired == (epoch % 15 == 0)
    assert opt.restart_steps == [45, 90]


def expected_firings(values, lag, test):
    """Indices k (1-based observations) where test(v_k, v_{k−lag}) holds — from the definition."""
    return [k + 1 for k in range(lag, len(values)) if test(values[k], values[k - lag])]


def ratio_exceeds(threshold):
    def test(new, old):
        if old == 0:
            return new > 0  # ratio +∞ (0/0: no evidence of growth)
        return new / old > threshold
    return test


@pytest.mark.parametrize("lag,threshold", [(1, 2.0), (2, 2.0), (1, 1.5), (3, 3.0)])
def test_grad_norm_ratio_fires_exactly_when_condition_holds(lag, threshold):
    values = [1.0, 1.5, 3.1, 3.0, 6.5, 0.0, 0.0, 1.0, 1.9, 4.0, 4.0, 9.0, 2.0, 0.5, 2.5]
    x = torch.ones(2, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.01), GradNormRatio(lag=lag, threshold=threshold))
    fired = []
    for k, v in enumerate(values, start=1):
        opt.step(quad_closure(x, opt))  # one step per observation: step index = observation index
        if opt.observe(val_grad_norm=torch.tensor(v)):
            fired.append(k)
    expected = expected_firings(values, lag, ratio_exceeds(threshold))
    assert expected  # the sequence exercises the criterion
    assert fired == expected and opt.restart_steps == expected


@pytest.mark.parametrize("lag", [1, 2, 4])
def test_val_loss_increase_fires_exactly_when_condition_holds(lag):
    values = [2.0, 1.5, 1.6, 1.2, 1.1, 1.15, 0.9, 0.95, 0.97, 0.96, 0.5, 0.7]
    x = torch.ones(2, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.01), "val_loss", lag=lag)
    fired = [k for k, v in enumerate(values, start=1) if opt.observe(val_loss=v)]
    assert fired == expected_firings(values, lag, lambda new, old: new > old)
    assert opt.restart_steps == [0] * len(fired)  # no optimizer step was taken in between


def test_function_scheme_from_observed_losses():
    losses = [5.0, 4.0, 4.5, 3.0, 2.0, 2.0, 2.1, 1.0]
    x = torch.ones(2, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.01, momentum=0.9), FunctionScheme(source="observe"))
    fired = []
    for k, v in enumerate(losses, start=1):
        opt.step(quad_closure(x, opt))
        if opt.observe(loss=v):
            fired.append(k)
    assert fired == [3, 7]


# -- reset semantics -------------------------------------------------------------------------------
def loss_fn(x):
    return ((x - torch.arange(x.numel(), dtype=x.dtype)) ** 4).sum() + (x**2).sum()


def advance(opt, x, n):
    for _ in range(n):
        opt.zero_grad()
        loss_fn(x).backward()
        opt.step()


def next_delta(opt, x):
    before = x.detach().clone()
    advance(opt, x, 1)
    return x.detach() - before


X0 = [0.3, -1.2, 2.5, 0.7]


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.Adam(ps, lr=0.01),
    lambda ps: adaptive.Adam(ps, lr=0.01),
    lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.0),
], ids=["torch.Adam", "optviz.Adam", "torch.AdamW"])
def test_moments_and_step_reset_gives_a_fresh_adam_step(make):
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(make([x]), None, reset=("moments", "step"))
    advance(opt, x, 20)
    opt.restart()
    assert opt.restart_steps == [20]
    point = x.detach().clone()
    delta = next_delta(opt, x)

    y = point.clone().requires_grad_(True)
    fresh = make([y])
    fresh_delta = next_delta(fresh, y)
    assert torch.allclose(delta, fresh_delta, rtol=1e-12, atol=1e-15)
    g = torch.autograd.functional.jacobian(loss_fn, point)
    assert torch.allclose(delta, -0.01 * torch.sign(g), rtol=1e-6)  # ≈ lr·sign(g)


def test_moments_only_reset_keeps_bias_correction_running():
    """reset=("moments",): m, v restart from 0 but t keeps counting, so the first step after the
    restart is lr·(1−β1)/(1−β1^t) · g / (√((1−β2)g²)/√(1−β2^t) + ε)
    ≈ lr·sign(g)·(1−β1)/(1−β1^t)·√((1−β2^t)/(1−β2)) — at t = 21 about 0.51·lr, not a fresh step."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(torch.optim.Adam([x], lr=lr), None, reset="moments")
    advance(opt, x, 20)
    opt.restart()
    g = torch.autograd.functional.jacobian(loss_fn, x.detach().clone())
    delta = next_delta(opt, x)
    t = 21
    m, v = (1 - b1) * g, (1 - b2) * g * g
    expected = -lr * (m / (1 - b1**t)) / (v.sqrt() / math.sqrt(1 - b2**t) + eps)
    assert torch.allclose(delta, expected, rtol=1e-10)
    factor = (1 - b1) / (1 - b1**t) * math.sqrt((1 - b2**t) / (1 - b2))
    assert torch.allclose(delta.abs(), torch.full_like(delta, lr * factor), rtol=1e-6)
    assert factor < 0.6


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, dampening=0.5),
    lambda ps: OptvizSGD(ps, lr=0.01, momentum=0.9, dampening=0.5),
], ids=["torch.SGD", "optviz.SGD"])
def test_momentum_reset_clears_sgd_buffer(make):
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(make([x]), None)  # default reset=("momentum",)
    advance(opt, x, 10)
    assert "momentum_buffer" in opt.state[x]
    opt.restart()
    assert "momentum_buffer" not in opt.state[x]
    g = torch.autograd.functional.jacobian(loss_fn, x.detach().clone())
    delta = next_delta(opt, x)
    assert torch.allclose(delta, -0.01 * g, rtol=1e-12)  # a fresh SGD's first step: b = g, no dampening


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.9),
    lambda ps: adaptive.RMSProp(ps, lr=0.01, momentum=0.9),
], ids=["torch.RMSprop", "optviz.RMSProp"])
def test_momentum_reset_on_rmsprop_keeps_square_avg(make):
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(make([x]), None, reset=("momentum",))
    advance(opt, x, 10)
    v = opt.state[x]["square_avg"].clone()
    opt.restart()
    assert torch.count_nonzero(opt.state[x]["momentum_buffer"]) == 0
    assert torch.equal(opt.state[x]["square_avg"], v)
    g = torch.autograd.functional.jacobian(loss_fn, x.detach().clone())
    delta = next_delta(opt, x)
    v_new = 0.99 * v + 0.01 * g * g
    assert torch.allclose(delta, -0.01 * g / (v_new.sqrt() + 1e-8), rtol=1e-12)  # b = 0·μ + g/a


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.3, lr_decay=0.01),
    lambda ps: adaptive.Adagrad(ps, lr=0.1, initial_accumulator_value=0.3, lr_decay=0.01),
], ids=["torch.Adagrad", "optviz.Adagrad"])
def test_adagrad_reset_restores_initial_accumulator(make):
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(make([x]), None, reset=("moments", "step"))
    advance(opt, x, 10)
    opt.restart()
    assert torch.allclose(opt.state[x]["sum"], torch.full((4,), 0.3, dtype=F64))
    point = x.detach().clone()
    delta = next_delta(opt, x)
    y = point.clone().requires_grad_(True)
    assert torch.allclose(delta, next_delta(make([y]), y), rtol=1e-12)


def test_reset_all_drops_the_state():
    x = torch.tensor(X0, dtype=F64, requires_grad=True)
    opt = Restarts(torch.optim.AdamW([x], lr=0.01, amsgrad=True), None, reset="all")
    advance(opt, x, 10)
    opt.restart()
    assert len(opt.state[x]) == 0
    point = x.detach().clone()
    delta = next_delta(opt, x)
    y = point.clone().requires_grad_(True)
    assert torch.allclose(delta, next_delta(torch.optim.AdamW([y], lr=0.01, amsgrad=True), y), rtol=1e-12)


def test_wraps_optviz_sgd_like_torch_sgd():
    """The gradient scheme with optviz's SGD follows exactly the same path as with torch's."""
    e_torch, o_torch = nesterov_errors(GradientScheme(), 300)
    e_optviz, o_optviz = nesterov_errors(GradientScheme(), 300, inner=OptvizSGD)
    assert o_optviz.restart_steps == o_torch.restart_steps and o_torch.restart_steps
    assert e_optviz == pytest.approx(e_torch, rel=1e-9, abs=1e-300)


# -- LR restarts are torch's scheduler; state_dict ------------------------------------------------
def test_composes_with_cosine_annealing_warm_restarts():
    x = torch.ones(3, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=0.1, momentum=0.9), FixedPeriod(7))
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt.optimizer, T_0=5, eta_min=0.01)
    assert opt.param_groups is opt.optimizer.param_groups
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        for _ in range(20):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step(quad_closure(x, opt))
            sched.step()
    expected = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * (k % 5) / 5)) / 2 for k in range(20)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert opt.restart_steps == [7, 14]


def test_state_dict_round_trip_continues_identically():
    def make():
        x = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
        opt = Restarts(torch.optim.SGD([x], lr=1.0, momentum=0.5, nesterov=True), GradientScheme(),
                       momentum_schedule="nesterov")
        return x, opt

    def go(x, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (0.5 * x @ A @ x).backward()
            opt.step()

    x, opt = make()
    go(x, opt, 110)  # the first restart happens later (near step 120), the second even later
    saved = copy.deepcopy(opt.state_dict())
    x_saved = x.detach().clone()
    go(x, opt, 250)
    assert len(opt.restart_steps) >= 2

    x2, opt2 = make()
    with torch.no_grad():
        x2.copy_(x_saved)
    opt2.load_state_dict(saved)
    go(x2, opt2, 250)
    assert torch.equal(x2.detach(), x.detach())
    assert opt2.restart_steps == opt.restart_steps
    assert (opt2.step_count, opt2.steps_since_restart) == (opt.step_count, opt.steps_since_restart)


def test_state_dict_keeps_criterion_history():
    x = torch.ones(2, requires_grad=True)
    opt = Restarts(torch.optim.Adam([x], lr=0.01), ValLossIncrease(lag=2), reset=("moments", "step"))
    for v in (3.0, 2.0):
        opt.observe(val_loss=v)
    other = Restarts(torch.optim.Adam([x], lr=0.01), ValLossIncrease(lag=2), reset=("moments", "step"))
    other.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert other.observe(val_loss=2.5) is False  # 2.5 < 3.0 (two observations back)
    assert other.observe(val_loss=2.1) is True  # 2.1 > 2.0


# -- bad input ---------------------------------------------------------------------------------------
def cyrillic(msg):
    return any("а" <= ch <= "я" for ch in msg.lower())


@pytest.mark.parametrize("args,kwargs,name", [
    (("periodic",), {}, "criterion"),
    ((42,), {}, "criterion"),
    (("val_loss",), dict(lag=0), "lag"),
    (("val_loss",), dict(lag=1.5), "lag"),
    (("grad_norm_ratio",), dict(threshold=0.0), "threshold"),
    (("grad_norm_ratio",), dict(threshold=float("nan")), "threshold"),
    (("grad_norm_ratio",), dict(lag=-1), "lag"),
    (("period",), dict(period=0), "period"),
    (("period",), dict(period=5, unit="epoch"), "unit"),
    (("function",), dict(source="loss"), "source"),
    (("period",), dict(period=3, patience=2), "patience"),
    ((None,), dict(reset=("velocity",)), "reset"),
    ((None,), dict(momentum_schedule="cosine"), "momentum_schedule"),
    ((FixedPeriod(3),), dict(period=4), "period"),
])
def test_bad_arguments(args, kwargs, name):
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=name) as info:
        Restarts(torch.optim.SGD([x], lr=0.1), *args, **kwargs)
    assert cyrillic(str(info.value))


def test_bad_use():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(TypeError):
        Restarts("adam", None)
    with pytest.raises(ValueError, match="momentum"):
        Restarts(torch.optim.Adam([x]), None, momentum_schedule="nesterov")
    opt = Restarts(torch.optim.SGD([x], lr=0.1), GradNormRatio())
    with pytest.raises(ValueError, match="observe"):
        opt.observe(val_acc=0.9)
    with pytest.raises(ValueError, match="val_grad_norm"):
        opt.observe(val_loss=0.9)
    with pytest.raises(ValueError, match="val_grad_norm"):
        opt.observe(val_grad_norm=-1.0)
    with pytest.raises(ValueError, match="val_loss"):
        Restarts(torch.optim.SGD([x], lr=0.1), "val_loss").observe(val_loss=float("nan"))
    fs = Restarts(torch.optim.SGD([x], lr=0.1), "function")
    (x**2).sum().backward()
    with pytest.raises(ValueError, match="closure") as info:
        fs.step()
    assert cyrillic(str(info.value))
    bad_schedule = Restarts(torch.optim.SGD([x], lr=0.1, momentum=0.5), None, momentum_schedule=lambda j: 1.5)
    with pytest.raises(ValueError, match="momentum"):
        bad_schedule.step()


# -- CUDA --------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_cuda_adam_reset_and_gradient_scheme():
    x = torch.tensor(X0, dtype=F64, device="cuda", requires_grad=True)
    opt = Restarts(torch.optim.Adam([x], lr=0.01), None, reset=("moments", "step"))
    advance_cuda = lambda o, p: (o.zero_grad(), ((p - 1) ** 4).sum().backward(), o.step())  # noqa: E731
    for _ in range(10):
        advance_cuda(opt, x)
    opt.restart()
    point = x.detach().clone()
    advance_cuda(opt, x)
    y = point.clone().requires_grad_(True)
    fresh = torch.optim.Adam([y], lr=0.01)
    advance_cuda(fresh, y)
    assert torch.allclose(x.detach(), y.detach(), rtol=1e-12)

    steps = {}
    for device in ("cpu", "cuda"):
        A_dev = A.to(device)
        p = torch.tensor([1.0, 1.0], dtype=F64, device=device, requires_grad=True)
        o = Restarts(torch.optim.SGD([p], lr=1.0, momentum=0.5, nesterov=True), "gradient",
                     momentum_schedule="nesterov")
        for _ in range(300):
            o.zero_grad()
            (0.5 * p @ A_dev @ p).backward()
            o.step()
        steps[device] = o.restart_steps
    assert steps["cuda"] == steps["cpu"] and steps["cpu"]
