"""Helpers of lecture 04 (Shampoo, Muon): checked against methods.md numbers, torch's own Muon code
and closed forms (rotation equivariance, the Newton–Schulz scalar map, the Gupta et al. bound)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_04 import (
    CUBIC_COEFFS,
    METHODS_MD_G,
    METHODS_MD_UVT,
    MUON_COEFFS,
    cost_lines,
    kronecker_figure,
    kronecker_statistics,
    matrix_race,
    matrix_race_figure,
    memory_lines,
    muon_first_step,
    newton_schulz,
    newton_schulz_explorer,
    newton_schulz_figure,
    ns_test_matrix,
    one_thread,
    polar_factor,
    rotated_start,
    rotation_explorer,
    shampoo_first_step,
    step_cost,
    uvt_check_lines,
)
from optviz.problems.toys import Quadratic

G = torch.tensor(METHODS_MD_G, dtype=torch.float64)
UVT = torch.tensor(METHODS_MD_UVT, dtype=torch.float64)


def test_polar_factor_is_the_methods_md_example():
    Q = polar_factor(G)
    assert torch.allclose(Q, UVT, atol=1e-6)
    assert torch.allclose(Q.T @ Q, torch.eye(2, dtype=torch.float64), atol=1e-12)  # orthonormal columns
    # polar decomposition G = Q P with P symmetric positive definite
    P = Q.T @ G
    assert torch.allclose(P, P.T, atol=1e-12) and torch.linalg.eigvalsh(P).min() > 0


@pytest.mark.parametrize("lr", [0.1, 1.0])
def test_shampoo_without_accumulation_steps_lr_uvt(lr):
    step = shampoo_first_step(G, lr=lr)
    assert torch.allclose(step / lr, UVT, atol=2e-6)
    text = uvt_check_lines(step, lr)
    assert "-0.551003" in text and text.count("+0.823320") == 3


def test_shampoo_first_step_on_a_random_wide_matrix():
    A = torch.randn(4, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(shampoo_first_step(A, lr=0.5), 0.5 * polar_factor(A), atol=1e-9)


def test_muon_first_step_points_along_uvt():
    out = muon_first_step(G, lr=0.1)
    assert out["effective_lr"] == pytest.approx(0.1 * math.sqrt(1.5))
    d = out["direction"]
    cos = float((d * UVT).sum() / (d.norm() * UVT.norm()))
    assert cos > 0.99
    s = torch.linalg.svdvals(d)
    assert 0.6 < s.min() and s.max() < 1.25 and not torch.allclose(s, torch.ones(2, dtype=torch.float64), atol=0.05)


def test_newton_schulz_acts_on_singular_values_by_the_polynomial():
    A = ns_test_matrix(12, 8, cond=50.0, seed=1)
    its = newton_schulz(A, 4, MUON_COEFFS)
    a, b, c = MUON_COEFFS
    for x, y in itertools.pairwise(its):
        s = torch.linalg.svdvals(x)
        expected = torch.sort(a * s + b * s**3 + c * s**5, descending=True).values
        assert torch.allclose(torch.linalg.svdvals(y), expected, atol=1e-10)
    # singular vectors are kept: X_k and U V^T share them (X_k^T U V^T symmetric positive)
    M = its[-1].T @ polar_factor(A)
    assert torch.allclose(M, M.T, atol=1e-10) and torch.linalg.eigvalsh(M).min() > 0


def test_newton_schulz_matches_torch_muon_iteration():
    from torch.optim._muon import _zeropower_via_newtonschulz

    A = ns_test_matrix(32, 16, cond=100.0, seed=0)
    ours = newton_schulz(A, 5, MUON_COEFFS)[-1]
    ref = _zeropower_via_newtonschulz(A.float(), MUON_COEFFS, 5, 1e-7).double()
    assert ours.shape == ref.shape == A.shape
    assert torch.allclose(torch.linalg.svdvals(ours), torch.linalg.svdvals(ref), atol=0.03)  # bfloat16 in torch
    assert float(torch.linalg.norm(ours - ref) / torch.linalg.norm(ref)) < 0.05


def test_cubic_newton_schulz_converges_to_uvt_quintic_does_not():
    A = ns_test_matrix(10, 6, cond=10.0, seed=2)
    cubic = newton_schulz(A, 30, CUBIC_COEFFS)[-1]
    assert torch.allclose(cubic, polar_factor(A), atol=1e-8)
    quintic = torch.linalg.svdvals(newton_schulz(A, 30, MUON_COEFFS)[-1])
    assert quintic.min() > 0.6 and quintic.max() < 1.25 and (quintic - 1).abs().max() > 0.1


def test_kronecker_statistics_definitions_and_gupta_bound():
    s = kronecker_statistics(m=3, n=2, steps=50, seed=0)
    Gs = s["G"]
    H = sum(torch.outer(g.reshape(-1), g.reshape(-1)) for g in Gs)
    assert torch.allclose(s["H"], H)
    assert torch.allclose(s["L"], sum(g @ g.T for g in Gs)) and torch.allclose(s["R"], sum(g.T @ g for g in Gs))
    # Gupta, Koren, Singer (2018): sum vec(G)vec(G)^T <= r * L^{1/2} (x) R^{1/2}, r = min(m, n)
    w, Q = torch.linalg.eigh(s["L"])
    Ls = (Q * w.sqrt()) @ Q.T
    w, Q = torch.linalg.eigh(s["R"])
    Rs = (Q * w.sqrt()) @ Q.T
    gap = 2 * torch.kron(Ls, Rs) - H
    assert torch.linalg.eigvalsh(gap).min() > -1e-8 * float(H.norm())
    # row-major vec: (A (x) B) vec(X) = vec(A X B) for symmetric B — the Shampoo identity
    X = Gs[0]
    assert torch.allclose(torch.kron(Ls, Rs) @ X.reshape(-1), (Ls @ X @ Rs).reshape(-1))


def test_kronecker_approximation_improves_with_more_gradients():
    few, many = kronecker_statistics(steps=30, seed=0), kronecker_statistics(steps=3000, seed=0)
    assert many["err_kron"] < few["err_kron"] and many["err_kron"] < 0.06
    assert many["err_diag"] > 0.3   # the diagonal cannot see the correlations
    fig = kronecker_figure(many)
    assert len(fig.data) == 3 and "144 чисел" in fig.layout.title.text


def test_memory_lines():
    text = memory_lines(((4096, 4096),))
    assert "2.81e+14" in text and "3.36e+07" in text and "1.68e+07" in text


def test_rotation_explorer_shampoo_is_rotation_equivariant_adagrad_is_not():
    ex = rotation_explorer(methods=("Shampoo", "Adagrad"), kappa=100, angle_deg=0, steps=60)
    finals = {}
    for angle in (0.0, 30.0, 45.0):
        ex.set(angle_deg=angle)
        sh, ad = ex.traces()
        finals[angle] = (float(np.asarray(sh.loss)[-1].item()), float(np.asarray(ad.loss)[-1].item()))
        q = Quadratic(kappa=100, angle_deg=angle)
        assert np.allclose(np.asarray(sh.points)[0].reshape(2), rotated_start(q))
        assert np.asarray(sh.points)[0].reshape(2) == pytest.approx(q.rotation @ np.array([2.4, 1.2]))
    sh0 = finals[0.0][0]
    for angle in (30.0, 45.0):
        assert finals[angle][0] == pytest.approx(sh0, rel=1e-6, abs=1e-14)
    assert finals[0.0][1] < 1e-3 * finals[45.0][1]   # Adagrad: axis-aligned is easy, 45° is hard
    fw = ex.widget
    ex.set(kappa=10.0)
    assert ex.widget is fw and "κ = 10" in fw.layout.title.text


def test_rotation_explorer_static_figure_sweeps_angles():
    ex = rotation_explorer(methods=("Shampoo", "Adam"), steps=20)
    fig = ex.static_figure()
    assert len(fig.frames) == 7
    with pytest.raises(ValueError, match="Неизвестные методы"):
        rotation_explorer(methods=("Lion",))


def test_newton_schulz_figure_and_explorer():
    fig = newton_schulz_figure(steps=3, coeffs="cubic", cond=10.0)
    assert len([t for t in fig.data if t.mode == "lines+markers"]) == 16
    assert "3 итераций" in fig.layout.title.text
    with pytest.raises(ValueError, match="коэффициенты"):
        newton_schulz_figure(coeffs="septic")
    ex = newton_schulz_explorer()
    fw = ex.widget
    ex.set(steps=2)
    assert ex.widget is fw and "2 итераций" in fw.layout.title.text
    assert len(ex.static_figure().frames) == 9


def test_matrix_race_picks_best_step_and_starts_at_the_zero_loss():
    lrs = (0.01, 0.1, 1.0)
    res = matrix_race(m=6, n=3, samples=32, cond=10.0, steps=15, lrs=lrs, methods=("GD", "Adam", "Muon"))
    start = {name: r["loss"][0] for name, r in res.items()}
    assert len(set(np.round(list(start.values()), 4))) == 1   # W = 0: loss ‖Y‖²/N for everyone
    for r in res.values():
        assert r["lr"] in lrs and r["final"] == r["loss"][-1] and len(r["loss"]) == 16
        assert r["final"] < r["loss"][0]
    assert len(matrix_race_figure(res).data) == 3


def test_step_cost_and_one_thread():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    costs = step_cost((16, 8), steps=2, device="cpu")
    assert next(iter(costs)) == "torch Adam" and len(costs) == 5 and all(v > 0 for v in costs.values())
    text = cost_lines(costs, (16, 8))
    assert "16×8" in text and "× " in text and "torch Muon" in text
