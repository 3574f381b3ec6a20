"""The 2-D toy group-DRO problem: its ERM and DRO solutions checked by optimality conditions
(autograd, closed forms), and ALSO / Optimistic Mirror-Prox reaching the DRO saddle point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from optviz.optim.also import ALSO
from optviz.optim.mirror_prox import OptimisticMirrorProx
from optviz.problems.dro_toy import DROToy


@pytest.fixture(scope="module")
def P():
    return DROToy()


def test_interface_shapes_and_batching(P):
    assert P.n_groups == 3 and P.groups.dtype == torch.long and P.groups.shape == (P.n_samples,)
    assert list(np.bincount(P.groups.numpy())) == [120, 30, 10]
    x = torch.randn(4, 5, 2, dtype=torch.float64)
    ell = P.losses(x)
    assert ell.shape == (4, 5, P.n_samples) and P.loss(x).shape == (4, 5)
    assert P.group_losses(x).shape == (4, 5, 3)
    # batched value = the value point by point, written directly from ℓ_i = ½(x−c_i)ᵀA(x−c_i)
    x0 = x[2, 3]
    i = 17
    d = x0 - torch.as_tensor(P.points[i])
    A = torch.as_tensor(P.CURVATURES[P.group_ids[i]])
    assert float(ell[2, 3, i]) == pytest.approx(float(0.5 * d @ A @ d), rel=1e-13)
    np.testing.assert_allclose(P.value_np(x.numpy()), P.loss(x).numpy(), rtol=1e-13)
    # F_g = (c/n) Σ_{i∈g} ℓ_i
    F = P.group_losses(x0)
    for g in range(3):
        assert float(F[g]) == pytest.approx(3 / P.n_samples * float(ell[2, 3][P.groups == g].sum()), rel=1e-13)
    (xlo, xhi), (ylo, yhi) = P.window
    assert xlo < P.start[0] < xhi and ylo < P.start[1] < yhi
    assert (P.points.min(0) > [xlo, ylo]).all() and (P.points.max(0) < [xhi, yhi]).all()
    assert P.losses(x.float()).dtype == torch.float32


def test_erm_minimizer(P):
    theta = P.minimizers[0]
    assert np.abs(P.grad_np(theta)).max() < 1e-12
    res = minimize(lambda z: float(P.value_np(z)), np.zeros(2), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 5000})
    np.testing.assert_allclose(theta, res.x, atol=1e-6)
    assert P.f_star == pytest.approx(float(P.value_np(theta)))


@pytest.mark.parametrize("prior", ["uniform", "inverse_frequency"])
@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_dro_solution_is_a_saddle_point(P, prior, tau):
    sol = P.dro_solution(tau, prior)
    pi_hat = P.prior(prior)
    th = torch.tensor(sol.theta, requires_grad=True)
    F = P.group_losses(th)
    # π* is the closed-form best response π ∝ π̂ exp(F/τ)
    best = pi_hat * np.exp(F.detach().numpy() / tau)
    np.testing.assert_allclose(sol.pi, best / best.sum(), rtol=1e-10)
    # θ* minimises Σ π*_g F_g (autograd gradient, independent of the NumPy code in dro_solution)
    (g,) = torch.autograd.grad((torch.as_tensor(sol.pi) * F).sum(), th)
    assert float(g.abs().max()) < 1e-8
    # the value is τ log Σ π̂ exp(F/τ)
    assert sol.value == pytest.approx(tau * np.log((pi_hat * np.exp(F.detach().numpy() / tau)).sum()), rel=1e-12)
    # robust, not ERM
    assert np.linalg.norm(sol.theta - P.minimizers[0]) > 0.15


def test_dro_limits(P):
    # τ → ∞ with a uniform prior: ERM
    np.testing.assert_allclose(P.dro_solution(1e7, "uniform").theta, P.minimizers[0], atol=1e-5)
    # τ = 0: minimise the worst group loss max_g F_g
    sol = P.dro_solution(0.0)
    worst = lambda z: float(P.group_losses(torch.as_tensor(z)).max())  # noqa: E731
    assert sol.value == pytest.approx(worst(sol.theta), abs=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert worst(sol.theta + 1e-3 * rng.standard_normal(2)) >= sol.value - 1e-10
    F = P.group_losses(torch.as_tensor(sol.theta)).numpy()
    assert sol.pi.sum() == pytest.approx(1.0) and (sol.pi >= 0).all()
    assert np.sum(np.abs(F - F.max()) < 1e-6) >= 2     # at least two groups tie at the worst value
    # small τ approaches the τ = 0 solution
    np.testing.assert_allclose(P.dro_solution(1e-3).theta, sol.theta, atol=5e-3)
    assert np.linalg.norm(sol.theta - P.minimizers[0]) > 0.4


def _run(P, opt, th, steps):
    for _ in range(steps):
        opt.zero_grad()
        opt.weighted_loss(P.losses(th), P.groups).backward()
        opt.step()
    with opt.base_point():
        return th.detach().numpy().copy()


@pytest.mark.parametrize("prior", ["uniform", "inverse_frequency"])
def test_also_and_omp_reach_the_dro_solution(P, prior):
    tau = 0.5
    sol = P.dro_solution(tau, prior)
    pi_hat = P.prior(prior)
    th = torch.tensor(P.start, requires_grad=True)
    also = ALSO([th], n_groups=3, lr=0.05, weight_decay=0.0, pi_lr=0.5, pi_decay=tau, prior=pi_hat)
    theta = _run(P, also, th, 400)
    assert np.linalg.norm(theta - sol.theta) < 1e-5
    np.testing.assert_allclose(also.pi.numpy(), sol.pi, atol=1e-5)
    assert np.linalg.norm(theta - P.minimizers[0]) > 0.1         # ... which is not ERM

    th = torch.tensor(P.start, requires_grad=True)
    omp = OptimisticMirrorProx([th], n_groups=3, lr=0.3, pi_lr=0.5, pi_decay=tau, prior=pi_hat)
    theta = _run(P, omp, th, 200)
    assert np.linalg.norm(theta - sol.theta) < 1e-5
    np.testing.assert_allclose(omp.pi.numpy(), sol.pi, atol=1e-5)


def test_grid_of_runs_through_batch_shape(P):
    """Several starts at once: parameter (R, 2), losses (R, n), π (R, 3) — one computation."""
    tau = 0.5
    sol = P.dro_solution(tau, "uniform")
    x = torch.as_tensor(P.starts).clone().requires_grad_(True)
    opt = OptimisticMirrorProx([x], n_groups=3, lr=0.3, pi_lr=0.5, pi_decay=tau, batch_shape=(len(P.starts),))
    final = _run(P, opt, x, 200)
    np.testing.assert_allclose(final, np.tile(sol.theta, (len(P.starts), 1)), atol=1e-5)
    assert opt.pi_history.shape == (201, len(P.starts), 3)
