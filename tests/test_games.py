"""Min-max toys: exact rates on the bilinear game, MW vs optimistic MW vs mirror-prox on simplices."""

import math

import numpy as np
import pytest
import torch

from optviz.optim import _functional
from optviz.problems import games
from optviz.problems.games import (
    OGDA_MAX_LR,
    MatrixGame,
    extragradient,
    extragradient_rate,
    gda,
    gda_rate,
    matching_pennies,
    mirror_prox,
    multiplicative_weights,
    ogda_characteristic_roots,
    ogda_rate,
    optimistic_gda,
    optimistic_mw,
    rock_paper_scissors,
)

STARTS = np.array([[1.0, 0.0], [0.3, -2.0], [-1.5, 0.7]])


def _ratios(traj):
    n = np.linalg.norm(traj, axis=-1)
    return n[1:] / n[:-1]


@pytest.mark.parametrize("lr", [0.05, 0.3, 0.9, 1.5])
def test_gda_grows_by_sqrt_1_plus_eta2(lr):
    traj = gda(STARTS, lr, 50)
    assert traj.shape == (51, 3, 2)
    np.testing.assert_allclose(_ratios(traj), math.sqrt(1 + lr**2), rtol=1e-12)
    assert gda_rate(lr) == math.sqrt(1 + lr**2)


@pytest.mark.parametrize("lr", [0.05, 0.3, 0.9, 1.2])
def test_extragradient_factor(lr):
    traj = extragradient(STARTS, lr, 50)
    expected = math.sqrt(1 - lr**2 + lr**4)
    np.testing.assert_allclose(_ratios(traj), expected, rtol=1e-12)
    assert extragradient_rate(lr) == pytest.approx(expected, rel=1e-15)
    assert (extragradient_rate(lr) < 1) == (lr < 1)


def test_optimistic_gda_equals_its_definition():
    lr, z_prev, z = 0.4, np.array([0.5, 1.0]), np.array([0.5, 1.0])
    traj = optimistic_gda(z, lr, 5)
    F = lambda w: np.array([w[1], -w[0]])  # noqa: E731  (∂f/∂x, −∂f/∂y) of f = xy
    for k in range(5):
        z, z_prev = z - 2 * lr * F(z) + lr * F(z_prev), z
        np.testing.assert_allclose(traj[k + 1], z, rtol=1e-14)


@pytest.mark.parametrize("lr", [0.1, 0.3, 0.45, 0.55, 0.6, 0.8])  # 0.5: double root, see below
def test_ogda_rate_from_characteristic_polynomial(lr):
    roots = ogda_characteristic_roots(lr)
    lam = 1j
    np.testing.assert_allclose(roots**2 - (1 - 2 * lr * lam) * roots - lr * lam, 0, atol=1e-14)
    # the companion matrix of the 2-step recurrence has exactly these moduli (twice: λ = ±i)
    J = np.array([[0.0, 1.0], [-1.0, 0.0]])
    M = np.block([[np.eye(2) - 2 * lr * J, lr * J], [np.eye(2), np.zeros((2, 2))]])
    mods = np.sort(np.abs(np.linalg.eigvals(M)))
    np.testing.assert_allclose(mods, np.sort(np.repeat(np.abs(roots), 2)), rtol=1e-10)
    # measured per-step ratio converges to the largest modulus (geometrically, at |r2/r1|)
    r1, r2 = np.abs(roots)
    steps = int(math.ceil(40 / -math.log10(r2 / r1))) + 20
    traj = optimistic_gda(np.array([1.0, 0.3]), lr, steps)
    assert _ratios(traj)[-1] == pytest.approx(ogda_rate(lr), rel=1e-9)


def test_ogda_threshold_is_one_over_sqrt3():
    assert OGDA_MAX_LR == pytest.approx(1 / math.sqrt(3))
    assert ogda_rate(OGDA_MAX_LR) == pytest.approx(1.0, abs=1e-12)
    assert ogda_rate(OGDA_MAX_LR * 0.99) < 1 < ogda_rate(OGDA_MAX_LR * 1.01)
    etas = np.linspace(0.01, 0.95, 95)
    rates = np.array([ogda_rate(e) for e in etas])
    assert np.all((rates < 1) == (etas < OGDA_MAX_LR))
    assert ogda_rate(0.5) == pytest.approx(math.sqrt(0.5), rel=1e-12)  # the fastest step


def test_bilinear_validation():
    with pytest.raises(ValueError, match="lr"):
        gda([1.0, 0.0], 0.0, 5)
    with pytest.raises(ValueError, match="lr"):
        ogda_rate(-0.1)
    with pytest.raises(ValueError, match="steps"):
        extragradient([1.0, 0.0], 0.1, -1)
    with pytest.raises(ValueError, match="z0"):
        optimistic_gda([1.0, 2.0, 3.0], 0.1, 3)


# -- matrix games ----------------------------------------------------------------------------------

GAMES = [matching_pennies(), rock_paper_scissors()]


def _start(game):
    m, n = game.shape
    x0 = np.r_[0.8, np.full(m - 1, 0.2 / (m - 1))]
    y0 = np.r_[np.full(n - 1, 0.3 / (n - 1)), 0.7]
    return x0, y0


@pytest.mark.parametrize("game", GAMES, ids=lambda g: g.name)
def test_equilibria_and_gap(game):
    m, n = game.shape
    np.testing.assert_allclose(game.x_star, np.full(m, 1 / m))
    np.testing.assert_allclose(game.y_star, np.full(n, 1 / n))
    assert game.gap(game.x_star, game.y_star) == pytest.approx(0, abs=1e-15)
    x0, y0 = _start(game)
    assert game.gap(x0, y0) > 0.1 and game.kl_to_equilibrium(x0, y0) > 0.1


def test_general_payoff_equilibrium_by_lp():
    # 2×2 game without a saddle point: x* = ((d−c), (a−b))/(a−b−c+d), value (ad − bc)/(a−b−c+d)
    a, b, c, d = 2.0, -1.0, -1.0, 1.0
    g = MatrixGame([[a, b], [c, d]])
    den = a - b - c + d
    np.testing.assert_allclose(g.x_star, [(d - c) / den, (a - b) / den], atol=1e-9)
    np.testing.assert_allclose(g.y_star, [(d - b) / den, (a - c) / den], atol=1e-9)
    assert g.value == pytest.approx((a * d - b * c) / den, abs=1e-9)
    assert g.gap(g.x_star, g.y_star) == pytest.approx(0, abs=1e-9)
    t = mirror_prox(g, [0.9, 0.1], [0.2, 0.8], lr=0.3, steps=1500)
    assert t.gap[-1] < 1e-8


@pytest.mark.parametrize("game", GAMES, ids=lambda g: g.name)
def test_multiplicative_weights_moves_away(game):
    x0, y0 = _start(game)
    t = multiplicative_weights(game, x0, y0, lr=0.1, steps=1000)
    assert np.all(np.diff(t.kl) >= -1e-12)      # the KL potential never decreases
    assert t.kl[-1] > 3 * t.kl[0]
    assert t.gap[-1] > t.gap[0]
    np.testing.assert_allclose(t.x.sum(1), 1, atol=1e-12)


@pytest.mark.parametrize("method", [optimistic_mw, mirror_prox])
@pytest.mark.parametrize("game", GAMES, ids=lambda g: g.name)
def test_optimistic_methods_converge(game, method):
    x0, y0 = _start(game)
    t = method(game, x0, y0, lr=0.3, steps=1500)
    assert t.gap[-1] < 1e-5
    assert t.kl[-1] < 1e-8
    assert t.x.shape == (1501, game.shape[0]) and t.y.shape == (1501, game.shape[1])


def test_every_entropic_step_is_the_shared_kl_mirror_step(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return _functional.kl_mirror_step(*args, **kwargs)

    monkeypatch.setattr(games, "kl_mirror_step", counting)
    g = rock_paper_scissors()
    x0, y0 = _start(g)
    multiplicative_weights(g, x0, y0, steps=4)
    optimistic_mw(g, x0, y0, steps=4)
    mirror_prox(g, x0, y0, steps=4)
    assert len(calls) == 4 * 2 + 4 * 2 + 4 * 4
    # and one MW step is x ∝ x·exp(−η A y)
    x1 = multiplicative_weights(g, x0, y0, lr=0.7, steps=1).x[1]
    ref = x0 * np.exp(-0.7 * g.A @ y0)
    np.testing.assert_allclose(x1, ref / ref.sum(), rtol=1e-14)


def test_matrix_game_validation():
    g = matching_pennies()
    with pytest.raises(ValueError, match="lr"):
        mirror_prox(g, lr=0.0)
    with pytest.raises(ValueError, match="x0"):
        optimistic_mw(g, x0=[0.5, 0.6])
    with pytest.raises(ValueError, match="y0"):
        multiplicative_weights(g, y0=[1.0, 0.0])  # strictly positive start needed
    with pytest.raises(ValueError, match="payoff"):
        MatrixGame([[1.0, float("nan")]])
    with pytest.raises(ValueError, match="game"):
        mirror_prox(np.eye(2))
    assert torch.is_tensor(_functional.kl_mirror_step(torch.tensor([0.5, 0.5]), torch.zeros(2), 0.1))
