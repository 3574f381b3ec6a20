"""The π explorer (DRO toy) and the landscape explorer: in-place updates, captions against independent
references (the toy's DRO solution, the closed-form weighted ERM minimiser, the PCA of the saved
trajectory), Russian status on invalid input, static stand-ins."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from optviz import landscape as ls
from optviz.problems.dro_toy import DROToy
from optviz.widgets.dro import PiRun, pi_explorer, toy_compute, weighted_erm_solution
from optviz.widgets.landscape import landscape_explorer, trained_digits

STEPS = 30


@pytest.fixture(scope="module")
def P():
    return DROToy()


@pytest.fixture
def ex(P):
    return pi_explorer(P, steps=STEPS)


def pi_marker(fig):
    return next(t for t in fig.data if t.type == "scatterternary" and t.name == "π<sub>k</sub>")


def bands(fig):
    return np.array([t.y for t in fig.data if getattr(t, "stackgroup", None) == "pi"]).T


def weighted_erm_closed_form(P, weights):
    """argmin Σ_g w_g F_g for quadratic losses: (Σ_i w_{g_i} A_{g_i})⁻¹ Σ_i w_{g_i} A_{g_i} c_i."""
    A = P.CURVATURES[P.group_ids] * np.asarray(weights)[P.group_ids][:, None, None]
    return np.linalg.solve(A.sum(0), np.einsum("ijk,ik->j", A, P.points))


# ---------------------------------------------------------------------------------- π explorer
def test_pi_explorer_updates_in_place_and_compares_with_the_dro_solution(ex, P):
    fw = ex.widget
    assert isinstance(fw, go.FigureWidget)
    before = bands(fw).copy()
    ex.set(tau=0.05)
    assert ex.widget is fw and ex.status.value == ""
    after = bands(fw)
    assert after.shape == before.shape and not np.allclose(after, before)
    assert math.isfinite(ex.last_update_ms) and ex.last_update_ms > 0
    # the figure shows this run's π, and the caption the toy's own DRO solution for (τ, prior)
    res = ex.result()
    np.testing.assert_array_equal(after, res.traces[0].pi)
    sol = P.dro_solution(ex.params["tau"], "inverse_frequency")
    title = fw.layout.title.text
    assert f"θ* = ({sol.theta[0]:.3f}, {sol.theta[1]:.3f})" in title
    assert "η_π = 0.5" in title and f"τ = {ex.params['tau']:.3g}" in title
    th = res.traces[0].points[-1, 0]
    assert f"θ_K = ({th[0]:.3f}, {th[1]:.3f})" in title


def test_step_slider_redraws_without_recomputing(P):
    calls = []
    compute = toy_compute(P)

    def counting(params):
        calls.append(dict(params))
        return compute(params)

    e = pi_explorer(compute=counting, steps=STEPS)
    fw = e.widget
    n = len(calls)
    e.set(step=7)
    assert len(calls) == n                                         # cached run, only a redraw
    pi = e.result().traces[0].pi
    m = pi_marker(fw)
    np.testing.assert_array_equal([m.a[0], m.b[0], m.c[0]], pi[7])
    assert len(bands(fw)) == 8 and "шаг 7 из 30" in fw.layout.title.text
    # more steps: the step slider follows (stays at the end) and one new run is computed
    e.set(step=STEPS)
    e.set(steps=40)
    assert e.step_slider.max == 40 and e.step_slider.value == 40 and e.play.max == 40
    assert len(calls) == n + 1 and e.result().traces[0].steps == 40


def test_erm_limit_and_adam(ex, P):
    ex.set(erm=True)
    prior = P.prior("inverse_frequency")
    # π frozen at π̂ (up to the ε of log(π + ε) in the mirror step: a drift of about ε per step)
    np.testing.assert_allclose(bands(ex.widget), np.tile(prior, (STEPS + 1, 1)), atol=STEPS * 2e-7)
    sol = ex.result().solution
    np.testing.assert_allclose(sol.theta, weighted_erm_closed_form(P, prior), atol=1e-7)
    assert "τ = ∞" in ex.widget.layout.title.text
    ex.set(method="Adam")
    np.testing.assert_allclose(bands(ex.widget), 1 / 3)
    title = ex.widget.layout.title.text
    assert title.startswith("Эволюция весов групп π: Adam") and "ERM" in title
    assert f"ERM θ = ({P.minimizers[0][0]:.3f}, {P.minimizers[0][1]:.3f})" in title


def test_weighted_erm_solution_matches_closed_form(P):
    for w in (np.full(3, 1 / 3), P.prior("inverse_frequency"), np.array([0.1, 0.1, 0.8])):
        np.testing.assert_allclose(weighted_erm_solution(P, w).theta, weighted_erm_closed_form(P, w), atol=1e-7)
    np.testing.assert_allclose(weighted_erm_solution(P, np.full(3, 1 / 3)).theta, P.minimizers[0], atol=1e-7)


def test_race_view_and_divergence(ex):
    ex.set(view="race")
    fw = ex.widget
    tern = [t for t in fw.data if t.type == "scatterternary" and t.mode == "markers" and not t.name.startswith("★")]
    assert len(tern) == 2                                           # ALSO and Mirror-Prox; Adam has no π
    assert "ERM против DRO" in fw.layout.title.text
    assert not any("расходится" in list(t.text or []) for t in fw.data)
    ex.set(lr_gd=2.0)                                               # Mirror-Prox with a too large step
    assert any("расходится" in list(t.text or []) for t in fw.data)
    assert "Mirror-Prox" in fw.layout.title.text and "расходится" in fw.layout.title.text


def test_invalid_setting_gives_a_russian_status(P):
    compute = toy_compute(P)

    def picky(params):
        if params["tau"] > 10:
            raise ValueError("Параметр tau слишком велик для этой демонстрации.")
        return compute(params)

    e = pi_explorer(compute=picky, steps=STEPS)
    fw = e.widget
    before = bands(fw).copy()
    e.set(tau=100.0)                                                # no exception escapes
    assert "Параметр tau" in e.status.value and "⚠" in e.status.value
    assert e.widget is fw
    np.testing.assert_array_equal(bands(fw), before)                # the last good figure stays
    e.set(tau=1.0)
    assert e.status.value == ""


def test_plugged_compute_without_a_problem():
    """A compute for networks (classes as groups): no problem, group losses given, four groups."""
    import ipywidgets as W

    from optviz.run import Trace

    def compute(params):
        K, G = int(params["steps"]), 4
        rng = np.random.default_rng(int(params["seed"]))
        pi = rng.dirichlet(np.ones(G), K + 1)
        tr = Trace(points=np.zeros((K + 1, 1, 2)), loss=np.zeros((K + 1, 1)), grad_norm=np.zeros((K + 1, 1)),
                   step_size=np.zeros((K, 1)), diverged_at=np.array([-1]), pi=pi, method="ALSO",
                   hyper={"pi_lr": 0.1, "pi_decay": 0.01})
        return PiRun([tr], None, rng.uniform(0.1, 1.0, (K + 1, G)), group_names=["0", "1", "2", "3"])

    controls = {"seed": W.IntSlider(value=0, min=0, max=5), "steps": W.IntSlider(value=10, min=5, max=50)}
    e = pi_explorer(compute=compute, controls=controls)
    fw = e.widget
    first = bands(fw).copy()
    e.set(seed=1)
    assert e.widget is fw and not np.allclose(bands(fw), first)
    assert [t.name for t in fw.data if getattr(t, "stackgroup", None) == "pi"] == ["0", "1", "2", "3"]


def test_pi_static_and_animated_figures(ex):
    sf = ex.static_figure()
    assert len(sf.frames) == 4 and len(sf.layout.sliders[0].steps) == 4    # τ swept over four decades
    titles = [f.layout.title.text for f in sf.frames]
    assert len(set(titles)) == 4 and "τ = 0.01" in titles[0] and "τ = 10" in titles[-1]
    af = ex.animated_figure()
    assert len(af.frames) == STEPS + 1 and af.layout.updatemenus[0].buttons[0].label == "▶ Пуск"


# ---------------------------------------------------------------------------- landscape explorer
@pytest.fixture(scope="module")
def lx():
    return landscape_explorer(subset=64, resolution=7, train_steps=40)


def test_landscape_explorer_updates_in_place(lx):
    lx.set(kind="contour", directions="random", span=1.0)
    fw = lx.widget
    z0 = np.array(fw.data[0].z, dtype=float)
    lx.set(span=0.5)
    assert lx.widget is fw and lx.status.value == ""
    assert np.array(fw.data[0].x, dtype=float)[-1] == pytest.approx(0.5)
    assert not np.allclose(np.array(fw.data[0].z, dtype=float), z0)
    assert math.isfinite(lx.last_update_ms) and lx.last_update_ms < 10_000
    assert "не учитываются (смещения и BN)" in fw.layout.title.text
    lx.set(ignore_biasbn=False)
    assert "учитываются все параметры" in fw.layout.title.text
    lx.set(normalization="layer")
    assert "по слоям" in fw.layout.title.text
    lx.set(kind="surface")
    assert [t.type for t in fw.data] == ["surface"]
    lx.set(kind="line")
    assert all(t.type == "scatter" for t in fw.data) and "L(w₀ + α·d)" in fw.layout.title.text
    lx.set(kind="contour", ignore_biasbn=True, normalization="filter")


def test_landscape_pca_plane_shows_the_training_path(lx):
    lx.set(directions="pca", kind="contour")
    fw = lx.widget
    net = trained_digits((32,), steps=40)
    pca = ls.pca_directions(net.trajectory, model=net.model, ignore="biasbn", warn_below=0.0)
    path = next(t for t in fw.data if t.name == "траектория (проекция)")
    np.testing.assert_allclose(path.x, pca.coords[:, 0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(path.y, pca.coords[:, 1], rtol=1e-6, atol=1e-9)
    r = pca.explained_variance_ratio
    assert f"{100 * r[0]:.1f} %" in fw.layout.title.text and f"{100 * r[1]:.1f} %" in fw.layout.title.text
    lx.set(directions="random")


def test_landscape_invalid_seed_and_static(lx):
    fw = lx.widget
    z = np.array(fw.data[0].z, dtype=float)
    lx.set(seed=-1)
    assert "seed" in lx.status.value and "⚠" in lx.status.value
    np.testing.assert_array_equal(np.array(fw.data[0].z, dtype=float), z)
    lx.set(seed=1)
    assert lx.status.value == ""
    sf = lx.static_figure()
    assert len(sf.frames) == 4 and len(sf.layout.sliders[0].steps) == 4
