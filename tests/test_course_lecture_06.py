"""Lecture 06 helpers: (L0, L1) constants against autograd and closed forms, the stable fixed step on
x⁴, the two phases, clipping against torch, over-parameterised GD, depth scaling, the explorers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course import lecture_06 as lec
from optviz.optim import L0L1GD
from optviz.problems.toys import ExpCosh, Quartic
from optviz.run import run


# -- examples -------------------------------------------------------------------------------------
def test_curvature_samples_match_closed_forms():
    s = lec.curvature_samples("quartic", 50)
    x = s["points"][:, 0]
    np.testing.assert_allclose(s["grad_norm"], 4 * np.abs(x) ** 3, rtol=1e-12)
    np.testing.assert_allclose(s["hess_norm"], 12 * x**2, rtol=1e-12)
    s = lec.curvature_samples("norm6", 30)
    r = np.linalg.norm(s["points"], axis=1)
    np.testing.assert_allclose(s["grad_norm"], 6 * r**5, rtol=1e-10)
    np.testing.assert_allclose(s["hess_norm"], 30 * r**4, rtol=1e-10)    # radial eigenvalue 2n(2n−1)r^{2n−2}
    s = lec.curvature_samples("logistic", 40)
    z = s["points"] @ np.array(lec._A_LOGISTIC)
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(s["hess_norm"], sig * (1 - sig) * 5.0, rtol=1e-6)   # 1 − σ cancels at large z


def test_smoothness_constants_hold_and_are_tight():
    rows = lec.smoothness_check(n=300)
    assert {r["key"] for r in rows} == set(lec.EXAMPLES)
    for r in rows:
        assert r["worst_ratio"] <= 1 + 1e-9
        assert r["tight_L1"] == pytest.approx(r["L1"], rel=3e-3)


def test_wrong_constants_are_detected():
    bad = lec.Example("quartic_bad", "x⁴", "x^4", 4.0, 1.0, 1, lambda x: (x**4).sum(), lec._line(-5, 5))
    (r,) = lec.smoothness_check([bad], n=201)
    assert r["worst_ratio"] > 1.2 and r["tight_L1"] == pytest.approx(2.0, rel=1e-2)


def test_difference_form_within_e_minus_1_and_tight_for_exp():
    assert lec.difference_form_ratio("exp") == pytest.approx(math.e - 1, rel=1e-12)
    for key in ("quartic", "exp_cosh", "norm6"):
        assert 1.0 < lec.difference_form_ratio(key, n=80, m=21) <= math.e - 1 + 1e-12


def test_example_errors_are_russian():
    with pytest.raises(ValueError, match="Параметр example"):
        lec.curvature_samples("x6")
    zero = lec.Example("q", "q", "", 1.0, 0.0, 1, lambda x: (x**2).sum(), lec._line(-1, 1))
    with pytest.raises(ValueError, match="L1 > 0"):
        lec.difference_form_ratio(zero)
    with pytest.raises(ValueError, match="кривая"):
        lec.curvature_figure([])


def test_curvature_figure_lines_and_caption():
    curves = [dict(label="x⁴", L0=4.0, L1=2.0, **lec.curvature_samples("quartic", 60))]
    fig = lec.curvature_figure(curves)
    assert len(fig.data) == 2 and fig.data[1].y[0] == pytest.approx(4 + 2 * fig.data[1].x[0])
    assert "x⁴: max" in fig.layout.annotations[0].text


# -- fixed step and phases ------------------------------------------------------------------------
def test_stable_step_is_one_over_two_x0_squared():
    rows = lec.stable_step_scan((2.0, 10.0), steps=100, n_grid=3001)
    for r in rows:
        assert r["measured"] <= r["theory"] and r["measured"] == pytest.approx(r["theory"], rel=6e-3)
        assert r["l0l1_at_x0"] == pytest.approx(1 / (4 + 2 * 4 * r["x0"] ** 3))
    assert rows[1]["gain"] == pytest.approx(50, rel=6e-3)
    fig = lec.stable_step_figure(rows, {"(L₀, L₁)": run(Quartic(), L0L1GD, 10.0, 20, L0=4.0, L1=2.0)})
    assert "x₀ = 10" in fig.layout.annotations[-1].text
    with pytest.raises(ValueError, match="x0"):
        lec.stable_step_scan((-1.0,))


def test_phase_check_quartic_reference_numbers():
    ph = lec.phase_check(Quartic(), 4.0, 2.0, 10.0, 200)
    np.testing.assert_allclose(ph["first_points"][1:], [9.50025, 9.00054, 8.50088], atol=1e-5)   # methods.md
    assert ph["k_star"] == 19 and ph["x_at_boundary"] == pytest.approx(2 ** (-1 / 3))
    assert ph["x_after"] < ph["x_at_boundary"] < ph["x_before"]
    assert ph["contraction_ok"] and 0.25 <= ph["length_min"] and ph["length_max"] < 0.5
    assert ph["tail_slope"] == pytest.approx(-2, abs=0.15)


def test_phase_check_exp_cosh_boundary_and_errors():
    ph = lec.phase_check(ExpCosh(), 2.0, 1.0, 5.0, 40)
    assert ph["x_at_boundary"] == pytest.approx(math.asinh(1.0))
    assert ph["x_after"] < ph["x_at_boundary"] < ph["x_before"]
    with pytest.raises(ValueError, match="L1"):
        lec.phase_check(Quartic(), 4.0, 0.0)


# -- clipping -------------------------------------------------------------------------------------
def test_clipping_ratios_closed_forms():
    g = np.geomspace(1e-3, 1e3, 301)
    r = lec.clipping_ratios(g, 3.0, 0.5)
    assert r["sandwich_ok"]
    np.testing.assert_allclose(r["clip_ratio"], 1 + np.minimum(0.5 * g / 3.0, 3.0 / (0.5 * g)), rtol=1e-12)
    np.testing.assert_allclose(r["norm_ratio"], 1 + 3.0 / (0.5 * g), rtol=1e-12)
    assert lec.clipping_ratios([6.0], 3.0, 0.5)["clip_ratio"][0] == pytest.approx(2.0)   # at ‖g‖ = L0/L1
    with pytest.raises(ValueError, match="Нормы градиента"):
        lec.clipping_ratios([1.0, 0.0], 1.0, 1.0)


def test_clipped_equals_torch_clip_grad_norm():
    t = lec.clipped_vs_torch(Quartic(), 4.0, 2.0, 10.0, 30)
    assert t["max_rel_diff"] < 1e-5
    assert t["torch"][1] == pytest.approx(10 - 0.5, rel=1e-6)        # clipped to L0/L1 = 2, step 1/L0


def test_clipping_explorer_updates_and_static():
    ex = lec.clipping_explorer("quartic", x0=9.7, steps=40)
    before = ex.widget.layout.meta["clip_ratio_range"]
    assert 1 <= before[0] <= before[1] <= 2
    ex.set(L0=64.0)
    after = ex.widget.layout.meta["clip_ratio_range"]
    assert after != before and ex.status.value == ""
    assert "L₀ = 64" in ex.widget.layout.title.text
    ex.set(problem="exp_cosh")
    assert ex.params["L0"] == 2.0 and ex.params["x0"] == 5.0 and "eˣ + e⁻ˣ" in ex.widget.layout.title.text
    ex.set(x0=1e6)
    assert "x0" in ex.status.value                   # a Russian status line, the last figure kept
    ex.set(x0=4.0)
    assert len(ex.static_figure({"L1": [1.0, 4.0]}).frames) == 2


def test_l0l1_explorer_from_library_builds():
    from optviz.widgets import l0l1_explorer

    ex = l0l1_explorer("quartic", L0=4.0, L1=2.0, x0=10.0, steps=40)
    k1 = ex.widget.layout.meta["phase_boundary"]
    ex.set(L1=8.0)
    assert ex.widget.layout.meta["phase_boundary"] != k1


# -- over-parameterisation ------------------------------------------------------------------------
def test_overparam_linear_projection_and_min_norm():
    o = lec.overparam_linear(n=10, d=60, steps=300, seed=3)
    assert o["null_dim"] == 50
    for k in ("zero", "random"):
        assert o[k]["residual"] < 1e-8 and o[k]["null_drift"] < 1e-8 and o[k]["to_projection"] < 1e-8
    assert o["zero"]["norm"] == pytest.approx(o["min_norm"], rel=1e-8)
    assert o["random"]["norm"] > o["zero"]["norm"] and o["between"] > 1


def test_depth_scaling_slopes_and_power_iteration():
    rows = lec.depth_scaling((1, 2), iters=80)
    assert abs(rows[0]["slope_hess"]) < 1e-6
    assert rows[1]["slope_grad"] == pytest.approx(3, abs=0.1) and rows[1]["slope_hess"] == pytest.approx(2, abs=0.1)
    # power iteration against the exact Hessian of the 2-layer net at t = 1
    X, Y, Ws = lec._deep_linear(2, 8, 4, 8, 0)
    flat = torch.cat([W.reshape(-1) for W in Ws])
    shapes = [W.shape for W in Ws]

    def f(v):
        parts, i = [], 0
        for s in shapes:
            parts.append(v[i:i + s.numel()].reshape(s))
            i += s.numel()
        return lec._deep_loss(parts, X, Y)

    H = torch.autograd.functional.hessian(f, flat)
    assert rows[1]["hess_norm"][0] == pytest.approx(float(torch.linalg.matrix_norm(H, ord=2)), rel=1e-4)
    with pytest.raises(ValueError, match="масштаба"):
        lec.depth_scaling((2,), scales=[1.0, 2.0])


def test_factorization_problem():
    p = lec.Factorization()
    x = np.array([[2.0, 0.5], [0.3, -1.0]])
    np.testing.assert_allclose(p.grad_np(x), p.grad(x).numpy(), rtol=1e-12)
    H = p.hessian([2.0, 0.5]).numpy()
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [0.0, 4.25], atol=1e-12)
    assert lec.Factorization.sharpness([2.0, 0.5]) == pytest.approx(4.25)


def test_manifold_runs_stop_below_stability_limit():
    for lr, n_div in ((0.1, 0), (0.4, 2)):
        fig = lec.manifold_figure(lec.manifold_runs(lr, 200), lr)
        meta = fig.layout.meta
        assert meta["diverged"] == n_div
        assert all(s <= 2 / lr + 1e-6 for s in meta["sharpness"])
    with pytest.raises(ValueError, match="method"):
        lec.manifold_runs(0.1, method="adam")


def test_manifold_explorer_updates_and_static():
    ex = lec.manifold_explorer(lr=0.1, steps=150)
    assert ex.widget.layout.meta["diverged"] == 0
    ex.set(lr=0.7)
    assert ex.widget.layout.meta["diverged"] >= 4 and "2/η = 2.86" in ex.widget.layout.annotations[-1].text
    assert len(ex.static_figure({"lr": [0.05, 0.5]}).frames) == 2
