"""Lecture 02 helpers: vectorised SGD equals optviz.run, the measured noise against closed forms and
the theorems, the logistic-regression constants, the explorers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from optviz.course.lecture_02 import (
    batch_explorer,
    batch_noise,
    batch_noise_figure,
    comparison_figure,
    conditioning_note,
    logistic_comparison,
    noise_floor_check,
    schedule_explorer,
    sgd_runs,
)
from optviz.optim.sgd import SGD
from optviz.problems.finite_sums import LinearRegression, LogisticRegression
from optviz.run import run
from optviz.viz.sgd import sgd_schedule_figure
from optviz.widgets.sgd import lr_scheduler


@pytest.fixture(scope="module")
def lin():
    return LinearRegression()


@pytest.mark.parametrize("kind", ["constant", "sqrt", "strongly_convex"])
def test_sgd_runs_is_run_seed_by_seed(lin, kind):
    runs = sgd_runs(lin, 4, 40, lr=0.3, seeds=(0, 5), schedule=kind)
    for j, seed in enumerate((0, 5)):
        tr = run(lin, SGD, lin.starts[0], 40, batches=lin.sample_batches(40, 4, seed), lr=0.3,
                 scheduler=lr_scheduler(kind, 0.3, lin.mu))
        np.testing.assert_allclose(runs.points[:, j], tr.points[:, 0], atol=1e-13)
        np.testing.assert_allclose(runs.gap[:, j], tr.loss[:, 0] - lin.f_star, atol=1e-13)
        np.testing.assert_allclose(runs.grad_norm[:, j], tr.grad_norm[:, 0], atol=1e-12)
        np.testing.assert_allclose(runs.step_size, tr.step_size[:, 0], rtol=1e-9)


def test_full_batch_is_gd_and_threads_restored():
    p = LogisticRegression.lecture()
    before = torch.get_num_threads()
    runs = sgd_runs(p, p.n_samples, 15, lr=0.5)
    assert torch.get_num_threads() == before
    gd = run(p, SGD, p.starts[0], 15, lr=0.5)
    np.testing.assert_allclose(runs.points[:, 0], gd.points[:, 0], atol=1e-12)
    assert list(runs.grad_evals[:3]) == [0, p.n_samples, 2 * p.n_samples]


def test_divergence_is_frozen_without_warnings(lin):
    runs = sgd_runs(lin, 1, 200, lr=50.0, seeds=(0, 1))
    assert (runs.diverged_at >= 0).all()
    k = int(runs.diverged_at[0])
    assert np.isfinite(runs.points).all()
    np.testing.assert_array_equal(runs.points[k:, 0], np.repeat(runs.points[k - 1:k, 0], 201 - k, 0))
    fig = sgd_schedule_figure(lin, {"constant": runs.traces()})
    assert any(a.text == "расходится" for a in fig.layout.annotations)


def test_traces_feed_the_schedule_figure(lin):
    traces = {k: sgd_runs(lin, 1, 50, lr=0.1, seeds=range(3), schedule=k).traces() for k in ("constant", "sqrt")}
    fig = sgd_schedule_figure(lin, traces)
    floor = [t for t in fig.data if t.meta == "noise_floor"]
    assert len(floor) == 1 and floor[0].y[0] == pytest.approx(lin.noise_floor(0.1))


def test_noise_floor_theorems_hold():
    rows = noise_floor_check(lrs=(0.1, 0.05), steps=400, seeds=range(12))
    const = [r for r in rows if r["kind"] == "constant"]
    assert all(0 < r["measured"] < r["floor"] for r in rows)
    # the floor is proportional to α; the measured plateau moves down with α as well
    assert const[1]["measured"] < 0.75 * const[0]["measured"]
    assert const[0]["floor"] == pytest.approx(2 * const[1]["floor"])


def test_batch_noise_matches_brute_force():
    p = LinearRegression(n_samples=7, seed=3)
    x = np.array([0.3, -1.0])
    G = p.sample_grads(x).numpy()
    full = G.mean(0)
    for b in (1, 2, 3, 7):
        subsets = list(itertools.combinations(range(7), b))
        errs = np.array([G[list(s)].mean(0) - full for s in subsets])
        exact = float((errs ** 2).sum(1).mean())      # every batch equally likely: the exact E‖e‖²
        np.testing.assert_allclose(errs.mean(0), 0, atol=1e-12)   # unbiased
        row = batch_noise(p, x, sizes=(b,), draws=6000)[0]
        assert row["exact"] == pytest.approx(exact, rel=1e-10, abs=1e-14)
        assert row["measured"] == pytest.approx(exact, rel=0.08, abs=1e-12)
    fig = batch_noise_figure(batch_noise(p, x, sizes=(1, 2, 4)), n=7)
    assert len(fig.data) == 3


def test_lecture_logistic_is_well_conditioned_and_gd_contracts_as_predicted():
    p = LogisticRegression.lecture()
    note = conditioning_note(p)
    assert 1.3 < note["kappa"] < 1.45
    assert note["data_curv"] == pytest.approx(note["mp_estimate"], rel=0.1)   # Marchenko–Pastur
    assert note["kappa_at_opt"] <= note["kappa"]
    assert note["kappa_if_sum"] == pytest.approx(1 + 200 * note["data_curv"])
    steps = note["gd_steps_1e-10"]
    tr = run(p, SGD, p.starts[0], steps, lr=2 / (p.mu + p.L))
    d0 = np.linalg.norm(p.starts[0] - p.optimum)
    assert np.linalg.norm(tr.points[-1, 0] - p.optimum) <= 1e-10 * d0 * (1 + 1e-6)
    hard = conditioning_note(LogisticRegression.hard())
    assert hard["kappa"] > 1000


def test_logistic_comparison_budget_and_figure():
    p = LogisticRegression.hard()
    runs = logistic_comparison(p, epochs=2, seeds=range(2))
    assert [r.grad_evals[-1] for r in runs] == [2 * p.n_samples] * len(runs)
    assert runs[0].batch_size == p.n_samples and len(runs[0].seeds) == 1
    assert all(r.gap[0, 0] == pytest.approx(runs[0].gap[0, 0]) for r in runs)
    fig = comparison_figure(runs)
    assert len(fig.data) == 2 * len(runs)
    with pytest.raises(ValueError):
        comparison_figure([])


def test_explorers_update_and_have_static_figures(lin):
    ex = schedule_explorer(lin, steps=40, seeds=range(2))
    w = ex.widget
    before = np.array(w.data[0].y, dtype=float)
    ex.set(lr=0.05)
    assert ex.status.value == ""
    assert not np.allclose(np.array(w.data[0].y, dtype=float), before, equal_nan=True)
    assert len(ex.static_figure({"lr": [0.05, 0.2]}).frames) == 2
    bx = batch_explorer(LogisticRegression.hard(), epochs=1, seeds=range(2))
    fw = bx.widget
    bx.set(batch_size=20, schedule="sqrt")
    assert "b = 20" in fw.layout.title.text
    with pytest.raises(ValueError, match="lr_scale"):
        bx.figure(lr_scale=-1.0)          # a Russian message naming the parameter (shown as a status line)
