"""Explorers of lectures 02, 06, 07: in-place updates of one FigureWidget, Russian status on invalid
input, static stand-ins with frames, and the numbers behind them checked independently."""

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from optviz.optim.restarts import Restarts
from optviz.optim.sgd import SGD
from optviz.problems.finite_sums import LinearRegression
from optviz.problems.toys import Quadratic, Quartic
from optviz.run import run
from optviz.widgets.l0l1 import best_fixed_step, l0l1_explorer
from optviz.widgets.restarts import auto_steps, restart_explorer
from optviz.widgets.sgd import lr_scheduler, schedule_traces, sgd_explorer, step_schedule

CYR = re.compile("[А-Яа-яЁё]")
STAR, POINT = 4, 3


def assert_russian_status(explorer):
    assert explorer.status.value and CYR.search(explorer.status.value)


# ---------------------------------------------------------------------------------------------
# SGD explorer
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sgd_ex():
    return sgd_explorer(steps=20, lr=0.1, batch_size=4, seed=0)


def test_sgd_explorer_updates_in_place(sgd_ex):
    fw = sgd_ex.widget
    assert isinstance(fw, go.FigureWidget)
    point0 = (fw.data[POINT].x[0], fw.data[POINT].y[0])
    sgd_ex.set(step=5)
    assert sgd_ex.widget is fw
    tr = sgd_ex.trace_for()
    assert (fw.data[POINT].x[0], fw.data[POINT].y[0]) == tuple(tr.points[5, 0]) != point0
    star = sgd_ex.problem.batch_optimum(tr.batches[5])
    assert [fw.data[STAR].x[0], fw.data[STAR].y[0]] == pytest.approx(list(star), abs=1e-12)
    assert "шаг k = 5 из 20" in fw.layout.title.text
    path_before = list(fw.data[2].x)
    sgd_ex.set(lr=0.3)
    assert sgd_ex.widget is fw and "η = 0.3" in fw.layout.title.text
    assert list(fw.data[2].x) != path_before
    sgd_ex.set(batch_size=9)
    assert "b = 9" in fw.layout.title.text and len(fw.data[9].x) == 9
    assert math.isfinite(sgd_ex.last_update_ms) and sgd_ex.status.value == ""


def test_sgd_explorer_schedule_and_seed(sgd_ex):
    fw = sgd_ex.widget
    sgd_ex.set(schedule="sqrt", lr=0.2, step=8, seed=0)
    assert "α₀/√(k+1)" in fw.layout.title.text and f"η_k = {0.2 / 3:.3g}" in fw.layout.title.text
    batches_0 = sgd_ex.trace_for().batches.copy()
    sgd_ex.set(seed=5)
    assert not np.array_equal(sgd_ex.trace_for().batches, batches_0)
    assert np.array_equal(sgd_ex.trace_for().batches, sgd_ex.problem.sample_batches(20, sgd_ex.params["batch_size"], 5))


def test_sgd_explorer_invalid_seed_shows_russian_status(sgd_ex):
    fw = sgd_ex.widget
    before = fw.layout.title.text
    sgd_ex.set(seed=-1)                       # typed into the seed box: no exception
    assert_russian_status(sgd_ex)
    assert fw.layout.title.text == before
    sgd_ex.set(seed=1)
    assert sgd_ex.status.value == ""


def test_sgd_explorer_static_figure_is_animated():
    ex = sgd_explorer(steps=6)
    fig = ex.static_figure()
    assert len(fig.frames) == 6 and fig.layout.sliders and fig.layout.updatemenus
    star = fig.frames[2].data[list(fig.frames[2].traces).index(STAR)]
    assert [star.x[0], star.y[0]] == pytest.approx(list(ex.problem.batch_optimum(ex.trace_for().batches[2])))


@pytest.mark.parametrize("kind", ["constant", "sqrt", "strongly_convex"])
def test_lr_scheduler_realises_the_schedule(kind):
    p = LinearRegression()
    lr = 0.4
    tr = run(p, SGD, p.starts[0], 12, batches=2, lr=lr, scheduler=lr_scheduler(kind, lr, p.mu))
    k = np.arange(12)
    expected = {"constant": np.full(12, lr), "sqrt": lr / np.sqrt(k + 1),
                "strongly_convex": np.minimum(lr, (2 * k + 1) / (2 * p.mu * (k + 1) ** 2))}[kind]
    assert np.allclose(tr.step_size[:, 0], expected, rtol=1e-10)     # ‖x_{k+1} − x_k‖/‖g_k‖ = α_k
    assert [step_schedule(kind, lr, p.mu)(int(i)) for i in k] == pytest.approx(list(expected))


def test_schedule_helpers_validate():
    with pytest.raises(ValueError, match=CYR):
        step_schedule("cosine", 0.1)
    with pytest.raises(ValueError, match=CYR):
        step_schedule("strongly_convex", 0.1)          # needs μ
    with pytest.raises(ValueError, match=CYR):
        step_schedule("sqrt", -0.1)
    p = LinearRegression()
    out = schedule_traces(p, 0.1, 3, 5, seeds=(0, 1), kinds=("constant", "sqrt"))
    assert set(out) == {"constant", "sqrt"} and len(out["sqrt"]) == 2
    assert np.array_equal(out["constant"][1].batches, out["sqrt"][1].batches)     # same batches per seed


# ---------------------------------------------------------------------------------------------
# (L0, L1) explorer
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def l0l1_ex():
    return l0l1_explorer(steps=40)


def first_below(xs, derivative, bound):
    return next((k for k, x in enumerate(xs) if abs(derivative(x)) < bound), -1)


def test_l0l1_explorer_updates_in_place(l0l1_ex):
    fw = l0l1_ex.widget
    y0 = list(fw.data[0].y)
    l0l1_ex.set(L1=1.0)
    assert l0l1_ex.widget is fw and list(fw.data[0].y) != y0
    assert "L₁ = 1" in fw.layout.title.text and "L₀/L₁ = 4" in fw.layout.title.text
    # the boundary on the figure is the first k with |f'(x_k)| < L0/L1 of the run drawn
    xs = np.array(fw.data[0].x)
    assert len(xs) == 41
    from optviz.optim.l0l1 import L0L1GD
    tr = run(Quartic(), L0L1GD, 10.0, 40, L0=4.0, L1=1.0)
    kb = first_below(tr.points[:, 0, 0], lambda x: 4 * x ** 3, 4.0)
    assert fw.layout.meta["phase_boundary"] == kb > 0
    assert f"k* = {kb}" in fw.layout.annotations[-1].text
    assert math.isfinite(l0l1_ex.last_update_ms)


def test_l0l1_explorer_problem_switch_and_invalid_start(l0l1_ex):
    fw = l0l1_ex.widget
    l0l1_ex.set(problem="exp_cosh")
    assert l0l1_ex.params["L0"] == pytest.approx(2.0) and l0l1_ex.params["L1"] == pytest.approx(1.0)
    assert "eˣ + e⁻ˣ" in fw.layout.title.text
    title = fw.layout.title.text
    l0l1_ex.set(x0=50.0)                            # outside the window (−6, 6)
    assert_russian_status(l0l1_ex)
    assert fw.layout.title.text == title
    l0l1_ex.set(x0=-3.0)
    assert l0l1_ex.status.value == "" and "x₀ = -3" in fw.layout.title.text


def test_best_fixed_step_is_best_among_neighbours():
    q = Quartic()
    gd, lr = best_fixed_step(q, 10.0, 40)
    assert gd.points[0, 0, 0] == 10.0 and gd.hyper["lr"] == pytest.approx(lr)
    starts = np.linspace(5.0, 10.0, 5)[:, None]

    def worst(step):      # the criterion, recomputed with separate runs: worst final gap over the starts
        tr = run(q, SGD, starts, 40, lr=step)
        if tr.diverged.any() or np.abs(tr.points[..., 0]).max() > 10.5:
            return math.inf
        return float((tr.final_loss - q.f_star).max())

    best = worst(lr)
    assert math.isfinite(best)
    ratio = 10 ** (6 / 60)                                  # the grid's spacing
    for other in (lr * ratio, lr / ratio, lr / 10):
        assert worst(other) >= best
    # GD on x⁴ from x₀ is stable only for |1 − 4ηx₀²| < 1 ⇔ η < 1/(2x₀²): a step far below 1/L₀
    assert lr < 1 / (2 * 10.0 ** 2) < 1 / 4.0
    # and the (L0, L1) step beats it on the same budget
    from optviz.optim.l0l1 import L0L1GD
    assert run(q, L0L1GD, 10.0, 40, L0=4.0, L1=2.0).final_loss[0] < gd.final_loss[0]


def test_l0l1_explorer_static_figure():
    ex = l0l1_explorer(steps=20)
    fig = ex.static_figure()
    assert len(fig.frames) == 7 and fig.layout.sliders
    assert "L₁ = 0.25" in fig.frames[0].layout.title.text


# ---------------------------------------------------------------------------------------------
# restart explorer
# ---------------------------------------------------------------------------------------------
def reference_restarts(kappa, angle, criterion, steps, **kw):
    """Restart steps of Nesterov + Restarts in a hand-written loop on the same quadratic."""
    q = Quadratic(kappa=kappa, angle_deg=angle)
    A = torch.tensor(q.matrix)
    x = torch.tensor(q.start, dtype=torch.float64, requires_grad=True)
    opt = Restarts(torch.optim.SGD([x], lr=1 / q.L, momentum=0.5, nesterov=True), criterion,
                   momentum_schedule="nesterov", **kw)

    def closure():
        opt.zero_grad()
        f = 0.5 * x @ A @ x
        f.backward()
        return f

    for _ in range(steps):
        opt.step(closure)
    return opt.restart_steps


def test_restart_explorer_markers_match_an_independent_loop():
    ex = restart_explorer(kappa=100.0, criterion="gradient")
    fw = ex.widget
    steps = auto_steps(Quadratic(kappa=100.0))
    assert steps == math.ceil(6 * math.pi * 10)
    markers = [d for d in fw.data if d.meta == "restarts"]
    assert list(markers[1].x) == reference_restarts(100.0, 30.0, "gradient", steps)
    assert list(markers[0].x) == []
    ex.set(criterion="period", period=45)
    assert ex.widget is fw
    markers = [d for d in fw.data if d.meta == "restarts"]
    assert list(markers[1].x) == list(range(45, steps + 1, 45))
    assert "период P = 45" in " ".join(d.name or "" for d in fw.data)
    ex.set(kappa=400.0)
    assert "κ = 400" in fw.layout.title.text
    assert "π√κ ≈ 62.8" in fw.layout.annotations[-1].text
    assert math.isfinite(ex.last_update_ms)


def test_restart_explorer_invalid_steps_and_static():
    ex = restart_explorer(kappa=30.0, criterion="function", steps=120)
    fw = ex.widget
    title = fw.layout.title.text
    ex.set(steps=-5)
    assert_russian_status(ex)
    assert fw.layout.title.text == title
    ex.set(steps=100)
    assert ex.status.value == ""
    assert len(fw.data[1].x) == 101
    fig = ex.static_figure({"kappa": [10.0, 30.0]})
    assert len(fig.frames) == 2 and fig.layout.sliders
