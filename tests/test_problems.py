"""Toys and finite sums checked against closed forms, finite differences, scipy and autograd."""

import itertools
import math

import numpy as np
import pytest
import scipy.optimize
import torch

from optviz.problems.finite_sums import LinearRegression, LogisticRegression
from optviz.problems.toys import (
    TOYS,
    Beale,
    Booth,
    ExpCosh,
    Himmelblau,
    Quadratic,
    Quartic,
    Rastrigin,
    Rosenbrock,
    Saddle,
    StyblinskiTang,
    make_toy,
)

ALL_TOYS = [Rosenbrock(), Rosenbrock(a=2.0, b=5.0), Himmelblau(), Rastrigin(), Rastrigin(dim=3), Beale(), Booth(),
            StyblinskiTang(), StyblinskiTang(dim=3), Quadratic(kappa=25, angle_deg=30, mu=0.5, center=(1, -2)),
            Saddle(), Quartic(), ExpCosh()]
WITH_MINIMA = [p for p in ALL_TOYS if len(p.minimizers)]


# -- minimisers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", WITH_MINIMA, ids=repr)
def test_minimizers_are_stationary_strict_minima_with_stated_value(p):
    m = torch.tensor(p.minimizers)
    assert m.shape[1] == p.dim
    assert torch.allclose(p.loss(m), torch.full((len(m),), p.f_star, dtype=torch.float64), atol=1e-12, rtol=1e-13)
    assert p.grad(m).abs().max() < 1e-10  # autograd, independent of the hand-written gradient
    for point in m:
        evals = torch.linalg.eigvalsh(p.hessian(point))
        if isinstance(p, Quartic):  # x⁴: degenerate minimum, Hessian 0 — check the neighbourhood instead
            assert evals.min() >= 0
            near = point + torch.linspace(-1e-2, 1e-2, 11, dtype=torch.float64)[:, None]
            assert (p.loss(near)[torch.arange(11) != 5] > p.f_star).all()
        else:
            assert evals.min() > 0, f"{p!r}: Hessian not PD at {point.tolist()}"


def test_published_minima():
    h = Himmelblau()
    assert len(h.minimizers) == 4 and h.f_star == 0
    assert np.allclose(Beale().minimizers, [[3.0, 0.5]])
    assert np.allclose(Booth().minimizers, [[1.0, 3.0]])
    assert np.allclose(Rosenbrock().minimizers, [[1.0, 1.0]])
    assert Rastrigin().f_star == 0 and np.allclose(Rastrigin().minimizers, 0)
    for d in (1, 2, 5):
        assert StyblinskiTang(dim=d).f_star == pytest.approx(-39.16617 * d, abs=1e-5 * d)
    # the 1-D Styblinski–Tang minimum found independently by scipy
    res = scipy.optimize.minimize_scalar(lambda t: 0.5 * (t**4 - 16 * t**2 + 5 * t), bounds=(-5, 0), method="bounded",
                                         options={"xatol": 1e-12})
    assert StyblinskiTang(dim=1).minimizers[0, 0] == pytest.approx(res.x, abs=1e-7)
    assert StyblinskiTang(dim=1).f_star == pytest.approx(res.fun, abs=1e-12)
    assert ExpCosh().f_star == 2.0 and Quartic().f_star == 0.0
    assert Saddle().f_star == -math.inf and len(Saddle().minimizers) == 0


def test_himmelblau_has_exactly_the_four_listed_minima():
    h = Himmelblau()
    found = set()
    for start in itertools.product(np.linspace(-4.5, 4.5, 7), repeat=2):
        res = scipy.optimize.minimize(lambda z: float(h.value_np(z)), start, jac=lambda z: h.grad_np(z),
                                      method="BFGS", options={"gtol": 1e-10})
        if res.fun < 1e-12:
            d = np.linalg.norm(h.minimizers - res.x, axis=1)
            assert d.min() < 1e-6, f"unlisted global minimum {res.x}"
            found.add(int(d.argmin()))
    assert found == {0, 1, 2, 3}


# -- values and gradients --------------------------------------------------------------------------

@pytest.mark.parametrize("p", ALL_TOYS, ids=repr)
def test_gradients_match_finite_differences_and_autograd(p):
    rng = np.random.default_rng(0)
    lo = np.array([w[0] for w in p.window])
    hi = np.array([w[1] for w in p.window])
    pts = lo + (hi - lo) * rng.random((20, p.dim))
    g_auto = p.grad(pts).numpy()
    g_hand = p.grad_np(pts)
    np.testing.assert_allclose(g_hand, g_auto, rtol=1e-12, atol=1e-9)
    h = 1e-5
    fd = np.empty_like(pts)
    for i in range(p.dim):
        e = np.zeros(p.dim)
        e[i] = h
        fd[:, i] = (p.value_np(pts + e) - p.value_np(pts - e)) / (2 * h)
    np.testing.assert_allclose(g_auto, fd, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("p", ALL_TOYS, ids=repr)
def test_batched_torch_numpy_and_grid_agree(p):
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(3, 4, p.dim))
    t = p.loss(torch.tensor(pts))
    assert t.shape == (3, 4) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), p.value_np(pts), rtol=1e-14)
    v, g = p.value_and_grad_np(pts)
    np.testing.assert_allclose(v, p.value_np(pts), rtol=1e-14)
    assert g.shape == pts.shape
    assert p.title and p.formula and p.start.shape == (p.dim,)
    if p.dim == 2:
        X, Y, Z = p.grid(11)
        assert Z.shape == (11, 11)
        assert Z[5, 7] == pytest.approx(float(p.value_np([X[5, 7], Y[5, 7]])))


def test_make_toy_and_registry():
    assert isinstance(make_toy("quadratic", kappa=4), Quadratic)
    assert set(TOYS) >= {"rosenbrock", "himmelblau", "rastrigin", "beale", "booth", "styblinski_tang",
                         "quadratic", "saddle", "quartic", "exp_cosh"}
    with pytest.raises(ValueError, match="Неизвестная"):
        make_toy("nope")


# -- the quadratic -------------------------------------------------------------------------------

@pytest.mark.parametrize("kappa,angle", [(1.0, 0.0), (10.0, 30.0), (100.0, -60.0), (7.5, 135.0)])
def test_quadratic_condition_number_and_rotation(kappa, angle):
    q = Quadratic(kappa=kappa, angle_deg=angle, mu=0.3)
    H = q.hessian(np.zeros(2)).numpy()
    evals, evecs = np.linalg.eigh(H)
    assert evals[0] == pytest.approx(0.3, rel=1e-12) and evals[1] == pytest.approx(0.3 * kappa, rel=1e-12)
    assert q.L / q.mu == pytest.approx(kappa)
    if kappa > 1:
        t = math.radians(angle)
        assert abs(abs(evecs[:, 0] @ [math.cos(t), math.sin(t)]) - 1) < 1e-12  # flat direction


@pytest.mark.parametrize("kappa", [4.0, 30.0])
def test_quadratic_optimal_gd_step_rate(kappa):
    q = Quadratic(kappa=kappa, angle_deg=20, center=(0.5, -1))
    x = np.array([2.0, 1.0])
    a = q.optimal_step
    assert a == pytest.approx(2 / (q.mu + q.L))
    errs = []
    for _ in range(20):
        errs.append(np.linalg.norm(x - q.center))
        x = x - a * q.grad_np(x)
    ratios = np.array(errs[1:]) / np.array(errs[:-1])
    np.testing.assert_allclose(ratios, (kappa - 1) / (kappa + 1), rtol=1e-10)
    assert q.gd_step_rate(a) == pytest.approx(q.gd_rate)
    assert q.gd_step_rate(2.05 / q.L) > 1


@pytest.mark.parametrize("kappa", [9.0, 100.0])
def test_quadratic_heavy_ball_pair_is_optimal(kappa):
    q = Quadratic(kappa=kappa, angle_deg=45)
    A = q.matrix

    def radius(alpha, beta):  # spectral radius of x+ = x − α∇f + β(x − x−)
        M = np.block([[(1 + beta) * np.eye(2) - alpha * A, -beta * np.eye(2)], [np.eye(2), np.zeros((2, 2))]])
        return np.abs(np.linalg.eigvals(M)).max()

    a, b = q.heavy_ball_params
    sk = math.sqrt(kappa)
    assert a == pytest.approx(4 / (math.sqrt(q.L) + math.sqrt(q.mu)) ** 2)
    assert b == pytest.approx(((sk - 1) / (sk + 1)) ** 2)
    assert radius(a, b) == pytest.approx(q.heavy_ball_rate, rel=1e-6)
    assert q.heavy_ball_rate == pytest.approx((sk - 1) / (sk + 1))
    for da, db in [(1.05, 1), (0.95, 1), (1, 1.1), (1, 0.9)]:
        assert radius(a * da, min(b * db, 0.999)) > radius(a, b) - 1e-9


def test_quadratic_validation():
    with pytest.raises(ValueError, match="kappa"):
        Quadratic(kappa=0.5)
    with pytest.raises(ValueError, match="mu"):
        Quadratic(mu=0.0)
    with pytest.raises(ValueError, match="center"):
        Quadratic(center=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="lr"):
        Quadratic().gd_step_rate(-1.0)
    with pytest.raises(ValueError, match="Параметр b"):
        Rosenbrock(b=0)
    with pytest.raises(ValueError, match="dim"):
        Rastrigin(dim=0)


# -- (L0, L1) examples --------------------------------------------------------------------------

@pytest.mark.parametrize("p,tight_at", [(Quartic(), 1.0), (ExpCosh(), 0.0)], ids=["x^4", "cosh"])
def test_l0_l1_constants(p, tight_at):
    xs = np.linspace(-8, 8, 4001)[:, None]
    d1 = p.grad_np(xs)[:, 0]
    d2 = np.array([float(p.hessian(x)) for x in xs[::20]])
    bound = p.L0 + p.L1 * np.abs(d1[::20])
    assert np.all(np.abs(d2) <= bound * (1 + 1e-12))
    # the constants cannot be lowered: equality at the stated point
    h = float(p.hessian(np.array([tight_at])))
    assert h == pytest.approx(p.L0 + p.L1 * abs(float(p.grad_np([tight_at])[0])))


def test_l0l1_step_iterates_from_methods_md():
    f, x = Quartic(), 10.0
    got = []
    for _ in range(3):
        g = float(f.grad_np([x])[0])
        x = x - g / (f.L0 + f.L1 * abs(g))
        got.append(x)
    np.testing.assert_allclose(got, [9.50025, 9.00054, 8.50088], atol=5e-6)


# -- linear regression ----------------------------------------------------------------------------

def test_linear_regression_optima_and_constants():
    lr = LinearRegression(n_samples=40, batch_size=5, seed=3)
    assert lr.grad(lr.optimum).abs().max() < 1e-12
    assert lr.f_star == pytest.approx(float(lr.loss(torch.tensor(lr.optimum))))
    H = lr.hessian(lr.optimum).numpy()
    ev = np.linalg.eigvalsh(H)
    assert ev[0] == pytest.approx(lr.mu, rel=1e-10) and ev[1] == pytest.approx(lr.L, rel=1e-10)
    for batch in lr.sample_batches(10, seed=1):
        star = lr.batch_optimum(batch)
        A, y = lr.A[batch], lr.y[batch]
        np.testing.assert_allclose(A.T @ (A @ star - y), 0, atol=1e-10)  # normal equations
        assert lr.grad(star, batch=batch).abs().max() < 1e-10
        assert float(lr.loss(star, batch=batch)) == pytest.approx(
            float(np.mean(0.5 * (A @ star - y) ** 2)), rel=1e-12)
    # the fitted line
    np.testing.assert_allclose(lr.predict(lr.optimum, lr.t), lr.A @ lr.optimum)


def test_sample_batches_reproducible_and_distinct():
    lr = LinearRegression(n_samples=30, batch_size=7)
    b1, b2 = lr.sample_batches(50, seed=5), lr.sample_batches(50, seed=5)
    assert b1.shape == (50, 7)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(b1, lr.sample_batches(50, seed=6))
    assert all(len(set(row)) == 7 for row in b1)
    assert b1.min() >= 0 and b1.max() < 30
    counts = np.bincount(lr.sample_batches(3000, 3, seed=0).ravel(), minlength=30)
    assert counts.min() > 0.6 * counts.mean()  # roughly uniform
    with pytest.raises(ValueError, match="batch_size"):
        lr.sample_batches(3, 31)
    with pytest.raises(ValueError, match="batch"):
        lr.loss(np.zeros(2), batch=[0, 99])


def test_grad_variance_is_exact_over_all_batches():
    lr = LinearRegression(n_samples=7, batch_size=3, seed=1)
    x = np.array([0.3, -0.4])
    g = lr.grad(x).numpy()
    for b in (1, 3, 7):
        devs = [np.sum((lr.grad(x, batch=np.array(c)).numpy() - g) ** 2)
                for c in itertools.combinations(range(7), b)]
        assert lr.grad_variance(x, b) == pytest.approx(np.mean(devs), rel=1e-10, abs=1e-14)
    sg = lr.sample_grads(lr.optimum).numpy()
    assert lr.sigma2() == pytest.approx(np.mean(np.sum(sg**2, 1)))
    assert lr.noise_floor(0.1) == pytest.approx(lr.L * lr.sigma2() * 0.1 / (4 * lr.mu))


def test_linear_regression_validation():
    with pytest.raises(ValueError, match="batch_size"):
        LinearRegression(n_samples=10, batch_size=0)
    with pytest.raises(ValueError, match="noise"):
        LinearRegression(noise=-1)
    with pytest.raises(ValueError, match="t_range"):
        LinearRegression(t_range=(1, 1))


# -- logistic regression ------------------------------------------------------------------------

def test_logistic_lecture_setting_and_exact_optimum():
    p = LogisticRegression.lecture()
    assert (p.n_samples, p.dim, p.mu) == (200, 10, 1.0)
    g = p.grad(p.optimum)
    assert g.norm() < 1e-10
    assert p.f_star == pytest.approx(float(p.loss(torch.tensor(p.optimum))), rel=1e-15)
    res = scipy.optimize.minimize(lambda z: float(p.value_np(z)), np.zeros(10), jac=lambda z: p.grad(z).numpy(),
                                  method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(res.x, p.optimum, atol=1e-8)
    assert p.kappa < 2.0  # nearly perfectly conditioned, as the course notes
    # the per-sample losses include the regulariser, so their mean is f
    x = np.linspace(-1, 1, 10)
    assert float(p.losses(x).mean()) == pytest.approx(float(p.loss(x)))


def test_logistic_hard_variant_and_smoothness_bound():
    p = LogisticRegression.hard()
    assert p.grad(p.optimum).norm() < 1e-10
    assert p.kappa > 100
    H = p.hessian(p.optimum).numpy()
    ev = np.linalg.eigvalsh(H)
    assert ev[0] >= p.mu * (1 - 1e-12) and ev[-1] <= p.L * (1 + 1e-12)
    assert ev[-1] / ev[0] > 20  # genuinely ill-conditioned at the optimum too


def test_logistic_stable_far_away_and_validation():
    p = LogisticRegression(n_samples=20, dim=3, seed=2)
    big = np.full(3, 1e4)
    assert np.isfinite(float(p.loss(big))) and np.isfinite(p.value_np(big))
    with pytest.raises(ValueError, match="mu"):
        LogisticRegression(mu=0)
    with pytest.raises(ValueError, match="feature_scales"):
        LogisticRegression(dim=3, feature_scales=[1, 2])


def test_least_squares_on_given_data_and_linear_regression_is_one():
    from optviz.problems import LeastSquares, LinearRegression

    rng = np.random.default_rng(4)
    A, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    p = LeastSquares(A, y)
    np.testing.assert_allclose(p.optimum, np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-12)
    ev = np.linalg.eigvalsh(A.T @ A / 30)
    assert (p.mu, p.L) == (pytest.approx(ev[0]), pytest.approx(ev[-1]))
    x = rng.standard_normal(3)
    assert float(p.value_np(x)) == pytest.approx(0.5 * np.mean((A @ x - y) ** 2), rel=1e-12)
    np.testing.assert_allclose(p.grad(x).numpy(), A.T @ (A @ x - y) / 30, rtol=1e-12)
    with pytest.raises(ValueError, match="A должна быть матрицей"):
        LeastSquares(A, y[:-1])
    lr = LinearRegression()
    assert isinstance(lr, LeastSquares)
    same = LeastSquares(lr.A, lr.y)
    np.testing.assert_allclose(same.optimum, lr.optimum, rtol=1e-10)
    np.testing.assert_allclose(same.value_np(lr.starts[0]), lr.value_np(lr.starts[0]), rtol=1e-15)
