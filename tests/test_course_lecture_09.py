"""Lecture 09 helpers: the closed-form π*, the robust path, ALSO line by line against the optimizer
and torch's Adam, π's fixed point, optimism against descent–ascent, the class-imbalance lab and the
explorers."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from scipy.optimize import minimize

from optviz.course import lecture_09 as L
from optviz.course.lecture_09 import (
    adam_limit_check,
    also_line_check,
    closed_form_pi,
    dro_path,
    dro_path_figure,
    imbalance_compare,
    imbalance_explorer,
    imbalance_figure,
    optimism_explorer,
    optimism_figure,
    optimism_runs,
    pi_fixed_point_check,
    reference_also,
)
from optviz.optim._functional import kl_mirror_step
from optviz.problems import DROToy
from optviz.widgets import Explorer
from optviz.widgets.dro import weighted_erm_solution


@pytest.fixture(scope="module")
def toy():
    return DROToy()


def _ys(fig):
    return [np.asarray(tr.y, dtype=float) if tr.y is not None else None for tr in fig.data]


# ------------------------------------------------------------------------------- closed form π*
def test_closed_form_pi_maximises_the_regularised_objective():
    F, tau, prior = np.array([0.7, 2.1, 1.3]), 0.4, np.array([0.2, 0.3, 0.5])
    pi = closed_form_pi(F, tau, prior)

    def neg(z):  # parametrise the simplex by a softmax, maximise Σ π F − τ KL(π‖π̂) with SciPy
        p = np.exp(z - z.max())
        p /= p.sum()
        return -(p @ F - tau * np.sum(p * np.log(p / prior)))

    res = minimize(neg, np.zeros(3), method="BFGS", options={"gtol": 1e-12})
    p = np.exp(res.x - res.x.max())
    np.testing.assert_allclose(pi, p / p.sum(), atol=1e-6)
    # the optimal value is the soft maximum τ log Σ π̂ e^{F/τ}
    assert -res.fun == pytest.approx(tau * math.log(np.sum(prior * np.exp(F / tau))), abs=1e-9)


def test_closed_form_pi_is_the_fixed_point_of_the_mirror_step_and_has_both_limits():
    F, prior = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64), torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    tau = 0.7
    pi = prior.clone()
    for _ in range(400):  # constant signal h = −F: the mirror step converges to its fixed point
        pi = kl_mirror_step(pi, -F, 0.5, decay=tau, prior=prior)
    np.testing.assert_allclose(pi.numpy(), closed_form_pi(F.numpy(), tau, prior.numpy()), atol=1e-12)
    np.testing.assert_allclose(closed_form_pi(F.numpy(), 1e6, prior.numpy()), prior.numpy(), atol=1e-5)
    np.testing.assert_allclose(closed_form_pi(F.numpy(), 1e-3, prior.numpy()), [0, 1, 0], atol=1e-12)
    batch = closed_form_pi(np.stack([F.numpy(), F.numpy()[::-1]]), tau, np.full(3, 1 / 3))
    assert batch.shape == (2, 3) and np.allclose(batch.sum(-1), 1)


def test_closed_form_pi_errors_are_russian():
    with pytest.raises(ValueError, match="Параметр tau"):
        closed_form_pi([1.0, 2.0], 0.0, [0.5, 0.5])
    with pytest.raises(ValueError, match="Параметр prior"):
        closed_form_pi([1.0, 2.0], 1.0, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="положительным"):
        closed_form_pi([1.0, 2.0], 1.0, [1.0, 0.0])


# ---------------------------------------------------------------------------------- robust path
def test_dro_path_limits(toy):
    for prior in ("uniform", "inverse_frequency"):
        path = dro_path(toy, (0.1, 1.0, 1e4), prior)
        ref = weighted_erm_solution(toy, toy.prior(prior))          # independent BFGS on Σ π̂_g F_g
        np.testing.assert_allclose(path["theta_inf"], ref.theta, atol=1e-6)
        np.testing.assert_allclose(path["theta"][-1], path["theta_inf"], atol=1e-3)   # τ = 10⁴ ≈ ∞
        np.testing.assert_allclose(path["pi"].sum(1), 1.0)
    uni, inv = dro_path(toy, (1.0,), "uniform"), dro_path(toy, (1.0,), "inverse_frequency")
    np.testing.assert_allclose(uni["theta_inf"], toy.minimizers[0], atol=1e-10)   # uniform π̂: plain ERM
    np.testing.assert_allclose(uni["theta0"], inv["theta0"], atol=1e-5)            # τ = 0 forgets π̂
    with pytest.raises(ValueError, match="taus"):
        dro_path(toy, (), "uniform")
    with pytest.raises(ValueError, match="prior"):
        dro_path(toy, (1.0,), "frequency")


def test_dro_path_figure_draws_both_paths(toy):
    fig = dro_path_figure(toy, taus=(0.1, 1.0, 10.0))
    names = [tr.name for tr in fig.data]
    assert any("равномерное" in (n or "") for n in names) and any("1/размер" in (n or "") for n in names)
    path = next(tr for tr in fig.data if (tr.name or "").startswith("θ*(τ), равномерное"))
    assert len(path.x) == 3 + 2                                   # τ = 0, three τ, τ → ∞
    assert "Решение DRO" in fig.layout.title.text


# ----------------------------------------------------------------------------- ALSO line by line
@pytest.mark.parametrize("hyper", [dict(), dict(alpha=0.5, weight_decay=0.0, pi_decay=2.0, pi_lr=0.1)])
def test_reference_also_equals_the_optimizer(toy, hyper):
    chk = also_line_check(toy, steps=12, **hyper)
    assert chk["theta_diff"] < 1e-12 and chk["pi_diff"] < 1e-12
    assert chk["adam_steps_reference"] == 2 * 12 - 1 and chk["adam_steps_optimizer"] == 2 * 12
    assert np.linalg.norm(chk["theta"][-1] - chk["theta"][0]) > 0.1      # it really moved


def test_reference_also_is_sensitive_to_alpha(toy):
    # a check that could not fail would prove nothing: a different α gives a different trajectory
    base = reference_also(toy.losses, toy.start, toy.groups, 3, 10, lr=0.05, pi_lr=0.5, pi_decay=0.5, alpha=1.0)
    other = reference_also(toy.losses, toy.start, toy.groups, 3, 10, lr=0.05, pi_lr=0.5, pi_decay=0.5, alpha=0.0)
    assert np.abs(base["theta"] - other["theta"]).max() > 1e-3


def test_reference_also_first_step_is_the_adam_sign_step(toy):
    # iteration 1: no extrapolation, θ₁ = θ₀ + AdamStep(G₀ + λθ₀) ≈ θ₀ − η·sign(G₀ + λθ₀)
    lr, lam = 0.05, 1e-3
    ref = reference_also(toy.losses, toy.start, toy.groups, 3, 1, lr=lr, weight_decay=lam, eps=0.0)
    x = torch.tensor(toy.start, dtype=torch.float64, requires_grad=True)
    (G,) = torch.autograd.grad(toy.losses(x).mean(), x)       # π₀ uniform, s = c/n: the mean loss
    expected = toy.start - lr * np.sign((G + lam * x).detach().numpy())
    np.testing.assert_allclose(ref["theta"][1], expected, atol=1e-12)
    assert ref["adam_steps"] == 1


def test_frozen_pi_is_torch_adam():
    res = adam_limit_check(steps=30)
    assert res["max_diff"] < 1e-12 and res["moved"] > 0.1
    np.testing.assert_allclose(res["pi"], 0.25)


def test_pi_fixed_point_check_matches_closed_form_and_scipy(toy):
    rows = pi_fixed_point_check(toy, taus=(1.0,), priors=("inverse_frequency",), steps=400)
    (r,) = rows
    assert r["gap_closed"] < 1e-5 and r["gap_star"] < 1e-5 and r["theta_gap"] < 1e-5
    np.testing.assert_allclose(r["pi_star"], toy.dro_solution(1.0, "inverse_frequency").pi)
    with pytest.raises(ValueError, match="Параметр tau"):
        pi_fixed_point_check(toy, taus=(-1.0,), steps=5)


# ------------------------------------------------------------------------------------ optimism
def test_optimism_beats_descent_ascent(toy):
    res = optimism_runs(toy, tau=0.3, pi_lr=1.0, steps=300)
    (opt, da) = res.theta_dist
    assert "спуск–подъём" in da
    assert L._tail(res.theta_dist[opt]) < 1e-3 < L._tail(res.theta_dist[da])
    assert L._tail(res.pi_dist[opt]) < 1e-3 < L._tail(res.pi_dist[da])
    fig = optimism_figure(res)
    assert len(fig.data) == 4 and "с экстраполяцией ближе" in fig.layout.title.text
    with pytest.raises(ValueError, match="Параметр tau"):
        optimism_runs(toy, tau=0.0)
    with pytest.raises(ValueError, match="Параметр alpha"):
        optimism_runs(toy, alpha=-1.0)


def test_optimism_explorer_updates_and_has_a_static_figure(toy):
    ex = optimism_explorer(toy, steps=120)
    assert isinstance(ex, Explorer)
    before = _ys(ex.widget)
    title = ex.widget.layout.title.text
    ex.set(pi_lr=0.1)
    after = _ys(ex.widget)
    assert not np.allclose(before[0], after[0]) and ex.widget.layout.title.text != title
    assert "η_π = 0.1" in ex.widget.layout.title.text
    static = ex.static_figure({"tau": [0.3, 3.0]})
    assert isinstance(static, go.Figure) and len(static.frames) == 2


# ------------------------------------------------------------------------------- class imbalance
def test_imbalance_uc1_static_weights_equal_adamw_and_frozen_pi_stays():
    res = imbalance_compare(1, pi_lr=0.0, tau=0.1, size="tiny", methods=("ALSO", "AdamW", "Static Weights"))
    assert res.counts[0] == res.counts[1]                      # uc = 1: equal classes, static weights = 1
    np.testing.assert_allclose(res.worst_acc["AdamW"], res.worst_acc["Static Weights"])
    np.testing.assert_allclose(res.mean_acc["AdamW"], res.mean_acc["Static Weights"])
    assert res.pi is not None and np.allclose(res.pi, 0.5)     # η_π = 0: π never leaves the prior


def test_imbalance_compare_reweighting_helps_and_is_cached(monkeypatch):
    res = imbalance_compare(20, size="tiny", methods=("ALSO", "AdamW"))
    assert res.counts[0] > 15 * res.counts[1]
    np.testing.assert_allclose(res.prior, np.array([1 / res.counts[0], 1 / res.counts[1]]) /
                               (1 / res.counts[0] + 1 / res.counts[1]))
    assert res.pi.shape[-1] == 2 and np.allclose(res.pi[:, 0], res.prior)   # π₀ = π̂
    assert res.worst_acc["ALSO"][0] > res.worst_acc["AdamW"][0]
    assert res.mean_acc["ALSO"][0] >= res.worst_acc["ALSO"][0]
    def no_training(*args, **kw):
        raise AssertionError("повторное обучение вместо кэша")

    monkeypatch.setattr(L, "_one_run", no_training)
    again = imbalance_compare(20, size="tiny", methods=("ALSO", "AdamW"))
    assert again.worst_acc["ALSO"][0] == res.worst_acc["ALSO"][0]


def test_imbalance_errors_are_russian():
    with pytest.raises(ValueError, match="Параметр uc"):
        imbalance_compare(0.5, size="tiny")
    with pytest.raises(ValueError, match="Параметр size"):
        imbalance_compare(5, size="huge")
    with pytest.raises(ValueError, match="Параметр method"):
        imbalance_compare(5, size="tiny", methods=("SGD",))
    with pytest.raises(ValueError, match="Параметр uc"):
        imbalance_explorer("tiny", uc=3)


def test_imbalance_figure_shows_the_summary():
    res = imbalance_compare(10, size="tiny", methods=("ALSO", "AdamW", "Static Weights"))
    fig = imbalance_figure(res)
    bars = [tr for tr in fig.data if tr.type == "bar"]
    worst = res.summary("worst_acc")
    np.testing.assert_allclose(bars[1].y, [worst[m][0] for m in res.methods])
    assert "uc = 10" in fig.layout.title.text and f"{worst['ALSO'][0]:.3f}" in fig.layout.title.text


def test_imbalance_explorer_responds_to_its_sliders():
    ex = imbalance_explorer("tiny", uc=20, methods=("ALSO", "AdamW"))
    fig = ex.widget
    title0, bars0 = fig.layout.title.text, np.asarray(fig.data[1].y, dtype=float)
    ex.set(uc=2)
    assert "uc = 2" in fig.layout.title.text and fig.layout.title.text != title0
    pi_before = np.asarray(fig.data[2].y, dtype=float)
    ex.set(pi_lr=1.0, tau=1e-3)                                  # only ALSO retrains
    assert "η_π = 1" in fig.layout.title.text
    assert not np.allclose(pi_before, np.asarray(fig.data[2].y, dtype=float))
    assert bars0.shape == (2,)
    static = ex.static_figure({"uc": [1, 20]})
    assert len(static.frames) == 2
