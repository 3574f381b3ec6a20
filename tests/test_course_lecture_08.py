"""Lecture 08 helpers: bilinear rates against exact theory and an independent closed form, MW's
potential and regret bound, the KL step against softmax / a numerical argmax, the DRO inner maximum
and its limits, the explorers (live updates and static figures)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_08 import (
    BILINEAR_METHODS,
    bilinear_explorer,
    bilinear_figure,
    bilinear_runs,
    dro_explorer,
    dro_figure,
    dro_inner,
    dro_path,
    game_explorer,
    game_figure,
    game_runs,
    inner_mirror_ascent,
    make_game,
    measured_rate,
    mirror_step_check,
    mirror_step_figure,
    mw_theory_check,
    ogda_closed_form,
    project_simplex,
    rate_table,
    softmax_form,
    theory_rate,
)
from optviz.problems.dro_toy import DROToy
from optviz.problems.games import optimistic_gda


# ------------------------------------------------------------------ bilinear game
def test_rate_table_matches_exact_rates():
    rows = rate_table(lrs=(0.1, 0.3, 0.8), steps=200)
    assert len(rows) == 9
    for r in rows:
        assert r["measured"] == pytest.approx(r["theory"], abs=1e-6)
    by = {(r["method"], r["lr"]): r["theory"] for r in rows}
    assert by[("gda", 0.3)] == pytest.approx(math.sqrt(1 + 0.09))
    assert by[("extragradient", 0.3)] == pytest.approx(math.sqrt(1 - 0.09 + 0.0081))
    assert by[("ogda", 0.8)] > 1 > by[("ogda", 0.3)]


def test_ogda_closed_form_is_independent_and_exact():
    for lr in (0.05, 0.3, 0.5, 0.55, 0.9):           # 0.5: the double root
        cf = ogda_closed_form(lr, 60, (0.7, -1.2))
        traj = optimistic_gda([0.7, -1.2], lr, 60)
        np.testing.assert_allclose(cf["points"], traj, rtol=1e-8, atol=1e-9)
        assert abs(cf["roots"][0]) == pytest.approx(theory_rate("ogda", lr), rel=1e-9)
    assert ogda_closed_form(0.5, 3)["double"]
    assert abs(ogda_closed_form(0.5, 3)["roots"][0]) == pytest.approx(math.sqrt(2) / 2)
    # the stability edge 1/√3
    assert abs(ogda_closed_form(1 / math.sqrt(3) - 1e-3, 2)["roots"][0]) < 1
    assert abs(ogda_closed_form(1 / math.sqrt(3) + 1e-3, 2)["roots"][0]) > 1


def test_bilinear_runs_one_step_by_hand():
    runs = bilinear_runs(0.5, 1, (1.0, 0.0))
    np.testing.assert_allclose(runs["gda"][1], [1.0, 0.5])               # z − η(y, −x)
    np.testing.assert_allclose(runs["extragradient"][1], [0.75, 0.5])    # half (1, .5), F(half) = (.5, −1)
    np.testing.assert_allclose(runs["ogda"][1], runs["gda"][1])          # first step is GDA
    assert measured_rate([1.0, 2.0, 4.0, 8.0]) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=-1.0), dict(z0=(0.0, 0.0)), dict(z0=(1.0, np.nan))])
def test_bilinear_errors_are_russian(bad):
    kw = dict(lr=0.2, steps=5, z0=(1.0, 0.5)) | bad
    with pytest.raises(ValueError, match="Параметр|Стартовая"):
        bilinear_runs(**kw)
    with pytest.raises(ValueError, match="Параметр method"):
        bilinear_runs(0.1, 5, methods=["adam"])


def test_bilinear_figure_theory_and_divergence():
    fig = bilinear_figure(0.3, 100)
    dashed = [t for t in fig.data if t.line is not None and t.line.dash == "dash"]
    assert len(dashed) == 3
    gda_measured = np.asarray(fig.data[1].y, dtype=float)
    np.testing.assert_allclose(np.asarray(dashed[0].y, dtype=float), gda_measured, rtol=1e-10)
    assert ": сходится" in fig.layout.title.text and "GDA: расходится, ×" in fig.layout.title.text
    big = bilinear_figure(1.4, 400)
    assert big.layout.title.text.count("расходится") == 3
    assert all(np.isfinite(np.asarray(t.y, dtype=float)).all() for t in big.data)


# ------------------------------------------------------------------ matrix games
def test_mw_potential_and_regret_bound():
    for game, lr, T in (("rps", 0.1, 400), ("pennies", 0.05, 600)):
        c = mw_theory_check(game, lr=lr, steps=T)
        assert c["kl_min_increment"] >= 0 and c["kl_last"] > c["kl_first"]
        assert 0 <= c["gap_avg"] <= c["bound"]
    # the bound by hand for rps: span 2, start (0.6, 0.3, 0.1), (0.2, 0.5, 0.3)
    c = mw_theory_check("rps", lr=0.1, steps=400)
    assert c["bound"] == pytest.approx((math.log(10) + math.log(5)) / 40 + 0.1)


def test_optimistic_methods_converge_and_mw_does_not():
    runs = game_runs("rps", lr=0.5, steps=300)
    assert runs["mw"].gap[-1] > runs["mw"].gap[0]
    for m in ("omw", "mirror_prox"):
        assert runs[m].gap[-1] < 1e-5 * runs[m].gap[0]
    g, x0, y0 = make_game("pennies")
    assert g.shape == (2, 2) and x0.sum() == pytest.approx(1)
    with pytest.raises(ValueError, match="Параметр game"):
        make_game("chess")


def test_game_figure_shapes():
    fig = game_figure("rps", 0.3, 100)
    assert "Камень" in fig.layout.title.text and "растёт" in fig.layout.title.text
    one = game_figure("pennies", 0.3, 100, methods=["mirror_prox"])
    assert "Mirror-Prox" in one.layout.title.text and "MW" not in one.layout.title.text
    gaps = [np.asarray(t.y, dtype=float) for t in fig.data if t.xaxis == "x2"]
    assert all((g > 0).all() for g in gaps)          # drawn on a log axis


# ------------------------------------------------------------------ KL step
def test_kl_step_is_softmax_and_argmax():
    rng = np.random.default_rng(0)
    for _ in range(3):
        pi = rng.dirichlet(np.ones(4))
        g = rng.normal(size=4)
        c = mirror_step_check(pi, g, 0.8)
        assert c["diff_softmax"] < 1e-12 and c["diff_argmax"] < 1e-6
        manual = pi * np.exp(0.8 * g)
        np.testing.assert_allclose(softmax_form(pi, g, 0.8).numpy(), manual / manual.sum(), rtol=1e-12)
        c = mirror_step_check(pi, g, 0.8, tau=2.0, prior=rng.dirichlet(np.ones(4)))
        assert c["diff_softmax"] < 1e-12 and c["diff_argmax"] < 1e-6
    with pytest.raises(ValueError, match="g должен"):
        mirror_step_check([0.5, 0.5], [1.0, 2.0, 3.0], 0.1)
    with pytest.raises(ValueError, match="pi"):
        mirror_step_check([0.5, 0.6], [1.0, 2.0], 0.1)


def test_project_simplex_against_brute_force():
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    for _ in range(4):
        v = rng.normal(size=5) * 2
        p = project_simplex(v)
        assert p.min() >= 0 and p.sum() == pytest.approx(1)
        res = minimize(lambda q: ((q - v) ** 2).sum(), np.full(5, 0.2), method="SLSQP", bounds=[(0, 1)] * 5,
                       constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1}], options={"ftol": 1e-14})
        np.testing.assert_allclose(p, res.x, atol=1e-5)
    fig = mirror_step_figure([0.5, 0.3, 0.2], [1.0, -0.5, 0.2], lrs=(0.1, 2.0))
    assert "η = 0.1: 0, η = 2: 2" in fig.layout.title.text


# ------------------------------------------------------------------ DRO
def test_dro_inner_closed_form_limits_and_numerical_max():
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    F = np.array([0.7, 2.4, 1.3])
    prior = np.array([0.5, 0.3, 0.2])
    for tau in (0.05, 0.7, 5.0):
        value, pi = dro_inner(F, tau, prior)

        def neg(u):
            lq = log_softmax(u)
            q = np.exp(lq)
            return -(q @ F - tau * (q @ (lq - np.log(prior))))

        res = minimize(neg, np.zeros(3), method="BFGS", options={"gtol": 1e-12})
        assert value == pytest.approx(-res.fun, rel=1e-8)
        np.testing.assert_allclose(pi, np.exp(log_softmax(res.x)), atol=1e-5)
    assert dro_inner(F, 1e4, prior)[0] == pytest.approx(prior @ F, abs=1e-3)
    assert dro_inner(F, 1e-4, prior)[0] == pytest.approx(F.max(), abs=1e-3)
    v0, pi0 = dro_inner(F, 0.0)
    assert v0 == F.max() and list(pi0) == [0, 1, 0]
    with pytest.raises(ValueError, match="tau"):
        dro_inner(F, -1.0)


def test_inner_mirror_ascent_contracts_by_one_over_one_plus_eta_tau():
    F = np.array([0.75, 2.36, 1.32])
    for lr, tau in ((1.0, 0.5), (0.3, 2.0)):
        r = inner_mirror_ascent(F, tau, lr, steps=30, prior=[0.2, 0.3, 0.5])
        assert r["measured"] == pytest.approx(1 / (1 + lr * tau), rel=1e-6)
        assert r["theory"] == pytest.approx(1 / (1 + lr * tau))
    r = inner_mirror_ascent(F, 0.5, 1.0, steps=120)
    np.testing.assert_allclose(r["pi"][-1], r["pi_star"], atol=1e-10)


def test_dro_path_limits():
    toy = DROToy()
    path = dro_path(toy, taus=(0.01, 1000.0))
    np.testing.assert_allclose(path["erm"], toy.minimizers[0], atol=1e-10)
    assert np.linalg.norm(path["theta"][-1] - path["erm"]) < 0.02
    assert np.linalg.norm(path["theta"][0] - path["worst"]) < 0.02
    inv = dro_path(toy, taus=(1e4,), prior="inverse_frequency")
    w = toy.prior("inverse_frequency")
    # the τ → ∞ limit minimises Σ_g π̂_g F_g: its gradient vanishes there
    th = torch.tensor(inv["erm"], requires_grad=True)
    (torch.as_tensor(w) * toy.group_losses(th)).sum().backward()
    assert th.grad.norm() < 1e-10
    assert np.linalg.norm(inv["theta"][0] - inv["erm"]) < 0.01


# ------------------------------------------------------------------ explorers
def test_bilinear_explorer_updates_and_static():
    ex = bilinear_explorer(lr=0.2, steps=60)
    w = ex.widget
    before = w.layout.title.text
    ex.set(lr=0.7, method="ogda")
    assert ex.status.value == ""
    assert "η = 0.7" in w.layout.title.text and before != w.layout.title.text
    assert "оптимистичный GDA: расходится" in w.layout.title.text
    sf = ex.static_figure({"lr": [0.1, 0.5]})
    assert len(sf.frames) == 2


def test_game_explorer_updates_and_static():
    ex = game_explorer(steps=100)
    w = ex.widget
    y0 = np.asarray(w.data[3].y, dtype=float).copy()
    ex.set(lr=1.0)
    assert not np.allclose(np.asarray(w.data[3].y, dtype=float), y0)
    ex.set(game="pennies", method="mw")
    assert "Орлянка" in w.layout.title.text and "Mirror-Prox" not in w.layout.title.text
    assert len(ex.static_figure({"lr": [0.1, 0.3]}).frames) == 2


def test_dro_explorer_updates_and_static():
    toy = DROToy()
    ex = dro_explorer(tau=1.0, problem=toy)
    w = ex.widget
    star = [t for t in w.data if t.name and t.name.startswith("θ*")][0]
    before = (star.x[0], star.y[0])
    ex.set(tau=0.01)
    star = [t for t in w.data if t.name and t.name.startswith("θ*")][0]
    assert np.hypot(star.x[0] - before[0], star.y[0] - before[1]) > 0.1
    assert "τ = 0.01" in w.layout.title.text
    ex.set(prior="inverse_frequency")
    assert "обратное" in w.layout.title.text
    assert len(ex.static_figure({"tau": [0.1, 100.0]}).frames) == 2
    with pytest.raises(ValueError, match="tau"):
        dro_figure(-1.0, problem=toy)


def test_methods_registry():
    assert list(BILINEAR_METHODS) == ["gda", "extragradient", "ogda"]
