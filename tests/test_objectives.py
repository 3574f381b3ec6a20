"""DRO baselines as objectives: each checked against a brute-force or closed-form answer.

References are independent of the code under test: scipy's ``linprog`` over the Birkhoff polytope
for the permutahedron argmax, ``scipy.optimize.minimize`` (SLSQP) over the permutahedron described
by its subset inequalities (Rado) and over the capped simplex / χ² ball, enumeration of draws for
the extremile, enumeration of group blocks for DRAGO's unbiasedness, and closed forms.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize

from optviz.objectives import (
    DRAGO,
    ERM,
    RECOVER,
    FastDRO,
    SpectralRisk,
    StaticWeights,
    chi2_best_response,
    cvar_best_response,
    extremile_spectrum,
    permutahedron_kl_argmax,
    superquantile_spectrum,
    tilted_risk,
)

CYRILLIC = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ")


def _losses(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 2.0, size=n)


def _grad_wrt_losses(objective, ell, groups=None):
    t = torch.tensor(ell, dtype=torch.float64, requires_grad=True)
    g = None if groups is None else torch.as_tensor(groups)
    value = objective(t, g)
    (grad,) = torch.autograd.grad(value, t)
    return float(value.detach()), grad.numpy()


# -------------------------------------------------------------------------------------------
# references
# -------------------------------------------------------------------------------------------

def _birkhoff_lp(ell, sigma):
    """max <l, P sigma> over doubly stochastic P (conv of permutations, Birkhoff–von Neumann)."""
    n = len(ell)
    c = -np.outer(ell, sigma).ravel()  # variable P_ij, row-major
    a_eq, b_eq = [], []
    for i in range(n):  # row sums
        row = np.zeros((n, n)); row[i, :] = 1; a_eq.append(row.ravel()); b_eq.append(1.0)
    for j in range(n):  # column sums
        col = np.zeros((n, n)); col[:, j] = 1; a_eq.append(col.ravel()); b_eq.append(1.0)
    res = linprog(c, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
    assert res.status == 0
    p = res.x.reshape(n, n)
    return -res.fun, p @ sigma


def _rado_constraints(sigma):
    """Permutahedron: sum over every subset S <= sum of the |S| largest sigma; total = 1."""
    n = len(sigma)
    top = np.cumsum(np.sort(sigma)[::-1])
    cons = [{"type": "eq", "fun": lambda q: q.sum() - 1.0}]
    for k in range(1, n):
        for s in itertools.combinations(range(n), k):
            idx = list(s)
            cons.append({"type": "ineq", "fun": lambda q, idx=idx, b=top[k - 1]: b - q[idx].sum()})
    return cons


def _kl_u(q):
    n = len(q)
    q = np.clip(q, 1e-300, None)
    return float(np.sum(q * np.log(n * q)))


def _chi2_u(p):
    m = len(p)
    return 0.5 / m * float(np.sum((m * p - 1) ** 2))


def _slsqp_max(obj, n, constraints, bounds):
    best = None
    for start in (np.full(n, 1.0 / n), np.linspace(1, 2, n) / np.linspace(1, 2, n).sum()):
        res = minimize(lambda x: -obj(x), start, method="SLSQP", constraints=constraints, bounds=bounds,
                       options={"ftol": 1e-15, "maxiter": 2000})
        if best is None or -res.fun > best[0]:
            best = (-res.fun, res.x)
    return best


# -------------------------------------------------------------------------------------------
# ERM and static weights
# -------------------------------------------------------------------------------------------

def test_erm_is_the_mean():
    ell = _losses(7, 0)
    value, grad = _grad_wrt_losses(ERM(), ell)
    assert value == pytest.approx(ell.mean(), abs=1e-15)
    np.testing.assert_allclose(grad, np.full(7, 1 / 7))
    assert ERM().pi is None


def test_static_weights_equal_total_weight_per_group_and_balanced_risk():
    groups = np.array([0, 0, 0, 1, 2, 2])
    obj = StaticWeights(3, counts=[3, 1, 2])
    ell = _losses(6, 1)
    value, grad = _grad_wrt_losses(obj, ell, groups)
    # per-sample weight = B * d value / d l_i; total per group must be equal (N/G = 2)
    w = grad * len(ell)
    totals = [w[groups == g].sum() for g in range(3)]
    np.testing.assert_allclose(totals, [2.0, 2.0, 2.0], rtol=1e-12)
    assert w.mean() == pytest.approx(1.0)
    balanced = np.mean([ell[groups == g].mean() for g in range(3)])
    assert value == pytest.approx(balanced, rel=1e-12)
    # built from the group labels: same objective; pi is the inverse frequency prior
    obj2 = StaticWeights(3, groups=torch.tensor(groups))
    assert _grad_wrt_losses(obj2, ell, groups)[0] == pytest.approx(value, rel=1e-14)
    inv = np.array([1 / 3, 1, 1 / 2])
    np.testing.assert_allclose(obj.pi.numpy(), inv / inv.sum())


def test_static_weights_batch_normalisation_and_empty_group():
    obj = StaticWeights(3, counts=[2, 0, 6], normalize="batch")
    ell = np.array([1.0, 2.0, 3.0])
    groups = np.array([0, 2, 2])
    value, _ = _grad_wrt_losses(obj, ell, groups)
    w = np.array([1 / 2, 1 / 6, 1 / 6])
    assert value == pytest.approx((w * ell).sum() / w.sum())
    assert obj.pi[1] == 0 and obj.pi.sum() == pytest.approx(1.0)
    # dataset normalisation ignores the empty group: G+ = 2, total weight per non-empty group = N/2
    obj_d = StaticWeights(3, counts=[2, 0, 6])
    np.testing.assert_allclose(obj_d.weights.numpy() * np.array([2, 0, 6]), [4.0, 0.0, 4.0])


# -------------------------------------------------------------------------------------------
# RECOVER
# -------------------------------------------------------------------------------------------

def test_recover_warmup_then_clipped_tilt():
    ell = np.array([0.1, 0.7, 3.0, 1.2])
    obj = RECOVER(tau=2.0, clip=4.0, warmup_steps=2)
    for _ in range(2):
        value, grad = _grad_wrt_losses(obj, ell)
        assert value == pytest.approx(ell.mean())
        np.testing.assert_allclose(grad, np.full(4, 0.25))
        obj.after_step()
    value, grad = _grad_wrt_losses(obj, ell)
    z = np.clip(2.0 * ell, -4.0, 4.0)
    assert value == pytest.approx((np.exp(z).mean() - 1) / 2.0, rel=1e-14)
    # gradient: exp(tau l_i)/B where not clipped; zero for the clipped sample (tau*l = 6 > C)
    expected = np.where(2.0 * ell > 4.0, 0.0, np.exp(2.0 * ell) / 4)
    np.testing.assert_allclose(grad, expected, rtol=1e-13)


def test_recover_limits():
    ell = np.array([0.2, 1.0, 0.5, 1.7, 0.9])
    small, _ = _grad_wrt_losses(RECOVER(tau=1e-7, clip=None), ell)
    assert small == pytest.approx(ell.mean(), abs=1e-6)
    # the normalised per-sample weights (gradient) tend to uniform / to the arg-max sample
    _, g0 = _grad_wrt_losses(RECOVER(tau=1e-7, clip=None), ell)
    np.testing.assert_allclose(g0 / g0.sum(), np.full(5, 0.2), atol=1e-6)
    _, g1 = _grad_wrt_losses(RECOVER(tau=60.0, clip=None), ell)
    np.testing.assert_allclose(g1 / g1.sum(), np.eye(5)[np.argmax(ell)], atol=1e-10)
    # the tilted risk itself tends to the mean and to the max
    t = torch.tensor(ell)
    assert float(tilted_risk(t, 1e-7)) == pytest.approx(ell.mean(), abs=1e-6)
    assert float(tilted_risk(t, 1e4)) == pytest.approx(ell.max(), abs=math.log(5) / 1e4 + 1e-12)


def test_recover_moving_average_normalisation():
    a, b = np.array([0.3, 1.1, 0.6]), np.array([0.9, 0.2, 1.4])
    obj = RECOVER(tau=1.5, clip=None, gamma=1.0)
    value, grad = _grad_wrt_losses(obj, a)
    ta = torch.tensor(a, requires_grad=True)
    ref = tilted_risk(ta, 1.5)
    (ref_grad,) = torch.autograd.grad(ref, ta)
    assert value == pytest.approx(float(ref.detach()), rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-12)
    # gamma < 1: u <- (1 - gamma) u + gamma * batch mean, gradient = mean(e^{tau l} grad l) / u
    obj = RECOVER(tau=1.5, clip=None, gamma=0.25)
    _grad_wrt_losses(obj, a)
    obj.after_step()
    value, grad = _grad_wrt_losses(obj, b)
    u = 0.75 * np.exp(1.5 * a).mean() + 0.25 * np.exp(1.5 * b).mean()
    assert value == pytest.approx(math.log(u) / 1.5)
    np.testing.assert_allclose(grad, np.exp(1.5 * b) / 3 / u, rtol=1e-12)
    obj.after_step()
    clone = RECOVER(tau=1.5, clip=None, gamma=0.25)
    clone.load_state_dict(obj.state_dict())
    assert _grad_wrt_losses(clone, a)[0] == _grad_wrt_losses(obj, a)[0]


# -------------------------------------------------------------------------------------------
# spectra and the permutahedron argmax
# -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,alpha", [(5, 0.4), (10, 0.3), (7, 0.5), (4, 0.1), (6, 1.0)])
def test_superquantile_spectrum_is_cvar(n, alpha):
    sigma = superquantile_spectrum(n, alpha)
    assert sigma.sum() == pytest.approx(1.0)
    assert np.all(np.diff(sigma) >= -1e-15) and sigma.max() <= 1 / (alpha * n) + 1e-12
    # CVaR_alpha of the empirical distribution by its LP definition: max <p, l>, p <= 1/(alpha n)
    ell = _losses(n, 3)
    res = linprog(-ell, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=(0, 1 / (alpha * n)), method="highs")
    assert np.dot(np.sort(ell), sigma) == pytest.approx(-res.fun, rel=1e-12)


@pytest.mark.parametrize("r", [2, 3])
def test_extremile_spectrum_is_expected_max_of_r_draws(r):
    n = 4
    ell = np.array([0.5, 2.0, 1.0, 0.1])
    sigma = extremile_spectrum(n, r)
    assert sigma.sum() == pytest.approx(1.0) and np.all(np.diff(sigma) > 0)
    brute = np.mean([max(ell[list(idx)]) for idx in itertools.product(range(n), repeat=r)])
    assert np.dot(np.sort(ell), sigma) == pytest.approx(brute, rel=1e-14)
    np.testing.assert_allclose(extremile_spectrum(5, 1.0), np.full(5, 0.2))


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("kind", ["superquantile", "extremile"])
def test_permutahedron_argmax_nu0_matches_birkhoff_lp(n, kind):
    ell = _losses(n, 10 + n)
    sigma = superquantile_spectrum(n, 0.45) if kind == "superquantile" else extremile_spectrum(n, 2.5)
    lp_value, lp_q = _birkhoff_lp(ell, sigma)
    for nu in (0.0, 1e-9):  # nu -> 0: the PAV branch reaches the same vertex
        q = permutahedron_kl_argmax(ell, sigma, nu)
        assert np.dot(q, ell) == pytest.approx(lp_value, abs=1e-9)
        np.testing.assert_allclose(q, lp_q, atol=1e-7)


@pytest.mark.parametrize("n,nu,seed", [(3, 0.3, 0), (4, 0.5, 1), (5, 0.2, 2), (5, 2.0, 3), (4, 0.05, 4)])
@pytest.mark.parametrize("kind", ["superquantile", "extremile"])
def test_permutahedron_argmax_nu_positive_matches_slsqp(n, nu, seed, kind):
    ell = _losses(n, seed)
    sigma = superquantile_spectrum(n, 0.5) if kind == "superquantile" else extremile_spectrum(n, 2.0)
    q = permutahedron_kl_argmax(ell, sigma, nu)

    def objective(x):
        return float(np.dot(x, ell)) - nu * _kl_u(x)

    ref_value, ref_q = _slsqp_max(objective, n, _rado_constraints(sigma), [(1e-12, 1.0)] * n)
    # q is feasible (all Rado inequalities) and at least as good as the numerical optimum
    top = np.cumsum(np.sort(sigma)[::-1])
    for k in range(1, n):
        assert np.sort(q)[::-1][:k].sum() <= top[k - 1] + 1e-12
    assert q.sum() == pytest.approx(1.0, abs=1e-12) and q.min() >= 0
    assert objective(q) >= ref_value - 1e-9
    assert objective(q) == pytest.approx(ref_value, abs=1e-7)
    np.testing.assert_allclose(q, ref_q, atol=2e-4)


@pytest.mark.parametrize("nu", [0.0, 0.05, 0.5])
def test_permutahedron_argmax_larger_n_with_ties_beats_frank_wolfe(nu):
    """n = 12 with tied losses: PAV's value is >= Frank-Wolfe's (LMO over the permutahedron = sorting)."""
    ell = np.round(_losses(12, 5), 1)  # rounding creates ties
    sigma = extremile_spectrum(12, 3.0)

    def f(x):
        return float(np.dot(x, ell)) - (nu * _kl_u(x) if nu > 0 else 0.0)

    x = np.full(12, 1 / 12)
    for t in range(4000):
        grad = ell - (nu * (np.log(12 * np.clip(x, 1e-300, None)) + 1) if nu > 0 else 0.0)
        vertex = np.empty(12)
        vertex[np.argsort(grad)] = np.sort(sigma)  # largest weight to the largest gradient
        x = x + 2.0 / (t + 2) * (vertex - x)
    q = permutahedron_kl_argmax(ell, sigma, nu)
    top = np.cumsum(np.sort(sigma)[::-1])
    assert np.all(np.cumsum(np.sort(q)[::-1])[:-1] <= top[:-1] + 1e-12) and q.sum() == pytest.approx(1.0)
    assert f(q) >= f(x) - 1e-12
    assert f(q) - f(x) < 2e-3
    if nu == 0:
        assert f(q) == pytest.approx(np.dot(np.sort(ell), sigma), abs=1e-14)


def test_spectral_risk_objective_danskin_gradient_and_limits():
    ell = _losses(6, 7)
    obj = SpectralRisk("extremile", r=2.0, nu=0.3)
    value, grad = _grad_wrt_losses(obj, ell)
    q = permutahedron_kl_argmax(ell, extremile_spectrum(6, 2.0), 0.3)
    np.testing.assert_allclose(grad, q, rtol=1e-12)
    assert value == pytest.approx(np.dot(q, ell) - 0.3 * _kl_u(q), rel=1e-12)
    # nu -> infinity: uniform weights (ERM); alpha = 1 superquantile: ERM for any nu
    _, g_inf = _grad_wrt_losses(SpectralRisk("extremile", r=2.0, nu=1e6), ell)
    np.testing.assert_allclose(g_inf, np.full(6, 1 / 6), atol=1e-6)
    v1, g1 = _grad_wrt_losses(SpectralRisk("superquantile", alpha=1.0, nu=0.0), ell)
    assert v1 == pytest.approx(ell.mean()) and np.allclose(g1, 1 / 6)


def test_spectral_risk_over_groups():
    ell = np.array([0.2, 0.4, 1.5, 0.9, 0.1, 2.0])
    groups = np.array([0, 0, 2, 2, 3, 3])  # group 1 absent
    obj = SpectralRisk("superquantile", alpha=0.5, nu=0.2, over="groups", n_groups=4)
    value, grad = _grad_wrt_losses(obj, ell, groups)
    means = np.array([0.3, 1.2, 1.05])
    q = permutahedron_kl_argmax(means, superquantile_spectrum(3, 0.5), 0.2)
    assert value == pytest.approx(np.dot(q, means) - 0.2 * _kl_u(q), rel=1e-12)
    np.testing.assert_allclose(grad, np.repeat(q, 2) / 2, rtol=1e-12)
    np.testing.assert_allclose(obj.pi.numpy(), [q[0], 0.0, q[1], q[2]])


# -------------------------------------------------------------------------------------------
# FastDRO
# -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m,alpha", [(5, 0.4), (8, 0.3), (6, 0.5), (3, 0.2)])
def test_cvar_reg0_is_sorting(m, alpha):
    ell = _losses(m, m)
    p = cvar_best_response(ell, alpha, 0.0)
    order = np.argsort(-ell)
    k = alpha * m
    expected = np.zeros(m)
    expected[order[: math.floor(k)]] = 1 / k
    if math.floor(k) < m:
        expected[order[math.floor(k)]] = 1 - math.floor(k) / k
    np.testing.assert_allclose(p, expected, atol=1e-14)
    res = linprog(-ell, A_eq=np.ones((1, m)), b_eq=[1.0], bounds=(0, 1 / (alpha * m)), method="highs")
    assert np.dot(p, ell) == pytest.approx(-res.fun, rel=1e-12)
    # the same weights as the superquantile spectral risk with nu = 0
    _, g = _grad_wrt_losses(SpectralRisk("superquantile", alpha=alpha, nu=0.0), ell)
    np.testing.assert_allclose(g, p, atol=1e-14)


@pytest.mark.parametrize("m,alpha,reg,seed", [(4, 0.5, 0.3, 0), (5, 0.4, 0.1, 1), (6, 0.3, 1.0, 2), (5, 0.9, 0.05, 3)])
def test_cvar_kl_best_response_matches_slsqp(m, alpha, reg, seed):
    ell = _losses(m, seed)
    obj = FastDRO("cvar", alpha=alpha, reg=reg)
    value, p = _grad_wrt_losses(obj, ell)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p.max() <= 1 / (alpha * m) + 1e-12 and p.min() > 0

    def objective(x):
        return float(np.dot(x, ell)) - reg * _kl_u(x)

    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0}]
    ref_value, ref_p = _slsqp_max(objective, m, cons, [(1e-12, 1 / (alpha * m))] * m)
    assert value == pytest.approx(objective(p), rel=1e-12)
    assert value >= ref_value - 1e-10 and value == pytest.approx(ref_value, abs=1e-8)
    np.testing.assert_allclose(p, ref_p, atol=1e-4)
    # the closed form with the bisection's eta: p_i = min(exp((l_i - eta)/reg), 1/alpha)/m
    free = p < 1 / (alpha * m) - 1e-12
    eta = ell[free] - reg * np.log(m * p[free])
    np.testing.assert_allclose(eta, eta[0], atol=1e-10)


@pytest.mark.parametrize("rho,reg,seed", [(None, 0.5, 0), (None, 2.0, 1), (0.3, 0.0, 2), (0.5, 0.0, 3),
                                          (0.2, 0.3, 4), (1.0, 0.05, 5)])
def test_chi2_best_response_matches_slsqp(rho, reg, seed):
    m = 5
    ell = _losses(m, seed)
    p = chi2_best_response(ell, rho, reg)
    assert p.sum() == pytest.approx(1.0, abs=1e-10) and p.min() >= 0
    if rho is not None:
        assert _chi2_u(p) <= rho + 1e-9

    def objective(x):
        return float(np.dot(x, ell)) - reg * _chi2_u(x)

    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0}]
    if rho is not None:
        cons.append({"type": "ineq", "fun": lambda x: rho - _chi2_u(x)})
    ref_value, ref_p = _slsqp_max(objective, m, cons, [(0.0, 1.0)] * m)
    assert objective(p) >= ref_value - 1e-9 and objective(p) == pytest.approx(ref_value, abs=1e-8)
    np.testing.assert_allclose(p, ref_p, atol=1e-4)
    value, grad = _grad_wrt_losses(FastDRO("chi2", rho=rho, reg=reg), ell)
    np.testing.assert_allclose(grad, p, atol=1e-12)
    assert value == pytest.approx(objective(p), rel=1e-12)


def test_chi2_large_ball_is_the_argmax_and_fastdro_pi():
    ell = np.array([0.1, 0.9, 0.4, 0.9])
    p = chi2_best_response(ell, 1.0, 0.0)  # (m/k - 1)/2 = 0.5 <= rho: uniform on the two maxima
    np.testing.assert_allclose(p, [0, 0.5, 0, 0.5])
    obj = FastDRO("cvar", alpha=0.5, reg=0.2, n_groups=3)
    _, w = _grad_wrt_losses(obj, ell, [0, 2, 2, 1])
    np.testing.assert_allclose(obj.pi.numpy(), [w[0], w[3], w[1] + w[2]])


# -------------------------------------------------------------------------------------------
# DRAGO
# -------------------------------------------------------------------------------------------

def _batch_for(group_losses, groups_in_batch, per_group=2):
    """Samples of the given groups whose group means equal ``group_losses[g]``."""
    ell, g = [], []
    for k in groups_in_batch:
        ell += [group_losses[k] - 0.1, group_losses[k] + 0.1][:per_group]
        g += [k] * per_group
    return np.array(ell), np.array(g)


def test_drago_pi_step_is_the_mirror_formula():
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    init = np.array([0.4, 0.3, 0.2, 0.1])
    eta, nu = 0.7, 0.3
    obj = DRAGO(4, pi_lr=eta, nu=nu, prior=prior, init_pi=init)
    group_losses = np.array([0.5, 1.5, 1.0, 0.2])
    ell, g = _batch_for(group_losses, range(4))
    _grad_wrt_losses(obj, ell, g)
    v = obj.last_dual_estimate.numpy()
    np.testing.assert_allclose(v, group_losses, rtol=1e-14)  # every group present: v = batch means
    obj.after_step()
    logits = (np.log(init) + eta * nu * np.log(prior) + eta * v) / (1 + eta * nu)
    expected = np.exp(logits - logits.max()); expected /= expected.sum()
    np.testing.assert_allclose(obj.pi.numpy(), expected, rtol=1e-13)


def test_drago_matches_full_objective_when_every_group_is_present():
    prior = np.array([0.25, 0.25, 0.5])
    init = np.array([0.2, 0.5, 0.3])
    obj = DRAGO(3, pi_lr=0.1, nu=0.4, prior=prior, init_pi=init)
    ell = np.array([0.3, 0.9, 1.4, 0.2, 0.8, 0.6])
    g = np.array([0, 0, 1, 2, 2, 2])
    value, grad = _grad_wrt_losses(obj, ell, g)
    means = np.array([0.6, 1.4, 1.6 / 3])
    kl = float(np.sum(init * np.log(init / prior)))
    assert value == pytest.approx(np.dot(init, means) - 0.4 * kl, rel=1e-13)
    np.testing.assert_allclose(grad, init[g] / np.bincount(g)[g], rtol=1e-13)


def test_drago_estimator_is_unbiased_over_random_blocks():
    n_groups, b = 4, 2
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    table = np.array([0.9, 0.1, 0.5, 2.0])  # stale entries
    group_losses = np.array([0.4, 1.3, 0.8, 1.1])  # current losses
    nu = 0.2
    full = float(np.dot(pi, group_losses)) - nu * float(np.sum(pi * np.log(pi * n_groups)))
    values, estimates = [], []
    for block in itertools.combinations(range(n_groups), b):
        obj = DRAGO(n_groups, pi_lr=0.5, nu=nu)
        state = obj.state_dict()
        state.update(pi=torch.tensor(pi), table=torch.tensor(table), initialised=True)
        obj.load_state_dict(state)
        ell, g = _batch_for(group_losses, block)
        value, grad = _grad_wrt_losses(obj, ell, g)
        values.append(value)
        estimates.append(obj.last_dual_estimate.numpy())
        np.testing.assert_allclose(grad, (n_groups / b) * pi[g] / 2, rtol=1e-13)
    assert np.mean(values) == pytest.approx(full, rel=1e-13)
    np.testing.assert_allclose(np.mean(estimates, axis=0), group_losses, rtol=1e-13)


def test_drago_periodic_refresh_and_exact_resume():
    obj = DRAGO(3, pi_lr=0.3, nu=0.1, refresh_every=2)
    batches = [(np.array([1.0, 2.0, 0.5]), np.array([0, 1, 1])),
               (np.array([0.4, 0.6, 3.0]), np.array([0, 0, 2])),
               (np.array([0.2, 0.3, 0.7]), np.array([1, 2, 2]))]
    _grad_wrt_losses(obj, *batches[0])
    first_mean = batches[0][0].mean()
    np.testing.assert_allclose(obj.table.numpy(), np.full(3, first_mean))  # table starts at the first batch mean
    obj.after_step()
    np.testing.assert_allclose(obj.table.numpy(), np.full(3, first_mean))  # not yet refreshed
    _grad_wrt_losses(obj, *batches[1])
    obj.after_step()
    # refreshed with the per-group means over both batches; group 2 seen once, all seen
    np.testing.assert_allclose(obj.table.numpy(), [(1.0 + 0.4 + 0.6) / 3, 1.25, 3.0], rtol=1e-14)
    clone = DRAGO(3, pi_lr=0.3, nu=0.1, refresh_every=2)
    clone.load_state_dict(obj.state_dict())
    for o in (obj, clone):
        _grad_wrt_losses(o, *batches[2])
        o.after_step()
    assert torch.equal(obj.pi, clone.pi) and torch.equal(obj.table, clone.table)
    frozen = DRAGO(3, pi_lr=0.0, nu=0.1)
    _grad_wrt_losses(frozen, *batches[0])
    frozen.after_step()
    np.testing.assert_allclose(frozen.pi.numpy(), np.full(3, 1 / 3))


# -------------------------------------------------------------------------------------------
# any optimizer, validation, devices
# -------------------------------------------------------------------------------------------

def _all_objectives(n_groups=3):
    return [ERM(), StaticWeights(n_groups, counts=[5, 3, 2]), RECOVER(tau=0.5, warmup_steps=2),
            SpectralRisk("superquantile", alpha=0.4, nu=0.1), SpectralRisk("extremile", r=2.0, nu=0.0),
            FastDRO("cvar", alpha=0.5, reg=0.1), FastDRO("chi2", rho=0.5, reg=0.1),
            DRAGO(n_groups, pi_lr=0.1, nu=0.01)]


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                                      lambda p: torch.optim.Adam(p, lr=0.05)])
def test_every_objective_trains_a_model_with_any_optimizer(make_opt):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=gen)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    groups = torch.tensor([0] * 20 + [1] * 12 + [2] * 8)
    for obj in _all_objectives():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        opt = make_opt(model.parameters())
        first = None
        for _ in range(30):
            losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
            loss = obj(losses, groups)
            first = losses.mean().item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
            obj.after_step()
        final = torch.nn.functional.cross_entropy(model(x), y).item()
        assert math.isfinite(final) and final < first, obj


@pytest.mark.parametrize("factory,param", [
    (lambda: StaticWeights(0, counts=[]), "n_groups"),
    (lambda: StaticWeights(2, counts=[1, -1]), "counts"),
    (lambda: StaticWeights(2, counts=[1, 2, 3]), "counts"),
    (lambda: StaticWeights(2), "counts"),
    (lambda: StaticWeights(2, counts=[1, 1], normalize="all"), "normalize"),
    (lambda: RECOVER(tau=0.0), "tau"),
    (lambda: RECOVER(clip=-1.0), "clip"),
    (lambda: RECOVER(warmup_steps=-1), "warmup_steps"),
    (lambda: RECOVER(gamma=1.5), "gamma"),
    (lambda: SpectralRisk("median"), "spectrum"),
    (lambda: SpectralRisk(alpha=0.0), "alpha"),
    (lambda: SpectralRisk("extremile", r=0.5), "r"),
    (lambda: SpectralRisk(nu=-0.1), "nu"),
    (lambda: SpectralRisk(over="clients"), "over"),
    (lambda: SpectralRisk(over="groups"), "n_groups"),
    (lambda: FastDRO("kl"), "kind"),
    (lambda: FastDRO(alpha=1.5), "alpha"),
    (lambda: FastDRO("chi2", rho=-1.0, reg=0.1), "rho"),
    (lambda: FastDRO(reg=-1.0), "reg"),
    (lambda: FastDRO("chi2"), "rho"),
    (lambda: DRAGO(0), "n_groups"),
    (lambda: DRAGO(3, pi_lr=-1.0), "pi_lr"),
    (lambda: DRAGO(3, nu=float("nan")), "nu"),
    (lambda: DRAGO(3, prior=[0.5, 0.5]), "prior"),
    (lambda: DRAGO(2, init_pi=[0.3, 0.3]), "init_pi"),
    (lambda: DRAGO(3, refresh_every=0), "refresh_every"),
])
def test_invalid_hyperparameters_raise_russian_errors(factory, param):
    with pytest.raises(ValueError) as err:
        factory()
    msg = str(err.value)
    assert param in msg and CYRILLIC & set(msg), msg


def test_invalid_inputs_raise_russian_errors():
    obj = DRAGO(2)
    with pytest.raises(ValueError, match="groups") as err:
        obj(torch.ones(3), torch.tensor([0, 1, 2]))
    assert CYRILLIC & set(str(err.value))
    with pytest.raises(ValueError, match="losses"):
        obj(torch.ones(3, 2), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="groups"):
        StaticWeights(2, counts=[1, 1])(torch.ones(3), None)
    with pytest.raises(ValueError, match="groups"):
        obj(torch.ones(3), torch.tensor([0, 1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_objectives_on_cuda_match_cpu():
    ell = torch.rand(32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    groups = torch.arange(32) % 3
    for cpu_obj, gpu_obj in zip(_all_objectives(), _all_objectives()):
        a = cpu_obj(ell, groups)
        b = gpu_obj(ell.cuda(), groups.cuda())
        assert b.device.type == "cuda"
        assert float(b) == pytest.approx(float(a), rel=1e-10)
