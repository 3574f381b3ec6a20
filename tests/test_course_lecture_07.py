"""Lecture 07 helpers: the ripple period against π√κ, the fixed-period sweep against its own runs and the
bound, the network restarts against the criteria's formulas, PCA against an independent computation,
the batched regression against the library's per-seed experiment, the explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_07 import (
    CRITERION_LABELS,
    bound_optimal_period,
    criteria_consistency,
    criteria_figure,
    network_restarts,
    network_table,
    pca_figure,
    period_explorer,
    period_figure,
    period_sweep,
    regression_fits,
    ripple_check,
    steps_to_tolerance,
    trajectory_pca,
)
from optviz.experiments.restarts import regression_restarts_experiment
from optviz.problems.toys import Quadratic
from optviz.widgets.restarts import nesterov_run


def test_ripple_period_is_pi_sqrt_kappa():
    rows = ripple_check((30, 300))
    for r in rows:
        assert r["theory"] == pytest.approx(math.pi * math.sqrt(r["kappa"]))
        assert 0.95 < r["ratio"] < 1.08
    with pytest.raises(ValueError, match="kappa"):
        ripple_check((0.5,))


def test_bound_optimal_period_minimises_the_bound():
    kappa = 250.0
    P = np.linspace(5, 300, 20000)
    per_step = np.log(4 * kappa / P**2) / P
    assert P[np.argmin(per_step)] == pytest.approx(bound_optimal_period(kappa), rel=1e-3)
    assert bound_optimal_period(1.0) == pytest.approx(2 * math.e)


def test_steps_to_tolerance_counts_only_staying_below():
    gap = np.array([1.0, 0.5, 1e-3, 0.2, 1e-4, 1e-5])
    assert steps_to_tolerance(gap, 1e-2) == 4           # the dip at k = 2 comes back above
    assert steps_to_tolerance(gap, 1e-6) is None
    assert steps_to_tolerance([1.0, 0.0], 0.5) == 1
    with pytest.raises(ValueError, match="одномерным"):
        steps_to_tolerance(np.ones((2, 2)), 0.1)
    with pytest.raises(ValueError, match="tol"):
        steps_to_tolerance(gap, 2.0)


def test_period_sweep_matches_its_runs_and_the_ordering():
    s = period_sweep(100.0, periods=(8, 34, 120), tol=1e-8)
    q = Quadratic(kappa=100.0, angle_deg=30.0)
    for P, v in zip(s.periods, s.steps):
        tr = nesterov_run(q, "period", s.horizon, int(P))
        expect = steps_to_tolerance(tr.loss[:, 0] - q.f_star, 1e-8)
        assert (np.isnan(v) and expect is None) or v == expect
        assert tr.restarts[:2] == [P, 2 * P]
    # the adaptive gradient scheme beats every fixed period and no restart (measured)
    assert s.adaptive["gradient"] < np.nanmin(s.steps) < s.adaptive["none"]
    assert s.best_period == 34
    with pytest.raises(ValueError, match="period"):
        period_sweep(100.0, periods=(0,))


def test_period_figure_caption_from_state():
    s = period_sweep(30.0, tol=1e-8)
    f = period_figure(s, 18)
    text = f.layout.annotations[-1].text
    assert "P = 18" in text and f"{int(s.adaptive['gradient'])} шагов" in text
    assert f.layout.meta["best_period"] == s.best_period
    g = period_figure(s, 5)
    assert g.layout.meta["chosen_steps"] != f.layout.meta["chosen_steps"]


def test_period_explorer_updates_and_is_static():
    e = period_explorer(kappa=30.0, c=3.0)
    before = e.widget.layout.annotations[-1].text
    e.set(c=8.0)
    after = e.widget.layout.annotations[-1].text
    assert before != after and f"P = {round(8.0 * math.sqrt(30))}" in after
    e.set(kappa=100.0)
    assert "κ = 100" in e.widget.layout.annotations[-1].text
    sf = e.static_figure({"kappa": [30.0, 100.0]})
    assert len(sf.frames) == 2
    with pytest.raises(ValueError, match="c"):
        e.figure(c=-1.0)


@pytest.fixture(scope="module")
def tiny_runs():
    return network_restarts("tiny", device="cpu")


def test_network_restarts_follow_the_criteria(tiny_runs):
    assert list(tiny_runs) == [CRITERION_LABELS[None], "рестарт каждые 2 эпох",
                               CRITERION_LABELS["grad_norm_ratio"], CRITERION_LABELS["val_loss"]]
    for r in tiny_runs.values():
        recorded, expected = criteria_consistency(r, period=2)
        assert recorded == expected
        assert r.val_loss.shape == (5,) and r.snapshots.shape[0] == 5
        assert np.all(np.isfinite(r.val_grad_norm)) and np.all(r.val_grad_norm > 0)
    runs = list(tiny_runs.values())
    # same initialisation, and the first epoch is identical until a restart can happen
    np.testing.assert_array_equal(runs[0].snapshots[0], runs[1].snapshots[0])
    np.testing.assert_allclose(runs[0].snapshots[1], runs[3].snapshots[1], rtol=0, atol=0)
    assert runs[1].restart_epochs == [2, 4]
    rows = network_table(tiny_runs)
    assert rows[1]["Рестарты (эпохи)"] == "2, 4" and rows[0]["Рестарты (эпохи)"] == "—"
    fig = criteria_figure(tiny_runs, 2)
    assert "рестартов" in fig.layout.title.text
    with pytest.raises(ValueError, match="критерий"):
        network_restarts("tiny", criteria=("nope",))
    with pytest.raises(ValueError, match="параметр"):
        network_restarts("tiny", epochz=3)


def test_restart_resets_adam_state(tiny_runs):
    # a restart at epoch 2 makes epoch 3 differ from plain AdamW's epoch 3 although epochs 1-2 agree
    base, per = list(tiny_runs.values())[:2]
    np.testing.assert_array_equal(base.snapshots[2], per.snapshots[2])
    assert not np.array_equal(base.snapshots[3], per.snapshots[3])


def test_trajectory_pca_against_numpy(tiny_runs):
    pca = trajectory_pca(tiny_runs)
    X = np.concatenate([r.snapshots for r in tiny_runs.values()]).astype(np.float64)
    Xc = X - X.mean(0)
    w, V = np.linalg.eigh(Xc @ Xc.T)               # Gram-matrix PCA, independent of the SVD route
    order = np.argsort(w)[::-1]
    np.testing.assert_allclose(pca.explained, w[order[:2]] / w.sum(), rtol=1e-6)
    Z = np.concatenate(list(pca.coords.values()))
    for i in range(2):
        ref = V[:, order[i]] * math.sqrt(w[order[i]])
        assert min(np.abs(Z[:, i] - ref).max(), np.abs(Z[:, i] + ref).max()) < 1e-6 * np.abs(ref).max() + 1e-9
    fig = pca_figure(pca)
    assert f"{100 * pca.explained[0]:.0f}%" in fig.layout.title.text
    with pytest.raises(ValueError, match="снимков"):
        trajectory_pca({k: type(r)(**{**r.__dict__, "snapshots": None}) for k, r in tiny_runs.items()})


def test_regression_fits_equals_per_seed_experiment():
    kw = dict(steps=60, period=25, seeds=(0, 3), n_points=10, width=32, depth=2, grid=40)
    mine = regression_fits("tiny", **kw)
    ref = regression_restarts_experiment("tiny", **kw)
    assert list(mine.curves) == list(ref.curves)
    for name in mine.curves:
        np.testing.assert_allclose(mine.train_loss[name], ref.train_loss[name], rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(mine.curves[name], ref.curves[name], rtol=1e-3, atol=1e-4)
        assert mine.restarts[name] == ref.restarts[name]
    assert mine.config["parameters"] == ref.config["parameters"]
    with pytest.raises(ValueError, match="seeds"):
        regression_fits("tiny", seeds=())
    with pytest.raises(ValueError, match="size"):
        regression_fits("huge")


def test_threads_untouched():
    n = torch.get_num_threads()
    ripple_check((30,))
    assert torch.get_num_threads() == n


def test_presets_reject_unknown_keys_and_keep_none_overrides():
    from optviz.course.lecture_07 import NET_SIZES, _preset

    cfg = _preset(NET_SIZES, "full", {"max_snapshot": None, "epochs": 3})
    assert cfg["max_snapshot"] is None and cfg["epochs"] == 3 and NET_SIZES["full"]["max_snapshot"] == 200_000
    with pytest.raises(ValueError, match="Неизвестный параметр 'нет'"):
        _preset(NET_SIZES, "cpu", {"нет": 1})
