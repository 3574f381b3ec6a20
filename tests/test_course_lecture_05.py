"""Tests of the helpers of lecture 05 (optviz.course.lecture_05) against independent references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optviz import landscape as ls
from optviz.course import lecture_05 as L


def _traj(points):
    return [{"vector": torch.as_tensor(p, dtype=torch.float64)} for p in points]


def _dir(v):
    return ls.Direction({"vector": torch.as_tensor(v, dtype=torch.float64)})


def test_projection_fraction_closed_form():
    # points relative to the final one: in-plane parts (e1, e2) and an off-plane part (e3)
    pts = np.array([[3.0, 1.0, 2.0, 0.0], [1.0, -2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    # directions that are not orthonormal but span {e1, e2}
    dirs = [_dir([2.0, 0.0, 0.0, 0.0]), _dir([1.0, 1.0, 0.0, 0.0])]
    expected = (9 + 1 + 1 + 4) / (9 + 1 + 4 + 1 + 4 + 1)
    assert L.projection_fraction(_traj(pts), dirs) == pytest.approx(expected, rel=1e-12)


def test_projection_fraction_equals_pca_explained_variance():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal((25, 40)) * np.linspace(3, 0.1, 40), axis=0)
    traj = _traj(walk)
    pca = ls.pca_directions(traj, warn_below=0.0)
    assert L.projection_fraction(traj, pca.directions[:2]) == pytest.approx(pca.plane_fraction, abs=1e-10)
    # one direction keeps less than two
    assert L.projection_fraction(traj, pca.directions[:1]) < pca.plane_fraction


def test_min_norm_fit_matches_pseudo_inverse_and_interpolates():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, 8), rng.standard_normal(8)
    for degree in (3, 7, 20):
        v = np.polynomial.legendre.legvander(x, degree)
        coef = L.min_norm_fit(x, y, degree)
        np.testing.assert_allclose(coef, np.linalg.pinv(v) @ y, atol=1e-6)
        if degree + 1 >= len(x):
            np.testing.assert_allclose(v @ coef, y, atol=1e-8)


def test_double_descent_peak_at_interpolation_threshold():
    res = L.double_descent(n_train=10, max_degree=40, noise=0.1, n_seeds=7)
    assert abs(res.peak_degree + 1 - res.n_train) <= 1
    # below the threshold the training error is positive, above it (near) zero
    assert res.median_train[res.degrees == 5][0] > 1e-4
    assert res.median_train[res.degrees == 30][0] < 1e-12
    # second descent: far beyond the threshold the test error is orders of magnitude below the peak
    assert res.median_test[-1] < 1e-3 * res.median_test.max()


def test_double_descent_without_noise_has_no_peak_at_threshold():
    res = L.double_descent(n_train=10, max_degree=40, noise=0.0, n_seeds=5)
    assert res.peak_degree != res.n_train - 1


def test_line_curvature_matches_hessian_vector_product():
    torch.manual_seed(0)
    x, y = torch.randn(50, 5, dtype=torch.float64), torch.randint(0, 3, (50,))
    model = torch.nn.Sequential(torch.nn.Linear(5, 3)).double()
    w = {n: p.detach().clone() for n, p in model.named_parameters()}
    net = L.TrainedMLP(model.eval(), (w, w), (x, y), (x, y), np.zeros(1), {})
    curv, _ = L.line_curvature(net, n_directions=2, half_width=1e-2, points=5)
    for k in range(2):
        d = ls.random_direction(model, index=k, reference=w)["0.weight"]

        def f(wt):
            return F.cross_entropy(x @ wt.T + w["0.bias"], y)

        _, hv = torch.autograd.functional.hvp(f, w["0.weight"], d)
        assert curv[k] == pytest.approx(float((hv * d).sum()), rel=1e-5)


def test_train_mlp_deterministic_and_restores_rng():
    state = torch.random.get_rng_state()
    a = L.train_mlp.__wrapped__(hidden=(8,), dropout=0.2, steps=6, batch_size=64, record_every=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = L.train_mlp.__wrapped__(hidden=(8,), dropout=0.2, steps=6, batch_size=64, record_every=3)
    c = L.train_mlp.__wrapped__(hidden=(8,), dropout=0.0, steps=6, batch_size=64, record_every=3)
    assert len(a.trajectory) == 3
    for n in a.end:
        assert torch.equal(a.end[n], b.end[n])
    assert not all(torch.equal(a.end[n], c.end[n]) for n in a.end)
    assert not a.model.training
    with pytest.raises(ValueError, match="optimizer"):
        L.train_mlp.__wrapped__(optimizer="lbfgs", steps=1)


def test_init_statistics_follow_variance_propagation():
    width = 64
    for sigma in (0.05, 0.3):
        s = L.init_statistics(12, width, scheme="poor", sigma=sigma)
        act = s["activation_std"]
        per_layer = np.exp(np.mean(np.diff(np.log(act[1:]))))   # hidden layers only
        assert per_layer == pytest.approx(sigma * np.sqrt(width / 2), rel=0.25)
    he = L.init_statistics(12, width, scheme="he")
    ratio = np.exp(np.mean(np.diff(np.log(he["activation_std"][1:]))))
    assert ratio == pytest.approx(1.0, abs=0.25)


def test_figures_and_explorers_build():
    fig = L.double_descent_figure(10, 9, 0.1, max_degree=30)
    assert "d = 9" in fig.layout.title.text
    ex = L.double_descent_explorer(n_train=10, degree=5, max_degree=30)
    assert len(ex.figure(degree=12).data) == 6
    with pytest.raises(ValueError, match="Степень"):
        ex.build({"degree": 31, "n_train": 10, "noise": 0.1})
    ie = L.init_explorer(depth=4)
    assert "σ = 0.01" in ie.figure().layout.title.text
    assert "Хе" in ie.figure(scheme="he").layout.title.text


def test_animated_pca_figure_has_frames():
    net = L.train_mlp(hidden=(8,), steps=20, record_every=5)
    pca = ls.pca_directions(net.trajectory, model=net.model, warn_below=0.0)
    plane = ls.loss_plane(net.model, net.train, pca, alphas=np.linspace(-1, 1, 5), betas=np.linspace(-1, 1, 5),
                          subset=64, progress=False)
    fig = L.animated_pca_figure(plane, pca)
    assert len(fig.frames) == len(net.trajectory)
    np.testing.assert_allclose(fig.frames[-1].data[0].x, pca.coords[:, 0])


# ------------------------------------------------------------------------------ grokking
def test_grokking_memorises_first_and_generalises_only_with_weight_decay():
    from optviz.course.lecture_05 import grokking_run

    g = grokking_run(weight_decay=1.0, steps=3000)
    g0 = grokking_run(weight_decay=0.0, steps=3000)
    m, gen = g.first_step("train", 0.99), g.first_step("test", 0.9)
    assert m is not None and m <= 300
    assert gen is not None and gen >= 5 * m                     # the delay that defines grokking
    assert g0.train_acc[-1] == 1.0 and g0.test_acc.max() < 0.1   # memorisation only
    assert g0.weight_norm[-1] > 2 * g.weight_norm[-1]            # without decay the norm keeps growing
    assert g.config["n_train"] == round(0.7 * 23 * 23) and len(g.steps) == 3000 // 50 + 1


def test_grokking_split_is_a_partition_and_deterministic():
    from optviz.course.lecture_05 import grokking_run

    a = grokking_run.__wrapped__(weight_decay=1.0, steps=60, record_every=20, seed=3)
    b = grokking_run.__wrapped__(weight_decay=1.0, steps=60, record_every=20, seed=3)
    np.testing.assert_array_equal(a.test_acc, b.test_acc)
    np.testing.assert_array_equal(a.weight_norm, b.weight_norm)
    assert list(a.steps) == [0, 20, 40, 60]
    assert a.first_step("test", 2.0) is None


def test_grokking_bad_input_is_named_in_russian():
    from optviz.course.lecture_05 import grokking_run

    with pytest.raises(ValueError, match="train_fraction"):
        grokking_run(train_fraction=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        grokking_run(weight_decay=-0.1)
    with pytest.raises(ValueError, match="modulus"):
        grokking_run(modulus=2)


def test_grokking_explorer_updates_and_has_a_static_version():
    from optviz.course.lecture_05 import grokking_explorer

    ex = grokking_explorer(weight_decay=1.0, steps=300)
    fig = ex.widget
    assert "λ = 1: обучение ≥ 99%" in fig.layout.title.text and len(fig.data) == 6   # λ = 1 and λ = 0
    ex.set(weight_decay=0.0)
    assert len(ex.widget.data) == 3 and "λ = 0" in ex.widget.layout.title.text
    static = ex.static_figure({"weight_decay": [0.0, 1.0]})
    assert len(static.frames) == 2
