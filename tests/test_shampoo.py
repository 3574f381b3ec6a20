"""Shampoo: checked against closed forms (UVᵀ, full-matrix AdaGrad, mode products written by hand
in numpy, a 50-digit mpmath computation), against torch.optim (grafting, diagonal fallback) and on
ill-conditioned rotated quadratics against diagonal methods."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch

import optviz.optim.shampoo as shampoo_module
from optviz.optim.shampoo import Shampoo

G_REF = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
UVT_REF = [[-0.551003, 0.727825], [0.136159, 0.561065], [0.82332, 0.394306]]  # methods.md


def _gradients(shape, n, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=dtype) for _ in range(n)]


def _run_on_gradients(opt_factory, grads, x0=None):
    """Feed a fixed gradient sequence; return the parameter after each step (and the parameter)."""
    x = (torch.zeros_like(grads[0]) if x0 is None else x0.clone()).requires_grad_(True)
    opt = opt_factory([x])
    traj = []
    for g in grads:
        x.grad = g.clone()
        opt.step()
        traj.append(x.detach().clone())
    return traj, x, opt


def _inv_root(mat: np.ndarray, p: float) -> np.ndarray:
    """The textbook A^{-1/p} = Q diag(λ^{-1/p}) Qᵀ in numpy (no pseudo-inverse, no floor)."""
    w, V = np.linalg.eigh(mat)
    return (V * w ** (-1.0 / p)) @ V.T


# -- Muon connection ------------------------------------------------------------------------------
@pytest.mark.parametrize("betas", [(0.0, 0.0), (0.9, 1.0)])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 2e-6)])
def test_first_step_is_uvt_for_rank_deficient_3x2(betas, dtype, tol):
    # GG^T is 3x3 of rank 2: the null direction must not be amplified (pseudo-inverse root)
    G = torch.tensor(G_REF, dtype=dtype)
    W = torch.zeros(3, 2, dtype=dtype, requires_grad=True)
    opt = Shampoo([W], lr=0.5, betas=betas)
    W.grad = G.clone()
    opt.step()
    expected = torch.tensor(UVT_REF, dtype=torch.float64)
    torch.testing.assert_close(-W.detach().double() / 0.5, expected, atol=tol + 1e-6, rtol=0)
    U, _, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    torch.testing.assert_close(-W.detach().double() / 0.5, U @ Vh, atol=tol, rtol=0)


def test_no_accumulation_every_step_is_uvt_of_current_gradient():
    # beta2 = 0: factors are G G^T and G^T G of the current gradient only (Muon's exact target)
    grads = _gradients((5, 3), 4, seed=3)
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=1.0, betas=(0.0, 0.0)), grads)
    prev = torch.zeros(5, 3, dtype=torch.float64)
    for g, x in zip(grads, traj):
        U, _, Vh = torch.linalg.svd(g, full_matrices=False)
        torch.testing.assert_close(prev - x, U @ Vh, atol=1e-10, rtol=0)
        prev = x


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
@pytest.mark.parametrize("shape", [(3, 2), (8, 5)])
def test_torch_muon_step_points_along_uvt(shape):
    G = torch.tensor(G_REF) if shape == (3, 2) else _gradients(shape, 1, seed=7, dtype=torch.float32)[0]
    W = torch.zeros(shape, requires_grad=True)
    opt = torch.optim.Muon([W], lr=0.1, weight_decay=0.0, momentum=0.0, nesterov=False)
    W.grad = G.clone()
    opt.step()
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    cos = torch.nn.functional.cosine_similarity((-W.detach()).flatten(), (U @ Vh).flatten(), dim=0)
    assert cos > 0.95  # quintic Newton–Schulz only approximates UV^T: singular values land near 1
    # and the exact version of that step is Shampoo without accumulation
    W2 = torch.zeros(shape, requires_grad=True)
    sh = Shampoo([W2], lr=1.0, betas=(0.0, 0.0))
    W2.grad = G.clone()
    sh.step()
    torch.testing.assert_close(-W2.detach(), U @ Vh, atol=1e-5, rtol=0)


# -- the shared inverse root -------------------------------------------------------------------------
def test_matrix_inverse_root_plain_and_pseudo_inverse():
    from optviz.optim._functional import matrix_inverse_root

    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    full = q @ np.diag([9.0, 4.0, 0.25]) @ q.T
    got = matrix_inverse_root(torch.tensor(full), 4)
    np.testing.assert_allclose(got.numpy(), _inv_root(full, 4), atol=1e-12)
    singular = q @ np.diag([9.0, 4.0, 0.0]) @ q.T  # rank 2: the null direction gets 0, not 0^{-1/2}
    got = matrix_inverse_root(torch.tensor(singular).expand(2, 3, 3), 2, pinv_rtol=1e-12)
    expected = q[:, :2] @ np.diag([1 / 3, 1 / 2]) @ q[:, :2].T
    np.testing.assert_allclose(got.numpy(), np.stack([expected, expected]), atol=1e-12)
    got = matrix_inverse_root(torch.tensor(full), 2, pinv_atol=1.0)  # 0.25 <= atol: dropped
    np.testing.assert_allclose(got.numpy(), q[:, :2] @ np.diag([1 / 3, 1 / 2]) @ q[:, :2].T, atol=1e-12)


# -- closed forms: vectors, order-3 tensors ------------------------------------------------------
@pytest.mark.parametrize("eps", [1e-12, 1e-2])
def test_vector_is_full_matrix_adagrad(eps):
    grads = _gradients(4, 6, seed=1)
    lr = 0.3
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0), eps=eps), grads)
    L = eps * np.eye(4)
    x = np.zeros(4)
    for g, got in zip(grads, traj):
        g = g.numpy()
        L = L + np.outer(g, g)
        x = x - lr * _inv_root(L, 2) @ g
        np.testing.assert_allclose(got.numpy(), x, atol=1e-7, rtol=1e-7)


def test_rank_deficient_factor_matches_50_digit_computation():
    # after one step L = eps*I + g g^T has three eigenvalues at the eps floor; the exact
    # L^{-1/2} g (50 digits) is what the pseudo-inverse root returns, while float64 roots that
    # invert the floor carry its roundoff times eps^{-1/2} = 1e6 (scipy's fractional_matrix_power
    # is off by ~1e-4 here)
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    grads = _gradients(4, 3, seed=1)
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=1.0, betas=(0.0, 1.0), eps=1e-12), grads)
    L = mp.eye(4) * mp.mpf(1e-12)
    x = mp.matrix(4, 1)
    for g, got in zip(grads, traj):
        gm = mp.matrix(g.tolist())
        L = L + gm * gm.T
        E, Q = mp.eigsy(L)
        x = x - Q * mp.diag([e ** mp.mpf(-0.5) for e in E]) * Q.T * gm
        np.testing.assert_allclose(got.numpy(), np.array([float(v) for v in x]), atol=1e-9, rtol=0)


def test_vector_with_ema_and_momentum():
    b1, b2, eps, lr = 0.8, 0.9, 1e-3, 0.1
    grads = _gradients(3, 5, seed=2)
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=lr, betas=(b1, b2), eps=eps), grads)
    L, m, x = eps * np.eye(3), np.zeros(3), np.zeros(3)
    for t, (g, got) in enumerate(zip(grads, traj), start=1):
        g = g.numpy()
        L = b2 * L + np.outer(g, g)
        m = b1 * m + (1 - b1) * g
        x = x - lr * _inv_root(L, 2) @ (m / (1 - b1**t))
        np.testing.assert_allclose(got.numpy(), x, atol=1e-8, rtol=1e-7)


def test_order3_tensor_uses_exponent_minus_one_sixth_per_mode():
    grads = _gradients((2, 3, 4), 4, seed=4)
    lr, eps = 0.2, 1e-12
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0), eps=eps), grads)
    L1, L2, L3 = eps * np.eye(2), eps * np.eye(3), eps * np.eye(4)
    x = np.zeros((2, 3, 4))
    for g, got in zip(grads, traj):
        g = g.numpy()
        L1 = L1 + np.einsum("ajk,bjk->ab", g, g)
        L2 = L2 + np.einsum("iak,ibk->ab", g, g)
        L3 = L3 + np.einsum("ija,ijb->ab", g, g)
        R1, R2, R3 = (_inv_root(Li, 6) for Li in (L1, L2, L3))
        x = x - lr * np.einsum("abc,ia,jb,kc->ijk", g, R1, R2, R3)
        np.testing.assert_allclose(got.numpy(), x, atol=1e-8, rtol=1e-7)


def test_matrix_is_left_and_right_quarter_roots():
    grads = _gradients((4, 3), 3, seed=5)
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=1.0, betas=(0.0, 1.0), eps=1e-12), grads)
    L, R, x = 1e-12 * np.eye(4), 1e-12 * np.eye(3), np.zeros((4, 3))
    for g, got in zip(grads, traj):
        g = g.numpy()
        L, R = L + g @ g.T, R + g.T @ g
        x = x - _inv_root(L, 4) @ g @ _inv_root(R, 4)
        np.testing.assert_allclose(got.numpy(), x, atol=1e-7, rtol=1e-7)


def test_size_one_dims_are_dropped_and_scalars_are_diagonal_adagrad():
    grads = _gradients(4, 5, seed=6)
    vec, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=0.1, betas=(0.0, 1.0)), grads)
    col, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=0.1, betas=(0.0, 1.0)), [g[:, None] for g in grads])
    for a, b in zip(vec, col):
        torch.testing.assert_close(b[:, 0], a, atol=1e-12, rtol=0)
    scalars = [g[0] for g in grads]
    traj, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=0.1, betas=(0.0, 1.0), eps=1e-12), scalars)
    s, x = 1e-12, 0.0
    for g, got in zip(scalars, traj):
        s += float(g) ** 2
        x -= 0.1 * float(g) / math.sqrt(s)
        assert got.dim() == 0 and abs(float(got) - x) < 1e-12


# -- convergence on a rotated ill-conditioned quadratic --------------------------------------------
def _steps_to_accuracy(opt_factory, grad_fn, loss_fn, x0, tol, max_steps):
    x = x0.clone().requires_grad_(True)
    opt = opt_factory([x])
    f0 = float(loss_fn(x0))
    for t in range(1, max_steps + 1):
        x.grad = grad_fn(x.detach())
        opt.step()
        if not torch.isfinite(x).all():
            return math.inf
        if float(loss_fn(x.detach())) <= tol * f0:
            return t
    return math.inf


def _best_over_lrs(make, lrs, **kw):
    return min(_steps_to_accuracy(lambda p: make(p, lr), **kw) for lr in lrs)


def test_rotated_ill_conditioned_2d_quadratic_beats_diagonal_methods():
    kappa, theta = 1000.0, 0.6
    c, s = math.cos(theta), math.sin(theta)
    Q = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    H = Q @ torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64)) @ Q.T
    kw = dict(grad_fn=lambda x: H @ x, loss_fn=lambda x: 0.5 * x @ H @ x,
              x0=torch.tensor([1.0, 1.0], dtype=torch.float64), tol=1e-8, max_steps=300)
    diag_lrs = [10.0**e for e in (-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1)]
    shampoo = _best_over_lrs(lambda p, lr: Shampoo(p, lr=lr, betas=(0.0, 1.0)), [0.3, 1.0, 1.78, 3.0], **kw)
    adagrad = _best_over_lrs(lambda p, lr: torch.optim.Adagrad(p, lr=lr), diag_lrs, **kw)
    adam = _best_over_lrs(lambda p, lr: torch.optim.Adam(p, lr=lr), diag_lrs, **kw)
    adam_fast = _best_over_lrs(lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.9)), diag_lrs, **kw)
    assert shampoo <= 20
    assert min(adagrad, adam, adam_fast) >= 5 * shampoo, (shampoo, adagrad, adam, adam_fast)


def test_rotated_kronecker_matrix_quadratic_beats_diagonal_methods():
    # f(W) = ||A (W - W*) B||^2 / 2 with rotated A, B of condition 10 each (Hessian condition 1e4)
    n = 10

    def rotation(seed):
        gen = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
        return q

    scales = torch.diag(torch.logspace(0, 1, n, dtype=torch.float64))
    A = rotation(1) @ scales @ rotation(2).T
    B = rotation(3) @ scales @ rotation(4).T
    W_star = torch.randn(n, n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    kw = dict(grad_fn=lambda W: A.T @ (A @ (W - W_star) @ B) @ B.T,
              loss_fn=lambda W: 0.5 * ((A @ (W - W_star) @ B) ** 2).sum(),
              x0=torch.zeros(n, n, dtype=torch.float64), tol=1e-6, max_steps=200)
    diag_lrs = [10.0**e for e in (-2, -1.5, -1, -0.5, 0, 0.5, 1)]
    shampoo = _best_over_lrs(lambda p, lr: Shampoo(p, lr=lr, betas=(0.0, 1.0)), [10.0], **kw)
    adagrad = _best_over_lrs(lambda p, lr: torch.optim.Adagrad(p, lr=lr), diag_lrs, **kw)
    adam = _best_over_lrs(lambda p, lr: torch.optim.Adam(p, lr=lr), diag_lrs, **kw)
    assert shampoo <= 100
    assert min(adagrad, adam) >= 2 * shampoo, (shampoo, adagrad, adam)


# -- precondition_frequency -------------------------------------------------------------------------
def test_roots_recomputed_only_every_k_steps(monkeypatch):
    calls = []
    original = shampoo_module.matrix_inverse_root

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(shampoo_module, "matrix_inverse_root", counting)
    grads = _gradients((4, 3), 10, seed=8)
    W = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    opt = Shampoo([W], lr=0.1, betas=(0.0, 1.0), precondition_frequency=3)
    per_step, roots_seen = [], []
    for g in grads:
        before = len(calls)
        x_before = W.detach().clone()
        W.grad = g.clone()
        opt.step()
        per_step.append(len(calls) - before)
        roots_seen.append([r.clone() for r in opt.state[W]["roots"]])
        # the step used the cached roots: -(W_{t+1}-W_t)/lr = R_L G R_R with the stored roots
        RL, RR = opt.state[W]["roots"]
        torch.testing.assert_close((x_before - W.detach()) / 0.1, RL @ g @ RR, atol=1e-12, rtol=0)
    # steps 1, 4, 7, 10 recompute both factors' roots, the others none
    assert per_step == [2, 0, 0, 2, 0, 0, 2, 0, 0, 2]
    for t in (1, 2, 4, 5, 7, 8):  # cached roots unchanged within a period
        assert all(torch.equal(a, b) for a, b in zip(roots_seen[t - 1], roots_seen[t]))
    assert not torch.equal(roots_seen[2][0], roots_seen[3][0])
    # and a stale root really is the root of an older factor: at step 3 it is the root of L_1
    L1 = 1e-12 * np.eye(4) + grads[0].numpy() @ grads[0].numpy().T
    # L_1 has rank 1: compare on the range of L_1 only (pseudo-inverse root)
    w, V = np.linalg.eigh(L1)
    keep = w > 1e-6
    expected = (V[:, keep] * w[keep] ** -0.25) @ V[:, keep].T
    np.testing.assert_allclose(roots_seen[2][0].numpy(), expected, atol=1e-10)


def test_start_preconditioning_step_offsets_the_refresh_schedule(monkeypatch):
    calls = []
    original = shampoo_module.matrix_inverse_root
    monkeypatch.setattr(shampoo_module, "matrix_inverse_root",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    W = torch.zeros(3, 3, requires_grad=True)
    opt = Shampoo([W], grafting="adagrad", start_preconditioning_step=2, precondition_frequency=3)
    counts = []
    for g in _gradients((3, 3), 8, seed=9, dtype=torch.float32):
        before = len(calls)
        W.grad = g
        opt.step()
        counts.append(len(calls) - before)
    assert counts == [0, 2, 0, 0, 2, 0, 0, 2]  # t = 2, 5, 8: counted from the start step


# -- grafting -----------------------------------------------------------------------------------
def test_adagrad_grafting_matches_torch_adagrad_then_keeps_its_norm():
    grads = _gradients((4, 3), 8, seed=10, dtype=torch.float32)
    lr, start = 0.05, 4
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))

    # before start (with L2 weight decay too): exactly torch.optim.Adagrad
    ours, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0), weight_decay=0.1, grafting="adagrad",
                          start_preconditioning_step=start), grads, x0)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adagrad(p, lr=lr, weight_decay=0.1), grads, x0)
    for t in range(start - 1):
        torch.testing.assert_close(ours[t], ref[t], atol=1e-6, rtol=0)
    assert not torch.allclose(ours[start - 1], ref[start - 1], atol=1e-4)

    # after start: the step has Adagrad's length and Shampoo's direction (no weight decay, so the
    # graft state depends on the gradient sequence only)
    ours, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0), grafting="adagrad", start_preconditioning_step=start),
        grads, x0)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adagrad(p, lr=lr), grads, x0)
    raw, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0)), grads, x0)
    _check_grafted_steps(ours, ref, raw, x0, start)


def test_adam_grafting_matches_torch_adam_then_keeps_its_norm():
    grads = _gradients((3, 5), 8, seed=11, dtype=torch.float32)
    lr, start, b1 = 0.01, 4, 0.9
    x0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    ours, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(b1, 1.0), weight_decay=0.05, grafting="adam",
                          start_preconditioning_step=start), grads, x0)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adam(p, lr=lr, weight_decay=0.05), grads, x0)
    for t in range(start - 1):
        torch.testing.assert_close(ours[t], ref[t], atol=1e-6, rtol=0)

    ours, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(b1, 1.0), grafting="adam", graft_beta2=0.99, graft_eps=1e-6,
                          start_preconditioning_step=start), grads, x0)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, 0.99), eps=1e-6), grads, x0)
    raw, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=lr, betas=(b1, 1.0)), grads, x0)
    _check_grafted_steps(ours, ref, raw, x0, start)


def _check_grafted_steps(ours, ref, raw, x0, start):
    def steps(traj):
        prev = [x0] + traj[:-1]
        return [b - a for a, b in zip(prev, traj)]

    ours_s, ref_s, raw_s = steps(ours), steps(ref), steps(raw)
    for t in range(len(ours)):
        if t < start - 1:
            torch.testing.assert_close(ours_s[t], ref_s[t], atol=1e-6, rtol=0)
        else:
            assert ours_s[t].norm().item() == pytest.approx(ref_s[t].norm().item(), rel=1e-5)
            cos = torch.nn.functional.cosine_similarity(ours_s[t].flatten(), raw_s[t].flatten(), dim=0)
            assert cos.item() == pytest.approx(1.0, abs=1e-5)
            assert not torch.allclose(ours_s[t], ref_s[t], atol=1e-5)  # not just the graft


def test_adagrad_graft_with_momentum_uses_the_gradient_ema():
    # documented semantics: beta1 > 0 feeds the bias-corrected gradient EMA to AdaGrad's denominator
    b1, lr, geps = 0.7, 0.1, 1e-10
    grads = _gradients((2, 3), 5, seed=17)
    traj, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(b1, 1.0), grafting="adagrad", start_preconditioning_step=10), grads)
    S, m, x = np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))
    for t, (g, got) in enumerate(zip(grads, traj), start=1):
        g = g.numpy()
        S, m = S + g * g, b1 * m + (1 - b1) * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(S) + geps)
        np.testing.assert_allclose(got.numpy(), x, atol=1e-12, rtol=1e-10)


def test_scalar_parameter_with_grafting_is_the_graft():
    grads = [g[0, 0].float() for g in _gradients((1, 1), 6, seed=12)]
    ours, _, _ = _run_on_gradients(lambda p: Shampoo(p, lr=0.1, grafting="adam"), grads)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adam(p, lr=0.1), grads)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


# -- max_preconditioner_dim fallback -----------------------------------------------------------------
def test_long_vector_falls_back_to_diagonal_adagrad():
    grads = _gradients(6, 5, seed=13)
    ours, x, opt = _run_on_gradients(
        lambda p: Shampoo(p, lr=0.1, betas=(0.0, 1.0), max_preconditioner_dim=5), grads)
    ref, _, _ = _run_on_gradients(lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0), grads)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=0)
    (factor,) = opt.state[x]["factors"]
    assert factor.shape == (6,)
    torch.testing.assert_close(factor, 1e-12 + sum(g * g for g in grads), atol=1e-12, rtol=0)
    # at the limit it is still full-matrix (the step differs from diagonal AdaGrad)
    full, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=0.1, betas=(0.0, 1.0), max_preconditioner_dim=6), grads)
    assert not torch.allclose(full[-1], ref[-1], atol=1e-3)


def test_wide_mode_of_a_matrix_keeps_only_the_diagonal_of_its_factor():
    grads = _gradients((3, 6), 4, seed=14)
    eps, lr = 1e-12, 0.1
    ours, x, opt = _run_on_gradients(
        lambda p: Shampoo(p, lr=lr, betas=(0.0, 1.0), max_preconditioner_dim=4), grads)
    L, D, W = eps * np.eye(3), eps * np.ones(6), np.zeros((3, 6))
    for g, got in zip(grads, ours):
        g = g.numpy()
        L = L + g @ g.T
        D = D + (g * g).sum(axis=0)  # diag(G^T G): squared column norms
        W = W - lr * _inv_root(L, 4) @ g * D ** -0.25  # exponent stays -1/(2k) = -1/4
        np.testing.assert_allclose(got.numpy(), W, atol=1e-8, rtol=1e-7)
    shapes = [tuple(f.shape) for f in opt.state[x]["factors"]]
    assert shapes == [(3, 3), (6,)]


# -- batches of runs -------------------------------------------------------------------------------
def test_batch_dims_runs_are_independent():
    grads = _gradients((3, 2), 6, seed=15)
    lrs = torch.tensor([[0.05], [0.1], [0.2]], dtype=torch.float64)
    batched, _, _ = _run_on_gradients(
        lambda p: Shampoo(p, lr=lrs, betas=(0.5, 0.9), grafting="adagrad", batch_dims=1), grads)
    for r in range(3):
        single, _, _ = _run_on_gradients(
            lambda p: Shampoo(p, lr=float(lrs[r, 0]), betas=(0.5, 0.9), grafting="adagrad"),
            [g[r] for g in grads])
        for a, b in zip(batched, single):
            torch.testing.assert_close(a[r], b, atol=1e-12, rtol=0)


# -- state_dict -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_state_dict_resume_continues_identically(dtype):
    torch.manual_seed(0)
    shapes = [(4, 3), (5,), (2, 3, 2), ()]

    def make():
        gen = torch.Generator().manual_seed(1)
        params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True) for s in shapes]
        opt = Shampoo(params, lr=0.05, betas=(0.9, 0.99), grafting="adam", start_preconditioning_step=2,
                      precondition_frequency=3, weight_decay=0.01, max_preconditioner_dim=4)
        return params, opt

    def loss(params):
        return sum((p**4).sum() + (p.sum()) ** 2 for p in params)

    def run(params, opt, n):
        for _ in range(n):
            opt.zero_grad()
            loss(params).backward()
            opt.step()

    params, opt = make()
    run(params, opt, 5)
    saved_params = [p.detach().clone() for p in params]
    saved = copy.deepcopy(opt.state_dict())
    run(params, opt, 6)

    params2, opt2 = make()
    with torch.no_grad():
        for p, s in zip(params2, saved_params):
            p.copy_(s)
    opt2.load_state_dict(saved)
    run(params2, opt2, 6)
    for a, b in zip(params, params2):
        assert torch.equal(a, b)
    for p, q in zip(params, params2):
        for key, value in opt.state[p].items():
            other = opt2.state[q][key]
            if isinstance(value, list):
                assert all(torch.equal(u, w) and u.dtype == dtype for u, w in zip(value, other))
            elif isinstance(value, torch.Tensor):
                assert torch.equal(value, other)
            else:
                assert value == other


# -- validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=-1.0), "lr"),
    (dict(betas=(1.0, 0.9)), "betas[0]"),
    (dict(betas=(-0.1, 0.9)), "betas[0]"),
    (dict(betas=(0.9, 1.5)), "betas[1]"),
    (dict(betas=(0.9, -0.5)), "betas[1]"),
    (dict(betas=0.9), "betas"),
    (dict(eps=0.0), "eps"),
    (dict(weight_decay=-1e-3), "weight_decay"),
    (dict(precondition_frequency=0), "precondition_frequency"),
    (dict(precondition_frequency=2.0), "precondition_frequency"),
    (dict(start_preconditioning_step=0, grafting="adam"), "start_preconditioning_step"),
    (dict(start_preconditioning_step=5), "start_preconditioning_step"),  # no graft to step with
    (dict(grafting="sgd"), "grafting"),
    (dict(max_preconditioner_dim=0), "max_preconditioner_dim"),
    (dict(max_preconditioner_dim=1.5), "max_preconditioner_dim"),
    (dict(graft_beta2=1.0, grafting="adam"), "graft_beta2"),
    (dict(graft_eps=-1.0, grafting="adagrad"), "graft_eps"),
    (dict(batch_dims=-1), "batch_dims"),
    (dict(nonfinite="ignore"), "nonfinite"),
])
def test_invalid_hyperparameters_raise_in_russian(kwargs, name):
    with pytest.raises(ValueError, match=re.escape(f"Параметр {name} ")):
        Shampoo([torch.zeros(2, requires_grad=True)], **kwargs)


def test_nonfinite_gradient_leaves_state_untouched_with_skip():
    W = torch.ones(2, 2, requires_grad=True)
    opt = Shampoo([W], nonfinite="skip")
    W.grad = torch.ones(2, 2)
    opt.step()
    before = copy.deepcopy(opt.state_dict())
    W.grad = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    opt.step()
    assert opt.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(opt.state[W]["factors"], before["state"][0]["factors"]))


# -- devices --------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_cuda_matches_cpu():
    grads = _gradients((4, 3, 2), 5, seed=16, dtype=torch.float32)
    make = lambda p: Shampoo(p, lr=0.05, grafting="adam", start_preconditioning_step=2)  # noqa: E731
    cpu, _, _ = _run_on_gradients(make, grads)
    gpu, x, opt = _run_on_gradients(make, [g.cuda() for g in grads])
    assert all(f.device.type == "cuda" for f in opt.state[x]["factors"] + opt.state[x]["roots"])
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(b.cpu(), a, atol=1e-5, rtol=1e-4)
