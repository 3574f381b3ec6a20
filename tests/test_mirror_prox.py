"""Optimistic Mirror-Prox: the reference semantics of methods.md written out step by step, the
textbook extragradient mode, and convergence on convex–concave games where plain gradient
descent–ascent fails."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optviz._checks import NonFiniteGradientError
from optviz.optim.mirror_prox import OptimisticMirrorProx
from optviz.problems.dro_toy import DROToy

CYRILLIC = re.compile("[а-яА-Я]")


def make_data(n=50, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    groups = torch.randint(0, 5, (n,), generator=g)
    return X, y, groups


def make_model(seed=1):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 3).double()


def batches(n, batch, steps, seed=2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=g)[:batch] for _ in range(steps)]


def MD(pi, h, eta, tau, prior, T, eps):
    """softmax((log(π + ε) + ητ log π̂ − ηh) / ((1 + ητ) T))"""
    z = (np.log(pi + eps) + eta * tau * np.log(prior) - eta * h) / ((1 + eta * tau) * T)
    return np.exp(z - z.max()) / np.exp(z - z.max()).sum()


def oracle(W, b, pi_half, X, y, groups, idx, n_groups):
    """G = ∇ Σ_i π[g_i]·s·ℓ_i and h_g = −s Σ_{i∈g} ℓ_i, with s = n_groups / batch."""
    W, b = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ell = F.cross_entropy(X[idx] @ W.T + b, y[idx], reduction="none")
    s = n_groups / len(idx)
    obj = (torch.as_tensor(pi_half)[groups[idx]] * s * ell).sum()
    GW, Gb = torch.autograd.grad(obj, (W, b))
    h = -s * np.bincount(groups[idx].numpy(), weights=ell.detach().numpy(), minlength=n_groups)
    return GW, Gb, h


HYP = dict(lr=0.2, lam=0.03, pi_lr=0.5, tau=0.1, T=1.3, alpha=0.6, eps=1e-5)
PRIOR = np.array([0.3, 0.1, 0.2, 0.25, 0.15])
PI0 = np.array([0.1, 0.3, 0.2, 0.2, 0.2])


def reference(mode, model, X, y, groups, idx_list):
    """methods.md, Optimistic Mirror-Prox (and its extragradient / descent-ascent variants)."""
    h_ = HYP
    W, b = model.weight.detach().clone(), model.bias.detach().clone()
    pi = PI0.copy()
    md = lambda p, h: MD(p, h, h_["pi_lr"], h_["tau"], PRIOR, h_["T"], h_["eps"])  # noqa: E731
    lr, lam, alpha = h_["lr"], h_["lam"], h_["alpha"]
    prev = None
    for t, idx in enumerate(idx_list):
        if mode == "optimistic":
            if t == 0:
                Wh, bh, pih = W, b, pi
            else:
                GW_, Gb_, h_prev = prev
                Wh, bh = W - lr * (alpha * GW_ + lam * W), b - lr * (alpha * Gb_ + lam * b)
                pih = md(pi, h_prev)
            GW, Gb, h = oracle(Wh, bh, pih, X, y, groups, idx, 5)
            W, b = W - lr * (GW + lam * Wh), b - lr * (Gb + lam * bh)     # decay at the half point
            pi = md(pi, h)
            prev = (GW, Gb, h)
        elif mode == "extragradient":
            GW, Gb, h = oracle(W, b, pi, X, y, groups, idx, 5)
            Wh, bh, pih = W - lr * (GW + lam * W), b - lr * (Gb + lam * b), md(pi, h)
            GW, Gb, h = oracle(Wh, bh, pih, X, y, groups, idx, 5)
            W, b, pi = W - lr * (GW + lam * Wh), b - lr * (Gb + lam * bh), md(pi, h)
        else:
            GW, Gb, h = oracle(W, b, pi, X, y, groups, idx, 5)
            W, b, pi = W - lr * (GW + lam * W), b - lr * (Gb + lam * b), md(pi, h)
    return W, b, pi


def make_opt(model, mode):
    h = HYP
    return OptimisticMirrorProx(model.parameters(), n_groups=5, lr=h["lr"], weight_decay=h["lam"],
                                pi_lr=h["pi_lr"], pi_decay=h["tau"], pi_temperature=h["T"], alpha=h["alpha"],
                                prior=PRIOR, pi_init=PI0, mode=mode, eps=h["eps"])


def run(model, opt, X, y, groups, idx_list):
    for idx in idx_list:
        def closure(idx=idx):
            opt.zero_grad()
            loss = opt.weighted_loss(F.cross_entropy(model(X[idx]), y[idx], reduction="none"), groups[idx])
            loss.backward()
            return loss
        if opt.mode == "extragradient":
            opt.step(closure)
        else:
            closure()
            opt.step()


@pytest.mark.parametrize("mode", ["optimistic", "extragradient", "descent-ascent"])
def test_matches_reference_semantics(mode):
    X, y, groups = make_data()
    idx_list = batches(len(X), 12, 20)
    model = make_model()
    W, b, pi = reference(mode, model, X, y, groups, idx_list)
    opt = make_opt(model, mode)
    run(model, opt, X, y, groups, idx_list)
    with opt.base_point():
        torch.testing.assert_close(model.weight.detach(), W, rtol=0, atol=1e-12)
        torch.testing.assert_close(model.bias.detach(), b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(opt.pi.numpy(), pi, rtol=0, atol=1e-12)
    assert opt.iteration == 20 and opt.pi_history.shape == (21, 5)
    assert np.abs(pi - PI0).max() > 1e-2


def test_optimistic_parameters_hold_the_extrapolated_point():
    """Between steps the model holds θ_{t+1/2} = θ_t − lr(α G_{t−1/2} + λ θ_t)."""
    X, y, groups = make_data()
    model = make_model()
    opt = make_opt(model, "optimistic")
    run(model, opt, X, y, groups, batches(len(X), 12, 3))
    G = model.weight.grad.clone()
    with opt.base_point():
        theta = model.weight.detach().clone()
    expected = theta - HYP["lr"] * (HYP["alpha"] * G + HYP["lam"] * theta)
    torch.testing.assert_close(model.weight.detach(), expected, rtol=0, atol=1e-14)


# -- convex–concave games: OMP converges where descent–ascent does not --------------------------

def bilinear_distance(mode, lr, steps):
    """min_θ max_π π₁(1+θ) + π₂(1−θ): saddle θ* = 0, π* = (½, ½); returns the distance per step."""
    th = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    opt = OptimisticMirrorProx([th], n_groups=2, lr=lr, pi_lr=lr, pi_decay=0.0, mode=mode, eps=0.0)
    groups = torch.tensor([0, 1])

    def closure():
        opt.zero_grad()
        loss = opt.weighted_loss(torch.cat([1 + th, 1 - th]), groups)
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        opt.step(closure)
        with opt.base_point():
            out.append(float(np.hypot(th.item(), opt.pi[0].item() - 0.5)))
    return np.array(out)


def test_bilinear_game_omp_converges_gda_does_not():
    d0 = float(np.hypot(0.5, 0.0))
    gda = bilinear_distance("descent-ascent", 0.3, 300)
    omp = bilinear_distance("optimistic", 0.3, 300)
    eg = bilinear_distance("extragradient", 0.3, 300)
    assert gda[-1] > 2 * d0                       # simultaneous descent–ascent spirals away
    assert omp[-1] < 1e-6 and eg[-1] < 1e-6       # optimistic / extragradient converge
    assert omp[-1] < omp[100] < omp[0]


def test_dro_toy_game_omp_converges_gda_does_not():
    """The toy group-DRO game (strongly convex in θ, KL-regularised in π) with a large π step."""
    P = DROToy()
    tau = 0.1
    sol = P.dro_solution(tau, "inverse_frequency")

    def error(mode):
        th = torch.tensor(P.start, requires_grad=True)
        opt = OptimisticMirrorProx([th], n_groups=3, lr=0.3, pi_lr=0.5, pi_decay=tau,
                                   prior=P.prior("inverse_frequency"), mode=mode)
        errs = []
        for _ in range(300):
            opt.zero_grad()
            opt.weighted_loss(P.losses(th), P.groups).backward()
            opt.step()
            with opt.base_point():
                errs.append(np.linalg.norm(th.detach().numpy() - sol.theta))
        return np.array(errs), opt.pi.numpy()

    e_omp, pi_omp = error("optimistic")
    e_gda, _ = error("descent-ascent")
    assert e_omp[-1] < 1e-5 and np.abs(pi_omp - sol.pi).max() < 1e-5
    assert e_gda[-50:].min() > 0.05                # still oscillating far from the saddle


# -- API -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["optimistic", "extragradient"])
def test_state_dict_resume(mode):
    X, y, groups = make_data()
    idx_list = batches(len(X), 12, 10)
    model = make_model()
    opt = make_opt(model, mode)
    run(model, opt, X, y, groups, idx_list[:4])
    saved = copy.deepcopy((model.state_dict(), opt.state_dict()))
    run(model, opt, X, y, groups, idx_list[4:])
    model2 = make_model(seed=7)
    model2.load_state_dict(saved[0])
    opt2 = OptimisticMirrorProx(model2.parameters(), n_groups=5, mode=mode)
    opt2.load_state_dict(saved[1])
    run(model2, opt2, X, y, groups, idx_list[4:])
    for p1, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p1, p2)
    assert torch.equal(opt.pi, opt2.pi) and torch.equal(opt.pi_half, opt2.pi_half)
    assert torch.equal(opt.pi_history, opt2.pi_history)
    with opt.base_point(), opt2.base_point():
        for p1, p2 in zip(model.parameters(), model2.parameters()):
            assert torch.equal(p1, p2)


def test_extragradient_needs_a_closure():
    p = torch.zeros(2, requires_grad=True)
    opt = OptimisticMirrorProx([p], n_groups=2, mode="extragradient")
    opt.weighted_loss(p + 1.0, torch.tensor([0, 1])).backward()
    with pytest.raises(ValueError) as excinfo:
        opt.step()
    assert "closure" in str(excinfo.value) and CYRILLIC.search(str(excinfo.value))


def test_extragradient_nonfinite_second_call_restores_the_state():
    p = torch.tensor([0.5, -0.5], dtype=torch.float64, requires_grad=True)
    opt = OptimisticMirrorProx([p], n_groups=2, mode="extragradient", lr=0.1, pi_lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        losses = (p - 1.0) ** 2
        if len(calls) % 2 == 1:
            losses = losses * float("nan")
        calls.append(1)
        loss = opt.weighted_loss(losses, torch.tensor([0, 1]))
        loss.backward()
        return loss

    with pytest.raises(NonFiniteGradientError):
        opt.step(closure)
    assert torch.equal(p.detach(), torch.tensor([0.5, -0.5], dtype=torch.float64))
    assert torch.equal(opt.pi_half, opt.pi) and opt.iteration == 0


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_groups=-1), "n_groups"),
    (dict(n_groups=2, lr=-1.0), "lr"),
    (dict(n_groups=2, weight_decay=-1.0), "weight_decay"),
    (dict(n_groups=2, pi_lr=float("nan")), "pi_lr"),
    (dict(n_groups=2, pi_temperature=-1.0), "pi_temperature"),
    (dict(n_groups=2, alpha=-1.0), "alpha"),
    (dict(n_groups=2, mode="gda"), "mode"),
    (dict(n_groups=2, prior=[0.2, 0.2]), "prior"),
    (dict(n_groups=2, eps=-1.0), "eps"),
])
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError) as excinfo:
        OptimisticMirrorProx([torch.zeros(2, requires_grad=True)], **kwargs)
    msg = str(excinfo.value)
    assert name in msg and CYRILLIC.search(msg), msg
