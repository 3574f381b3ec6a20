"""Helpers of lecture 01: costs from the slides, the measured GD rates against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_01 import (
    DATASETS,
    SeparableLogistic,
    cost_figure,
    error_contraction,
    format_rate_rows,
    gd_rates_figure,
    iteration_costs,
    measured_rate,
    optimal_step_check,
)
from optviz.optim.sgd import SGD
from optviz.problems.toys import Quadratic
from optviz.run import run


def test_datasets_are_the_slides_numbers():
    sizes = {name: n for name, n, _ in DATASETS}
    assert sizes == {"ImageNet": 1.4e7, "WikiText": 1e8, "FineWeb": 15e12}


def test_iteration_costs_linear_in_n():
    rows = iteration_costs(batch_size=100)
    for r in rows:
        assert r["gd"] == r["n"] and r["sgd"] == 100
        assert r["ratio"] == pytest.approx(r["n"] / 100)
    with pytest.raises(ValueError, match="batch_size"):
        iteration_costs(batch_size=0)
    fig = cost_figure(batch_size=100)
    assert list(fig.data[0].y) == [r["n"] for r in rows]


def test_optimal_step_rate_matches_closed_form():
    rows = optimal_step_check((2.0, 10.0, 100.0, 1000.0), steps=40)
    for r in rows:
        assert r.theory == pytest.approx((r.kappa - 1) / (r.kappa + 1))
        assert r.lr == pytest.approx(2 / (1 + r.kappa))
        # at η* both eigen-components shrink by exactly (κ−1)/(κ+1) in modulus every step
        assert r.measured == pytest.approx(r.theory, rel=1e-9)
        assert r.worst_step == pytest.approx(r.theory, rel=1e-9)
        # η = 1/L is slower: 1 − 1/κ > (κ−1)/(κ+1)
        assert r.measured_1_over_L == pytest.approx(1 - 1 / r.kappa, rel=1e-9)
        assert r.measured_1_over_L > r.measured
    text = format_rate_rows(rows)
    assert "теория" in text and len(text.splitlines()) == 2 + len(rows)


def test_optimal_step_is_the_best_constant_step():
    """Independent check: a scan over steps by explicit matrix powers finds the minimum at 2/(μ+L)."""
    q = Quadratic(kappa=20, angle_deg=10)
    A = q.matrix
    e0 = q.start - q.minimizers[0]
    best = None
    for lr in np.linspace(0.2, 1.9, 171) / q.L:
        M = np.linalg.matrix_power(np.eye(2) - lr * A, 200)
        rate = (np.linalg.norm(M @ e0) / np.linalg.norm(e0)) ** (1 / 200)
        best = (rate, lr) if best is None or rate < best[0] else best
    assert best[1] == pytest.approx(q.optimal_step, rel=0.02)
    tr = run(q, SGD, q.start, 60, lr=q.optimal_step)
    assert measured_rate(tr, q.minimizers[0]) == pytest.approx(best[0], rel=1e-3)


def test_error_contraction_of_a_known_sequence():
    q = Quadratic(kappa=4, angle_deg=0)
    # start on the flat eigenvector: error shrinks by |1 − η μ| each step
    tr = run(q, SGD, np.array([2.0, 0.0]), 10, lr=0.25)
    assert np.allclose(error_contraction(tr, q.minimizers[0]), 0.75)


def test_separable_logistic_value_grad_and_rate():
    s = SeparableLogistic()
    x = torch.tensor([[-30.0], [0.0], [3.0], [800.0]], dtype=torch.float64)
    ref = torch.nn.functional.softplus(-x[:, 0])
    assert torch.allclose(s.loss(x), ref)
    assert np.allclose(s.grad_np(x.numpy()), s.grad(x).numpy())
    # L = sup f'' = 1/4 (at x = 0)
    assert float(s.hessian(torch.zeros(1))[0, 0]) == pytest.approx(0.25)
    tr = run(s, SGD, s.start, 2000, lr=4.0)
    f = tr.loss[:, 0]
    k = np.arange(f.size)
    assert np.all(np.diff(f) < 0)
    # O(1/k): f_k ≈ 1/(4k) for large k, and under the convex guarantee
    assert f[-1] * 4 * k[-1] == pytest.approx(1.0, rel=0.1)
    assert np.all(f[1:] <= s.best_bound(0.0, k[1:]) + 1e-15)


def test_gd_rates_figure_bounds_hold():
    fig = gd_rates_figure(steps=300)
    assert len(fig.data) == 6
    for meas, bound in zip(fig.data[0::2], fig.data[1::2]):
        assert np.all(np.asarray(meas.y) <= np.asarray(bound.y) * (1 + 1e-12))
        assert np.all(np.isfinite(meas.y)) and meas.y[-1] < meas.y[0]
    # PL panel: linear rate, log of the gap falls at least like k·log(1 − 1/κ)
    y = np.asarray(fig.data[0].y)
    assert math.log(y[-1] / y[0]) <= len(y) * math.log(0.9) + 1e-9
