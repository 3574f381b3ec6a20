"""Figure builders of lectures 02, 06, 07: the two-panel SGD view, constant vs decreasing steps,
the (L0, L1) phases and the restart view. References are independent of the builders: autograd
gradients, the normal equations, closed-form derivatives, the theorems' formulas."""

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from optviz.optim.l0l1 import L0L1GD
from optviz.optim.restarts import Restarts
from optviz.optim.sgd import SGD
from optviz.problems.finite_sums import LinearRegression
from optviz.problems.toys import ExpCosh, Quadratic, Quartic
from optviz.run import run
from optviz.viz._style import DIVERGED_TEXT
from optviz.viz.phases import (PHASE_LABELS, l0l1_phase_figure, measured_ripple_period, phase_boundary, plural,
                               restart_figure, ripple_period)
from optviz.viz.sgd import noise_floor_of, sgd_schedule_figure, sgd_two_panel

CYR = re.compile("[А-Яа-яЁё]")
STAR, POINT, ARROW, DIVERGED, BATCH, FIT = 4, 3, 6, 7, 9, 12   # trace indices of the two-panel view


@pytest.fixture(scope="module")
def linreg():
    return LinearRegression()


@pytest.fixture(scope="module")
def sgd_trace(linreg):
    return run(linreg, SGD, linreg.starts[0], 12, batches=4, seed=3, lr=0.1)


@pytest.fixture(scope="module")
def sgd_anim(linreg, sgd_trace):
    return sgd_two_panel(linreg, sgd_trace, arrow_scale=0.5)


def frame_trace(frame, index):
    return frame.data[list(frame.traces).index(index)]


# ---------------------------------------------------------------------------------------------
# two-panel SGD view
# ---------------------------------------------------------------------------------------------
def test_two_panel_structure(sgd_anim, sgd_trace):
    fig = sgd_anim
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 13 and fig.data[0].type == "contour"
    assert len(fig.frames) == sgd_trace.steps
    assert fig.layout.updatemenus and fig.layout.sliders
    assert len(fig.layout.sliders[0].steps) == sgd_trace.steps
    assert all(len(f.data) == len(f.traces) for f in fig.frames)


def test_frames_hold_batch_optimum_iterate_and_batch(sgd_anim, sgd_trace, linreg):
    for k, frame in enumerate(sgd_anim.frames):
        batch = sgd_trace.batches[k]
        star = frame_trace(frame, STAR)
        expected = linreg.batch_optimum(batch)
        assert [star.x[0], star.y[0]] == pytest.approx(list(expected), abs=1e-12)
        # independent: ★ solves the batch's normal equations A_Bᵀ(A_B★ − y_B) = 0
        A, y = linreg.A[batch], linreg.y[batch]
        assert np.abs(A.T @ (A @ np.array([star.x[0], star.y[0]]) - y)).max() < 1e-9
        pt = frame_trace(frame, POINT)
        assert (pt.x[0], pt.y[0]) == tuple(sgd_trace.points[k, 0])        # exactly the trajectory point
        data = frame_trace(frame, BATCH)
        assert list(data.x) == list(linreg.t[batch]) and list(data.y) == list(linreg.y[batch])
        fit = frame_trace(frame, FIT)
        w, b = sgd_trace.points[k, 0]
        assert list(fit.y) == pytest.approx(list(w * np.array(fit.x) + b))


def test_arrow_is_the_stochastic_gradient_of_the_step(sgd_anim, sgd_trace, linreg):
    lr = 0.1
    for k, frame in enumerate(sgd_anim.frames):
        x = sgd_trace.points[k, 0]
        g = linreg.grad(torch.tensor(x), batch=sgd_trace.batches[k]).numpy()     # autograd reference
        arrow = frame_trace(frame, ARROW)
        assert [arrow.x[0], arrow.y[0]] == list(x)
        assert [arrow.x[1], arrow.y[1]] == pytest.approx(list(x - 0.5 * g), abs=1e-12)
        # and it is the gradient the SGD step used: x_{k+1} = x_k − η g_k
        assert sgd_trace.points[k + 1, 0] == pytest.approx(x - lr * g, abs=1e-12)


def test_two_panel_titles_follow_parameters(sgd_anim, linreg):
    for k in (0, 5, 11):
        text = sgd_anim.frames[k].layout.title.text
        assert "η = 0.1" in text and "b = 4" in text and f"шаг k = {k} из 12" in text
    tr = run(linreg, SGD, linreg.starts[0], 6, batches=2, seed=0, lr=0.05)
    still = sgd_two_panel(linreg, tr, step=3)
    assert not still.frames
    assert "η = 0.05" in still.layout.title.text and "b = 2" in still.layout.title.text
    assert "шаг k = 3 из 6" in still.layout.title.text


def test_still_figure_equals_the_frame(sgd_anim, sgd_trace, linreg):
    still = sgd_two_panel(linreg, sgd_trace, step=7, arrow_scale=0.5)
    frame = sgd_anim.frames[7]
    for i in (STAR, POINT, ARROW, BATCH, FIT):
        assert list(still.data[i].x) == pytest.approx(list(frame_trace(frame, i).x))
        assert list(still.data[i].y) == pytest.approx(list(frame_trace(frame, i).y))
    assert still.layout.title.text == frame.layout.title.text


def test_decreasing_step_title_shows_eta_k(linreg):
    def sched(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 / math.sqrt(k + 1))
    tr = run(linreg, SGD, linreg.starts[0], 10, batches=4, seed=0, lr=0.2, scheduler=sched)
    fig = sgd_two_panel(linreg, tr, step=8, schedule="sqrt")
    assert "η₀ = 0.2" in fig.layout.title.text and "α₀/√(k+1)" in fig.layout.title.text
    assert f"η_k = {0.2 / 3:.3g}" in fig.layout.title.text


def test_batch_of_one_draws_the_line_of_batch_minimisers(linreg):
    tr = run(linreg, SGD, linreg.starts[0], 4, batches=1, seed=1, lr=0.1)
    fig = sgd_two_panel(linreg, tr, arrow_scale=1.0)
    for k, frame in enumerate(fig.frames):
        i = int(tr.batches[k, 0])
        line = frame_trace(frame, 5)
        # every point of the line fits sample i exactly: w t_i + b = y_i; ★ lies on it
        assert np.allclose(np.array(line.x) * linreg.t[i] + np.array(line.y), linreg.y[i])
        star = frame_trace(frame, STAR)
        assert star.x[0] * linreg.t[i] + star.y[0] == pytest.approx(linreg.y[i])


def test_diverging_sgd_is_labelled(linreg):
    tr = run(linreg, SGD, linreg.starts[0], 15, batches=4, seed=0, lr=1.5)
    fig = sgd_two_panel(linreg, tr)
    window = np.asarray(linreg.window)
    pts = tr.points[:, 0]
    out = ~((pts >= window[:, 0]) & (pts <= window[:, 1])).all(-1)
    exit_k = int(np.argmax(out))
    assert out.any()
    for k, frame in enumerate(fig.frames):
        text = list(frame_trace(frame, DIVERGED).text or [])
        labelled = any(DIVERGED_TEXT in t for t in text)
        assert labelled == (k >= exit_k)
        assert (DIVERGED_TEXT in frame.layout.title.text) == (k >= exit_k)


def test_two_panel_needs_batches(linreg):
    tr = run(linreg, SGD, linreg.starts[0], 3, lr=0.1)
    with pytest.raises(ValueError, match=CYR):
        sgd_two_panel(linreg, tr)


# ---------------------------------------------------------------------------------------------
# constant vs decreasing steps
# ---------------------------------------------------------------------------------------------
def _sc_scheduler(lr, mu):
    return lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(lr, (2 * k + 1) / (2 * mu * (k + 1) ** 2)) / lr)


@pytest.fixture(scope="module")
def schedule_runs(linreg):
    lr, K = 0.1, 200
    out = {"constant": [], "strongly_convex": []}
    for seed in (0, 1):
        batches = linreg.sample_batches(K, 1, seed)
        out["constant"].append(run(linreg, SGD, linreg.starts[0], K, batches=batches, lr=lr))
        out["strongly_convex"].append(run(linreg, SGD, linreg.starts[0], K, batches=batches, lr=lr,
                                          scheduler=_sc_scheduler(lr, linreg.mu)))
    return out


def test_noise_floor_line_equals_problem_noise_floor(schedule_runs, linreg):
    fig = sgd_schedule_figure(linreg, schedule_runs)
    floor = [d for d in fig.data if d.meta == "noise_floor"]
    assert len(floor) == 1
    assert list(floor[0].y) == [linreg.noise_floor(0.1)] * 2
    # the formula itself: L σ² α / (4μ), σ² = mean ‖∇f_i(x*)‖² (computed here from the residuals)
    r = linreg.A @ linreg.optimum - linreg.y
    sigma2 = float(np.mean((r[:, None] * linreg.A) ** 2 @ np.ones(2)))
    assert floor[0].y[0] == pytest.approx(linreg.L * sigma2 * 0.1 / (4 * linreg.mu), rel=1e-10)
    assert "шумовое плато" in fig.layout.title.subtitle.text
    assert "b = 1" in fig.layout.title.text


def test_noise_floor_of_a_batch_uses_the_batch_variance(linreg):
    tr = run(linreg, SGD, linreg.starts[0], 3, batches=4, lr=0.2)
    n, b = linreg.n_samples, 4
    r = linreg.A @ linreg.optimum - linreg.y
    g = r[:, None] * linreg.A
    var_b = float(((g - g.mean(0)) ** 2).sum(1).mean()) * (n - b) / (b * (n - 1))   # sampling without replacement
    assert noise_floor_of(linreg, tr) == pytest.approx(linreg.noise_floor(0.2, sigma2=var_b), rel=1e-10)
    big = run(linreg, SGD, linreg.starts[0], 3, batches=4, lr=1.5)
    assert noise_floor_of(linreg, big) is None                 # the theorem needs α < 1/(2μ)
    fig = sgd_schedule_figure(linreg, {"constant": big})
    assert not [d for d in fig.data if d.meta == "noise_floor"]
    assert "1/(2μ)" in fig.layout.title.subtitle.text


def test_schedule_figure_draws_means_and_bounds(schedule_runs, linreg):
    fig = sgd_schedule_figure(linreg, schedule_runs)
    means = [d for d in fig.data if d.name and "среднее по 2" in d.name]
    assert len(means) == 2
    expect = np.mean([tr.loss[:, 0] - linreg.f_star for tr in schedule_runs["constant"]], 0)
    assert np.allclose(np.array(means[0].y, dtype=float), expect, equal_nan=True)
    bound = [d for d in fig.data if d.name == "оценка Lσ²/(2μ²(k+1))"][0]
    k = np.arange(201)
    assert np.allclose(bound.y, linreg.L * linreg.sigma2() / (2 * linreg.mu ** 2 * (k + 1)))


def test_measurements_obey_the_theorems(schedule_runs, linreg):
    """Constant step: the gap settles below the floor Lσ²α/(4μ) (α = 0.1 < 1/(2μ)); the step
    (2k+1)/(2μ(k+1)²) goes below its bound Lσ²/(2μ²(k+1)) and below the constant step's plateau."""
    const = np.mean([tr.loss[:, 0] - linreg.f_star for tr in schedule_runs["constant"]], 0)
    dec = np.mean([tr.loss[:, 0] - linreg.f_star for tr in schedule_runs["strongly_convex"]], 0)
    assert const[100:].mean() < linreg.noise_floor(0.1)
    assert dec[-20:].mean() < linreg.L * linreg.sigma2() / (2 * linreg.mu ** 2 * 181)
    assert dec[-20:].mean() < 0.5 * const[100:].mean()


def test_schedule_figure_labels_divergence(linreg):
    tr = run(linreg, SGD, linreg.starts[0], 30, batches=4, lr=1.9)
    assert tr.diverged_at[0] >= 0
    fig = sgd_schedule_figure(linreg, {"constant": tr})
    assert any(a.text == DIVERGED_TEXT for a in fig.layout.annotations)
    assert DIVERGED_TEXT in fig.layout.title.subtitle.text


# ---------------------------------------------------------------------------------------------
# (L0, L1) phases
# ---------------------------------------------------------------------------------------------
def first_below(xs, derivative, bound):
    for k, x in enumerate(xs):
        if abs(derivative(x)) < bound:
            return k
    return -1


def QUARTIC_D(x):
    return 4 * x ** 3


def EXPCOSH_D(x):
    return math.exp(x) - math.exp(-x)


@pytest.mark.parametrize("problem, deriv, x0, L0, L1, steps", [
    (Quartic(), QUARTIC_D, 10.0, 4.0, 2.0, 40),
    (Quartic(), QUARTIC_D, 10.0, 1.0, 3.0, 40),
    (ExpCosh(), EXPCOSH_D, 5.0, 2.0, 1.0, 30),
    (ExpCosh(), EXPCOSH_D, -4.0, 8.0, 0.5, 30),
])
def test_phase_boundary_is_the_first_k_below_L0_over_L1(problem, deriv, x0, L0, L1, steps):
    tr = run(problem, L0L1GD, x0, steps, L0=L0, L1=L1)
    fig = l0l1_phase_figure(problem, [tr], L0, L1)
    kb = first_below(tr.points[:, 0, 0], deriv, L0 / L1)
    assert kb > 0
    assert fig.layout.meta["phase_boundary"] == kb
    lines = [s for s in fig.layout.shapes if s.name == "граница фаз"]
    assert lines and all(s.x0 == kb == s.x1 for s in lines)
    assert f"k* = {kb}" in fig.layout.annotations[-1].text
    texts = [a.text for a in fig.layout.annotations]
    assert PHASE_LABELS[0] in texts and PHASE_LABELS[1] in texts
    # panel 3: exactly the first kb iterates are coloured as the linear phase
    lin = [d for d in fig.data if d.name == f"x_k, {PHASE_LABELS[0]}"][0]
    sub = [d for d in fig.data if d.name == f"x_k, {PHASE_LABELS[1]}"][0]
    assert len(lin.x) == kb and len(sub.x) == steps + 1 - kb


def test_phase_boundary_on_given_gradient_norms():
    assert phase_boundary([5.0, 3.0, 2.0, 1.99, 1.0], 4.0, 2.0) == 3      # strictly below L0/L1 = 2
    assert phase_boundary([5.0, 3.0, 2.5], 4.0, 2.0) == -1
    assert phase_boundary([1.0, 0.5], 4.0, 2.0) == 0
    assert phase_boundary([1e9, 1.0], 4.0, 0.0) == 0                       # L1 = 0: L0/L1 = ∞
    assert phase_boundary([1.0, 1e-9], 0.0, 2.0) == -1                     # L0 = 0: never sublinear


def test_phase_figure_boundary_next_to_the_threshold():
    """A run whose crossing iterate has |f'| just below L0/L1 (within 10 %): the boundary is there."""
    q = Quartic()
    for L0 in np.linspace(2.0, 6.0, 41):
        tr = run(q, L0L1GD, 10.0, 40, L0=L0, L1=2.0)
        kb = first_below(tr.points[:, 0, 0], QUARTIC_D, L0 / 2.0)
        if abs(QUARTIC_D(tr.points[kb, 0, 0])) > 0.9 * L0 / 2.0:
            break
    else:
        pytest.fail("no run crosses the boundary within 10 % of it")
    fig = l0l1_phase_figure(q, [tr], L0, 2.0)
    assert fig.layout.meta["phase_boundary"] == kb


def test_phase_captions_follow_L0_L1():
    q = Quartic()
    tr = run(q, L0L1GD, 10.0, 30, L0=4.0, L1=2.0)
    fig = l0l1_phase_figure(q, [tr], 4.0, 2.0)
    assert "L₀ = 4" in fig.layout.title.text and "L₁ = 2" in fig.layout.title.text
    assert "L₀/L₁ = 2" in fig.layout.title.text and "x₀ = 10" in fig.layout.title.text
    # the start already below the boundary: the whole run is sublinear
    tr0 = run(q, L0L1GD, 0.5, 10, L0=4.0, L1=2.0)
    fig0 = l0l1_phase_figure(q, [tr0], 4.0, 2.0)
    assert fig0.layout.meta["phase_boundary"] == 0
    assert "сублинейная фаза" in fig0.layout.annotations[-1].text
    # a boundary never reached within the run: the whole run is linear
    tr1 = run(q, L0L1GD, 10.0, 5, L0=0.01, L1=2.0)
    fig1 = l0l1_phase_figure(q, [tr1], 0.01, 2.0)
    assert fig1.layout.meta["phase_boundary"] == -1
    assert "не пересечена" in fig1.layout.annotations[-1].text
    assert not [s for s in fig1.layout.shapes if s.name == "граница фаз"]


def test_effective_step_panel_is_the_l0l1_step():
    q = Quartic()
    tr = run(q, L0L1GD, 10.0, 25, L0=4.0, L1=2.0)
    gd = run(q, SGD, 10.0, 25, lr=1e-3)
    fig = l0l1_phase_figure(q, {"адаптивный": tr, "GD": gd}, 4.0, 2.0)
    eta = [d for d in fig.data if d.name == "η_k: адаптивный"][0]
    xs = tr.points[:-1, 0, 0]
    assert np.allclose(eta.y, 1 / (4.0 + 2.0 * np.abs(QUARTIC_D(xs))), rtol=1e-12)
    gd_eta = [d for d in fig.data if d.name == "η_k: GD"][0]
    assert np.allclose(gd_eta.y, 1e-3)
    ref = [d for d in fig.data if d.name and d.name.startswith("1/L₀")][0]
    assert list(ref.y) == [0.25, 0.25]


def test_phase_figure_labels_a_diverging_fixed_step():
    q = Quartic()
    tr = run(q, L0L1GD, 10.0, 20, L0=4.0, L1=2.0)
    gd = run(q, SGD, 10.0, 20, lr=0.01)         # |1 − 4·0.01·x₀²| = 3: leaves the window at once
    fig = l0l1_phase_figure(q, [tr, gd], 4.0, 2.0)
    assert any(a.text == DIVERGED_TEXT for a in fig.layout.annotations)
    assert f"{DIVERGED_TEXT} на шаге 1" in fig.layout.annotations[-1].text


def test_phase_figure_rejects_bad_constants():
    q = Quartic()
    tr = run(q, L0L1GD, 1.0, 3, L0=4.0, L1=2.0)
    with pytest.raises(ValueError, match=CYR):
        l0l1_phase_figure(q, [tr], 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# restarts
# ---------------------------------------------------------------------------------------------
def _nesterov(problem, criterion, **kw):
    def factory(params):
        return Restarts(torch.optim.SGD(params, lr=1 / problem.L, momentum=0.5, nesterov=True), criterion,
                        momentum_schedule="nesterov", **kw)
    return factory


@pytest.fixture(scope="module")
def restart_runs():
    q = Quadratic(kappa=100, angle_deg=30)
    K = 190
    runs = {"none": run(q, _nesterov(q, None), q.start, K),
            "function": run(q, _nesterov(q, "function"), q.start, K),
            "gradient": run(q, _nesterov(q, "gradient"), q.start, K),
            "period": run(q, _nesterov(q, "period", period=40), q.start, K)}
    return q, runs


def test_restart_markers_equal_trace_restarts(restart_runs):
    q, runs = restart_runs
    fig = restart_figure(runs, q, period=40)
    markers = [d for d in fig.data if d.meta == "restarts"]
    assert len(markers) == 4
    for (kind, tr), m in zip(runs.items(), markers):
        assert list(m.x) == list(tr.restarts)
        assert np.allclose(np.array(m.y, dtype=float), tr.loss[tr.restarts, 0] - q.f_star)
    assert runs["period"].restarts == [40, 80, 120, 160]          # restarts at P, 2P, …
    assert runs["none"].restarts == [] and runs["gradient"].restarts and runs["function"].restarts
    names = [d.name for d in fig.data if d.name and "рестарт" in d.name and d.meta != "restarts"]
    assert any(plural(4, ("рестарт", "рестарта", "рестартов")) in n for n in names)


def test_restart_caption_states_the_ripple_period(restart_runs):
    q, runs = restart_runs
    fig = restart_figure(runs, q)
    T = math.pi * math.sqrt(q.kappa)
    assert fig.layout.meta["ripple_period"] == pytest.approx(T)
    caption = fig.layout.annotations[-1].text
    assert f"π√κ ≈ {round(T, 1):.3g}" in caption and "κ = 100" in caption
    # the run without restarts does ripple with that period (local maxima of f − f*)
    assert measured_ripple_period(runs["none"].loss[:, 0]) == pytest.approx(T, rel=0.1)
    assert fig.layout.meta["measured_ripple_period"] == pytest.approx(T, rel=0.1)
    assert "κ = 100" in fig.layout.title.text


def test_ripple_period_formula():
    q = Quadratic(kappa=400)
    assert ripple_period(q) == pytest.approx(math.pi * 20)
    assert ripple_period(q, lr=0.25 / q.L) == pytest.approx(math.pi * 40)     # π/√(ημ)
    with pytest.raises(ValueError, match=CYR):
        ripple_period(q, lr=0.0)


def test_restart_trajectory_panel(restart_runs):
    q, runs = restart_runs
    fig = restart_figure({"gradient": runs["gradient"]}, q)
    assert fig.data[0].type == "contour"
    path = [d for d in fig.data if d.name == "путь: градиентная схема"][0]
    assert np.array_equal(np.array(path.x), runs["gradient"].points[:, 0, 0])
    pts = [d for d in fig.data if d.name == "точки рестартов: градиентная схема"][0]
    assert np.array_equal(np.array(pts.y), runs["gradient"].points[runs["gradient"].restarts, 0, 1])


def test_plural():
    forms = ("рестарт", "рестарта", "рестартов")
    assert [plural(n, forms) for n in (1, 2, 5, 11, 21, 22, 25, 112)] == [
        "1 рестарт", "2 рестарта", "5 рестартов", "11 рестартов", "21 рестарт", "22 рестарта", "25 рестартов",
        "112 рестартов"]
