"""Helpers of lecture 03 (adaptive methods) against closed forms, autograd and the theory they illustrate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_03 import (
    GradientScaled,
    ReddiOnline,
    Reparametrized,
    Scaled,
    bias_correction_steps,
    decay_experiment,
    eps_placement,
    heavy_tail_comparison,
    invariance_check,
    no_correction_factor,
    reddi_race,
    tune_race,
)
from optviz.optim.adaptive import Adagrad, Adam
from optviz.problems.toys import Quadratic, Rosenbrock
from optviz.run import run


def _autograd(fn, x):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g.numpy()


# -- transformed problems -------------------------------------------------------------------------

def test_transformed_problems_value_and_gradient_against_autograd():
    f = Rosenbrock()
    pts = np.array([[-1.2, 1.0], [0.3, -0.4], [1.5, 2.0]])
    d = np.array([3.0, 0.25])
    s = Scaled(f, 1e-3)
    np.testing.assert_allclose(s.value_np(pts), 1e-3 * f.value_np(pts), rtol=1e-14)
    np.testing.assert_allclose(s.grad_np(pts), _autograd(lambda x: 1e-3 * f._formula(x, torch), pts), rtol=1e-12)
    h = Reparametrized(f, d)
    np.testing.assert_allclose(h.value_np(pts), f.value_np(pts * d), rtol=1e-14)
    np.testing.assert_allclose(h.grad_np(pts), _autograd(lambda y: f._formula(y * torch.as_tensor(d), torch), pts),
                               rtol=1e-12)
    np.testing.assert_allclose(h.start * d, f.start)
    gs = GradientScaled(f, d)
    np.testing.assert_allclose(gs.loss(torch.as_tensor(pts)).numpy(), f.value_np(pts), rtol=1e-14)
    np.testing.assert_allclose(_autograd(gs.loss, pts), d * f.grad_np(pts), rtol=1e-12)   # autograd path
    np.testing.assert_allclose(gs.grad_np(pts), d * f.grad_np(pts), rtol=1e-12)          # analytic path
    with pytest.raises(ValueError, match="положительный"):
        Reparametrized(f, [1.0, -1.0])


# -- a fair race ----------------------------------------------------------------------------------

def test_tune_race_picks_the_theoretically_optimal_gd_step_on_a_quadratic():
    q = Quadratic(kappa=10, angle_deg=30)
    opt = q.optimal_step  # 2/(μ+L): the smallest contraction max|1 − ηλ|
    lrs = opt * np.array([0.3, 0.6, 1.0, 1.4, 1.9, 2.5])
    res = tune_race(q, keys=("GD", "Adam"), steps=200, lrs=lrs)
    assert res.best_lr["GD"] == pytest.approx(opt)
    assert math.isinf(res.final["GD"][-1])          # η = 2.5·2/(μ+L) > 2/L: diverges, never the winner
    # the best trace is the run with that step: its final loss equals a separate run's
    direct = run(q, Adam, q.start, 200, lr=res.best_lr["Adam"])
    np.testing.assert_allclose(res.traces[1].loss[-1, 0], direct.loss[-1, 0], rtol=1e-10)
    assert "GD" in res.table() and "Adam" in res.table()


# -- ε inside / outside ---------------------------------------------------------------------------

def test_adagrad_first_step_matches_the_closed_forms_and_scale_invariance_breaks_only_inside():
    f = Rosenbrock()
    g = f.grad_np(f.start)
    eps, lr = 1e-6, 0.5
    for s in (1.0, 1e-5):
        h = Scaled(f, s)
        out = run(h, Adagrad, f.start, 1, lr=lr, eps=eps).points[1, 0] - f.start
        ins = run(h, Adagrad, f.start, 1, lr=lr, eps=eps, eps_inside_root=True).points[1, 0] - f.start
        np.testing.assert_allclose(out, -lr * s * g / (np.abs(s * g) + eps), rtol=1e-12)
        np.testing.assert_allclose(ins, -lr * s * g / np.sqrt((s * g) ** 2 + eps), rtol=1e-12)
    res = eps_placement(f, scales=(1.0, 1e-2, 1e-4, 1e-6), lr=1.36, eps=1e-6, steps=300)   # the lecture's setting
    assert res["outside"][1] == pytest.approx(res["outside"][0], rel=1e-3)
    assert res["outside"][2] == pytest.approx(res["outside"][0], rel=0.02)    # |g| ≫ ε still: invariant
    assert res["inside"][1] == pytest.approx(res["inside"][0], rel=1e-3)
    assert res["inside"][3] > 10 * res["inside"][0]                             # |g| < √ε: broken


# -- bias correction ------------------------------------------------------------------------------

def test_bias_correction_first_steps():
    res = bias_correction_steps(Rosenbrock(), lr=0.02, steps=5, betas=(0.9, 0.999))
    assert res["ratio"]["Adam"][0] == pytest.approx(1.0, abs=1e-8)
    assert res["ratio"]["Adam без коррекции"][0] == pytest.approx(0.1 / math.sqrt(0.001), rel=1e-8)
    # constant gradient: the uncorrected step is (1 − β1^k)/√(1 − β2^k), computed by hand for k = 1, 2
    assert no_correction_factor(1) == pytest.approx(0.1 / math.sqrt(1e-3))
    assert no_correction_factor(2) == pytest.approx((1 - 0.81) / math.sqrt(1 - 0.999**2))


# -- Reddi et al. ---------------------------------------------------------------------------------

def test_reddi_regret_against_brute_force_and_adam_vs_amsgrad():
    prob = ReddiOnline(3.0)
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, 40)
    t = np.arange(1, 41)
    losses = np.where(t % 3 == 1, 3.0, -1.0)
    grid = np.linspace(-1, 1, 2001)
    brute = [np.sum(losses[:T] * xs[:T]) - np.min(np.sum(losses[:T, None] * grid[None, :], axis=0))
             for T in t]
    np.testing.assert_allclose(prob.regret(xs), brute, atol=1e-12)
    with pytest.raises(ValueError, match="C"):
        ReddiOnline(1.5)
    res = reddi_race(C=3.0, steps=3000, lr=0.1)
    assert res["x"]["Adam"][-30:].min() > 0.9          # Theorem 1: Adam goes to the worst point +1
    assert res["x"]["AMSGrad"][-30:].max() < -0.9      # AMSGrad to the optimum −1
    assert res["regret"]["Adam"][-1] > 0.4
    assert res["regret"]["AMSGrad"][-1] < 0.5 * res["regret"]["AMSGrad"][99]   # average regret decays


# -- AdamW vs Adam + L2 ---------------------------------------------------------------------------

def test_decay_equilibria_match_their_closed_forms():
    res = decay_experiment(lam=0.1, sigma=(3.0, 0.03), steps=3000, runs=60, tail=1500)
    np.testing.assert_allclose(res["theory"]["Adam + L2"], 1 / 1.1)
    for m in ("Adam + L2", "AdamW"):
        np.testing.assert_allclose(res["measured"][m], res["theory"][m], rtol=0.02)
    assert res["measured"]["AdamW"][0] < res["measured"]["Adam + L2"][0] < res["measured"]["AdamW"][1]


# -- invariance -----------------------------------------------------------------------------------

def test_adam_is_invariant_to_a_diagonal_gradient_scaling_up_to_eps():
    f = Rosenbrock()
    a = invariance_check(f, d=(100.0, 0.01), steps=100, lr=0.02, eps=1e-8)
    b = invariance_check(f, d=(100.0, 0.01), steps=100, lr=0.02, eps=1e-12)
    assert a["adam_deviation"] < 1e-6 and b["adam_deviation"] < 1e-10
    assert a["gd_deviation"] > 1.0
    x1, y1 = a["adam_first_step"]
    np.testing.assert_allclose(x1, -0.02 * np.sign(f.grad_np(f.start)), rtol=1e-6)
    np.testing.assert_allclose(y1, x1, atol=1e-9)
    gx, gy = a["gd_first_step"]
    np.testing.assert_allclose(gy, np.array([100.0, 0.01]) * gx, rtol=1e-9)   # GD: step in y is D × step in x


# -- heavy tail -----------------------------------------------------------------------------------

def test_heavy_tail_comparison_tiny_runs_and_restores_threads():
    before = torch.get_num_threads()
    res = heavy_tail_comparison("tiny")
    assert torch.get_num_threads() == before
    assert set(res.group_loss) == {"SGD", "SGD + импульс 0.9", "Adam"}
    for m, gl in res.group_loss.items():
        assert gl.shape == (1, 4, len(res.group_names))
        assert np.isfinite(gl).all()
        assert res.train_loss[m][0, -1] < res.train_loss[m][0, 0]       # training makes progress
        assert res.best_lr[m] == min(res.lr_search[m], key=res.lr_search[m].get)
    with pytest.raises(ValueError):
        heavy_tail_comparison("huge")
    with pytest.raises(ValueError, match="Неизвестные параметры"):
        heavy_tail_comparison("tiny", foo=1)
