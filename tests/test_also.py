"""ALSO against a step-by-step re-implementation of the reference semantics (methods.md), against
torch.optim.Adam where it must reduce to Adam, and the practical API (weighted_loss, base_point,
state_dict, per-sample groups, validation)."""

from __future__ import annotations

import copy
import math
import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optviz._checks import NonFiniteGradientError
from optviz.optim.also import ALSO
from optviz.optim._dro import inverse_frequency

EPS32 = float(np.finfo(np.float32).eps)
CYRILLIC = re.compile("[а-яА-Я]")


# -- a small problem with groups ----------------------------------------------------------------

def make_data(n=60, d=4, n_classes=3, n_groups=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(0, n_classes, (n,), generator=g)
    groups = torch.randint(0, n_groups, (n,), generator=g)
    groups[:3] = 0  # make group 0 big
    return X, y, groups


def make_model(d=4, hidden=5, n_classes=3, seed=1, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, n_classes)).to(dtype)


def forward(params, x):
    W1, b1, W2, b2 = params
    return F.linear(torch.tanh(F.linear(x, W1, b1)), W2, b2)


def batches(n, batch, steps, seed=2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=g)[:batch] for _ in range(steps)]


# -- the reference, written from the formulas of methods.md ---------------------------------

def MD(pi, h, eta, tau, prior, T, eps):
    """softmax((log(π + ε) + ητ log π̂ − ηh) / ((1 + ητ) T))"""
    z = (np.log(pi + eps) + eta * tau * np.log(prior) - eta * h) / ((1 + eta * tau) * T)
    z = z - z.max()
    return np.exp(z) / np.exp(z).sum()


class RefAdam:
    """AdamStep(g): k ← k+1; m, v moments; return −lr·(√(1−β₂ᵏ)/(1−β₁ᵏ))·m/(√v + ε)."""

    def __init__(self, shapes, lr, betas, eps):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m = [torch.zeros(s, dtype=torch.float64) for s in shapes]
        self.v = [torch.zeros(s, dtype=torch.float64) for s in shapes]
        self.k = 0

    def __call__(self, gs):
        self.k += 1
        out = []
        for i, g in enumerate(gs):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            c = math.sqrt(1 - self.b2**self.k) / (1 - self.b1**self.k)
            out.append(-self.lr * c * self.m[i] / (torch.sqrt(self.v[i]) + self.eps))
        return out


def reference_also(theta0, X, y, groups, idx_list, *, n_groups, lr, betas, eps, lam, pi_lr, tau, T, alpha,
                   prior, pi0, optimistic=True):
    """Returns θ_T, π_T, Adam counter after T iterations, and θ_{T+1/2}, π_{T+1/2}, counter after it."""
    theta = [t.detach().clone() for t in theta0]
    pi = np.array(pi0, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    adam = RefAdam([t.shape for t in theta], lr, betas, eps)
    G_prev = h_prev = None

    def oracle(th, pi_half, idx):
        th = [t.clone().requires_grad_(True) for t in th]
        ell = F.cross_entropy(forward(th, X[idx]), y[idx], reduction="none")
        s = n_groups / len(idx)
        w = torch.as_tensor(pi_half)[groups[idx]]
        obj = sum(w[i] * s * ell[i] for i in range(len(idx)))
        G = torch.autograd.grad(obj, th)
        h = -s * np.bincount(groups[idx].numpy(), weights=ell.detach().numpy(), minlength=n_groups)
        return list(G), h

    for t, idx in enumerate(idx_list):
        if optimistic and t > 0:                                  # 1. extrapolate
            th_half = [a + d for a, d in zip(theta, adam([alpha * G + lam * a for G, a in zip(G_prev, theta)]))]
            pi_half = MD(pi, h_prev, pi_lr, tau, prior, T, eps)
        else:
            th_half, pi_half = theta, pi
        G, h = oracle(th_half, pi_half, idx)                      # 2. losses and G at the half point
        theta = [a + d for a, d in zip(theta, adam([g + lam * a for g, a in zip(G, theta)]))]  # 3.
        pi = MD(pi, h, pi_lr, tau, prior, T, eps)                 # 4.
        G_prev, h_prev = G, h
    k_T = adam.k
    if optimistic:  # the next extrapolation, which the optimizer has already taken
        th_next = [a + d for a, d in zip(theta, adam([alpha * G + lam * a for G, a in zip(G_prev, theta)]))]
        pi_next = MD(pi, h_prev, pi_lr, tau, prior, T, eps)
    else:
        th_next, pi_next = theta, pi
    return theta, pi, k_T, th_next, pi_next, adam.k


def run_also(model, opt, X, y, groups, idx_list):
    for idx in idx_list:
        opt.zero_grad()
        losses = F.cross_entropy(model(X[idx]), y[idx], reduction="none")
        opt.weighted_loss(losses, groups[idx]).backward()
        opt.step()


HYPER = dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3, lam=0.02, pi_lr=0.4, tau=0.05, T=0.8, alpha=0.7)


@pytest.mark.parametrize("mode", ["optimistic", "descent-ascent"])
def test_matches_reference_semantics(mode):
    X, y, groups = make_data()
    n_groups, steps = 4, 20
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    pi0 = np.array([0.4, 0.3, 0.2, 0.1])
    idx_list = batches(len(X), 16, steps)
    model = make_model()
    theta0 = [p.detach().clone() for p in model.parameters()]
    h = HYPER
    opt = ALSO(model.parameters(), n_groups=n_groups, lr=h["lr"], betas=h["betas"], eps=h["eps"],
               weight_decay=h["lam"], pi_lr=h["pi_lr"], pi_decay=h["tau"], pi_temperature=h["T"],
               alpha=h["alpha"], prior=prior, pi_init=pi0, mode=mode)
    run_also(model, opt, X, y, groups, idx_list)
    theta, pi, k_T, th_next, pi_next, k_next = reference_also(
        theta0, X, y, groups, idx_list, n_groups=n_groups, lr=h["lr"], betas=h["betas"], eps=h["eps"],
        lam=h["lam"], pi_lr=h["pi_lr"], tau=h["tau"], T=h["T"], alpha=h["alpha"], prior=prior, pi0=pi0,
        optimistic=mode == "optimistic")

    if mode == "optimistic":
        assert k_T == 2 * steps - 1                      # the reference counter after T iterations
        assert k_next == 2 * steps                       # ... plus the extrapolation of iteration T+1
    else:
        assert k_T == k_next == steps
    for p in model.parameters():
        assert opt.state[p]["step"] == k_next
    with opt.base_point():                               # θ_T
        for p, r in zip(model.parameters(), theta):
            torch.testing.assert_close(p.detach(), r, rtol=0, atol=1e-12)
    for p, r in zip(model.parameters(), th_next):        # θ_{T+1/2}, where the next gradient is taken
        torch.testing.assert_close(p.detach(), r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(opt.pi.numpy(), pi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(opt.pi_half.numpy(), pi_next, rtol=0, atol=1e-12)
    assert opt.pi_history.shape == (steps + 1, n_groups)
    np.testing.assert_allclose(opt.pi_history[0].numpy(), pi0, atol=1e-15)
    # π really moved away from π0 and the prior (the test can fail)
    assert np.abs(pi - pi0).max() > 1e-2


def test_mirror_step_is_the_formula():
    """One descent-ascent step: π₁ = softmax((log(π₀+ε) + ητ log π̂ − ηh)/((1+ητ)T)), h = −s Σ_g ℓ."""
    X, y, groups = make_data()
    model = make_model()
    prior, pi0 = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.25, 0.25, 0.4, 0.1])
    eta, tau, T, eps = 0.7, 0.3, 1.5, 1e-4
    opt = ALSO(model.parameters(), n_groups=4, pi_lr=eta, pi_decay=tau, pi_temperature=T, eps=eps,
               prior=prior, pi_init=pi0, mode="descent-ascent")
    with torch.no_grad():
        ell = F.cross_entropy(model(X), y, reduction="none").numpy()
    opt.zero_grad()
    opt.weighted_loss(F.cross_entropy(model(X), y, reduction="none"), groups).backward()
    opt.step()
    s = 4 / len(X)
    h = np.array([-s * ell[groups.numpy() == g].sum() for g in range(4)])
    logits = (np.log(pi0 + eps) + eta * tau * np.log(prior) - eta * h) / ((1 + eta * tau) * T)
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(opt.pi.numpy(), expected, rtol=1e-13, atol=0)


def test_weighted_loss_value_scale_and_signal():
    X, y, groups = make_data()
    model = make_model()
    pi0 = np.array([0.4, 0.3, 0.2, 0.1])
    opt = ALSO(model.parameters(), n_groups=4, pi_init=pi0)
    losses = F.cross_entropy(model(X), y, reduction="none")
    ell, g = losses.detach().numpy(), groups.numpy()
    for scale in (None, 0.37):
        opt.zero_grad()
        value = opt.weighted_loss(losses, groups, loss_scale=scale)
        s = 4 / len(X) if scale is None else scale
        assert float(value.detach()) == pytest.approx(sum(pi0[g[i]] * s * ell[i] for i in range(len(ell))), rel=1e-13)
        np.testing.assert_allclose(opt._h.numpy(), [-s * ell[g == k].sum() for k in range(4)], rtol=1e-13)
    # accumulation between steps, like .grad; record=False leaves it alone; zero_grad clears it
    opt.zero_grad()
    opt.weighted_loss(losses, groups)
    opt.weighted_loss(losses, groups)
    opt.weighted_loss(losses, groups, record=False)
    s = 4 / len(X)
    np.testing.assert_allclose(opt._h.numpy(), [-2 * s * ell[g == k].sum() for k in range(4)], rtol=1e-13)
    opt.zero_grad()
    assert opt._h is None
    # uniform π with the default scale: the weighted loss is the batch mean (ERM)
    opt_u = ALSO(model.parameters(), n_groups=4)
    assert float(opt_u.weighted_loss(losses, groups).detach()) == pytest.approx(float(losses.detach().mean()), rel=1e-13)


# -- reductions to Adam ------------------------------------------------------------------------

def test_descent_ascent_with_frozen_pi_is_torch_adam_when_eps_zero():
    """ε = 0: the reference ε placement and torch's coincide, so ALSO(pi_lr=0) ≡ torch.optim.Adam."""
    X, y, groups = make_data()
    idx_list = batches(len(X), 20, 25)
    m1, m2 = make_model(), make_model()
    lam = 0.01
    opt1 = ALSO(m1.parameters(), n_groups=4, lr=0.03, eps=0.0, weight_decay=lam, pi_lr=0.0, mode="descent-ascent")
    opt2 = torch.optim.Adam(m2.parameters(), lr=0.03, eps=0.0, weight_decay=lam)
    for idx in idx_list:
        opt1.zero_grad()
        opt1.weighted_loss(F.cross_entropy(m1(X[idx]), y[idx], reduction="none"), groups[idx]).backward()
        opt1.step()
        opt2.zero_grad()
        F.cross_entropy(m2(X[idx]), y[idx]).backward()
        opt2.step()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1, p2, rtol=0, atol=1e-12)
    torch.testing.assert_close(opt1.pi, torch.full((4,), 0.25, dtype=torch.float64), rtol=0, atol=1e-15)


def test_descent_ascent_with_frozen_pi_eps_placement():
    """ε > 0: ALSO's step is torch Adam with ε_k = ε/√(1−β₂ᵏ) — and not torch Adam with ε itself."""
    X, y, groups = make_data()
    idx_list = batches(len(X), 20, 25)
    m1, m2, m3 = make_model(), make_model(), make_model()
    eps, betas, lam = 1e-2, (0.9, 0.999), 1e-3
    opt1 = ALSO(m1.parameters(), n_groups=4, lr=0.03, eps=eps, betas=betas, weight_decay=lam, pi_lr=0.0,
                mode="descent-ascent")
    opt2 = torch.optim.Adam(m2.parameters(), lr=0.03, eps=eps, betas=betas, weight_decay=lam)
    opt3 = torch.optim.Adam(m3.parameters(), lr=0.03, eps=eps, betas=betas, weight_decay=lam)
    for k, idx in enumerate(idx_list, start=1):
        opt1.zero_grad()
        opt1.weighted_loss(F.cross_entropy(m1(X[idx]), y[idx], reduction="none"), groups[idx]).backward()
        opt1.step()
        for m, o in ((m2, opt2), (m3, opt3)):
            o.zero_grad()
            F.cross_entropy(m(X[idx]), y[idx]).backward()
        opt2.param_groups[0]["eps"] = eps / math.sqrt(1 - betas[1] ** k)
        opt2.step()
        opt3.step()
    diff_plain = max(float((p1 - p3).detach().abs().max()) for p1, p3 in zip(m1.parameters(), m3.parameters()))
    assert diff_plain > 1e-4  # the placement of ε matters at this ε
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1, p2, rtol=0, atol=1e-12)


def test_optimistic_with_frozen_pi_is_optimistic_adam_on_the_mean_loss():
    """pi_lr = 0, uniform prior: π stays uniform and ALSO is optimistic Adam on the mean loss."""
    X, y, groups = make_data()
    idx_list = batches(len(X), 16, 15)
    model = make_model()
    theta = [p.detach().clone() for p in model.parameters()]
    lr, lam, alpha = 0.02, 1e-3, 1.0
    opt = ALSO(model.parameters(), n_groups=4, lr=lr, pi_lr=0.0, weight_decay=lam)
    run_also(model, opt, X, y, groups, idx_list)
    adam = RefAdam([t.shape for t in theta], lr, (0.9, 0.999), EPS32)
    G_prev = None
    for t, idx in enumerate(idx_list):
        half = theta if t == 0 else [a + d for a, d in zip(theta, adam([alpha * G + lam * a for G, a in zip(G_prev, theta)]))]
        half = [h.clone().requires_grad_(True) for h in half]
        G = torch.autograd.grad(F.cross_entropy(forward(half, X[idx]), y[idx]), half)
        theta = [a + d for a, d in zip(theta, adam([g + lam * a for g, a in zip(G, theta)]))]
        G_prev = G
    with opt.base_point():
        for p, r in zip(model.parameters(), theta):
            torch.testing.assert_close(p.detach(), r, rtol=0, atol=1e-12)
    torch.testing.assert_close(opt.pi, torch.full((4,), 0.25, dtype=torch.float64), rtol=0, atol=1e-15)


# -- practical API --------------------------------------------------------------------------------

def test_state_dict_resume_gives_identical_trajectory():
    X, y, groups = make_data()
    idx_list = batches(len(X), 16, 14)
    kw = dict(n_groups=4, lr=0.05, pi_lr=0.3, pi_decay=0.05, alpha=0.8, prior=inverse_frequency(groups, 4))
    model = make_model()
    opt = ALSO(model.parameters(), **kw)
    run_also(model, opt, X, y, groups, idx_list[:6])
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    run_also(model, opt, X, y, groups, idx_list[6:])

    model2 = make_model(seed=123)
    model2.load_state_dict(saved_model)
    opt2 = ALSO(model2.parameters(), n_groups=4)            # hyperparameters come from the checkpoint too
    opt2.load_state_dict(saved_opt)
    run_also(model2, opt2, X, y, groups, idx_list[6:])

    for p1, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p1, p2)
        for key in ("base", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt.state[p1][key], opt2.state[p2][key])
        assert opt.state[p1]["step"] == opt2.state[p2]["step"] == 2 * len(idx_list)
    assert torch.equal(opt.pi, opt2.pi) and torch.equal(opt.pi_half, opt2.pi_half)
    assert torch.equal(opt.pi_history, opt2.pi_history)
    assert opt2.iteration == len(idx_list)


def test_base_point_swaps_and_restores():
    X, y, groups = make_data()
    model = make_model()
    opt = ALSO(model.parameters(), n_groups=4, lr=0.05, pi_lr=0.3)
    with opt.base_point():  # nothing to swap before the first step
        pass
    run_also(model, opt, X, y, groups, batches(len(X), 16, 3))
    extrapolated = [p.detach().clone() for p in model.parameters()]
    bases = [opt.state[p]["base"].clone() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(extrapolated, bases))
    with opt.base_point():
        for p, b in zip(model.parameters(), bases):
            assert torch.equal(p, b)
    for p, e in zip(model.parameters(), extrapolated):
        assert torch.equal(p, e)
    with pytest.raises(KeyError):
        with opt.base_point():
            raise KeyError("boom")
    for p, e in zip(model.parameters(), extrapolated):
        assert torch.equal(p, e)


class _CountTorchCalls(torch.overrides.TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def _per_sample_run(n, steps=5, d=10):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g)
    y = (X[:, 0] + 0.3 * torch.randn(n, generator=g) > 0).float()
    model = torch.nn.Linear(d, 1)
    opt = ALSO(model.parameters(), n_groups=n, lr=1e-2, pi_lr=0.5, pi_decay=0.1)
    ids = torch.arange(n)
    counter = _CountTorchCalls()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        losses = F.binary_cross_entropy_with_logits(model(X).squeeze(1), y, reduction="none")
        with counter:
            loss = opt.weighted_loss(losses, ids)
        loss.backward()
        with counter:
            opt.step()
    return opt, model, X, y, ids, counter.calls, time.perf_counter() - start


def test_per_sample_groups_are_vectorised():
    """n_groups = n_samples = 5000: the number of torch calls per step does not grow with n_groups
    (no Python loop over groups), and 20 steps take a fraction of a second on an idle CPU."""
    *_, calls_small, _ = _per_sample_run(50)
    opt, model, X, y, ids, calls_big, elapsed = _per_sample_run(5000, steps=5)
    assert calls_big == calls_small
    assert elapsed < 10.0  # generous: a loaded 2-core CI machine; typically ~0.05 s
    n = 5000
    pi = opt.pi
    assert pi.shape == (n,) and float(pi.sum()) == pytest.approx(1.0, abs=1e-5)
    assert opt.pi_history.shape == (6, n)
    # the signal is one number per sample: h_i = −s·ℓ_i with s = n_groups / batch = 1
    opt.zero_grad()
    losses = F.binary_cross_entropy_with_logits(model(X).squeeze(1), y, reduction="none")
    opt.weighted_loss(losses, ids)
    torch.testing.assert_close(opt._h, -losses.detach(), rtol=1e-6, atol=0)


def test_inverse_frequency():
    groups = torch.tensor([0, 0, 0, 1, 2, 2])
    w = inverse_frequency(groups, 3)
    np.testing.assert_allclose(w.numpy(), np.array([1 / 3, 1, 1 / 2]) / (1 / 3 + 1 + 1 / 2))
    assert torch.equal(ALSO.inverse_frequency(groups, 3), w)
    with pytest.raises(ValueError, match="groups"):
        inverse_frequency(groups, 4)  # group 3 is empty


def _assert_russian(excinfo, name):
    msg = str(excinfo.value)
    assert name in msg and CYRILLIC.search(msg), msg


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_groups=0), "n_groups"),
    (dict(n_groups=2.0), "n_groups"),
    (dict(n_groups=3, lr=-1.0), "lr"),
    (dict(n_groups=3, betas=(1.0, 0.9)), "betas"),
    (dict(n_groups=3, eps=-1e-8), "eps"),
    (dict(n_groups=3, weight_decay=-1.0), "weight_decay"),
    (dict(n_groups=3, pi_lr=-0.1), "pi_lr"),
    (dict(n_groups=3, pi_decay=-0.1), "pi_decay"),
    (dict(n_groups=3, pi_temperature=0.0), "pi_temperature"),
    (dict(n_groups=3, alpha=-0.5), "alpha"),
    (dict(n_groups=3, mode="extragradient"), "mode"),
    (dict(n_groups=3, loss_scale=0.0), "loss_scale"),
    (dict(n_groups=3, prior=[0.5, 0.6, 0.1]), "prior"),
    (dict(n_groups=3, prior=[0.5, 0.5]), "prior"),
    (dict(n_groups=3, prior=[1.0, 0.0, 0.0]), "prior"),
    (dict(n_groups=3, prior="zipf"), "prior"),
    (dict(n_groups=3, pi_init=[-0.5, 1.0, 0.5]), "pi_init"),
])
def test_bad_hyperparameters_raise_russian_errors(kwargs, name):
    with pytest.raises(ValueError) as excinfo:
        ALSO([torch.zeros(2, requires_grad=True)], **kwargs)
    _assert_russian(excinfo, name)


def test_bad_inputs_of_weighted_loss():
    opt = ALSO([torch.zeros(2, requires_grad=True)], n_groups=3)
    losses = torch.rand(4)
    for groups in (torch.tensor([0, 1, 3, 0]), torch.tensor([0, -1, 2, 0])):
        with pytest.raises(ValueError) as excinfo:
            opt.weighted_loss(losses, groups)
        _assert_russian(excinfo, "groups")
    with pytest.raises(ValueError) as excinfo:
        opt.weighted_loss(losses, torch.tensor([0.0, 1.0, 2.0, 0.0]))
    _assert_russian(excinfo, "groups")
    for bad in (torch.rand(4, 1), torch.rand(3), torch.tensor(1.0)):
        with pytest.raises(ValueError) as excinfo:
            opt.weighted_loss(bad, torch.tensor([0, 1, 2, 0]))
        _assert_russian(excinfo, "losses")
    with pytest.raises(ValueError) as excinfo:
        opt.weighted_loss(losses, torch.tensor([0, 1, 2, 0]), loss_scale=-1.0)
    _assert_russian(excinfo, "loss_scale")


def test_step_without_weighted_loss_raises():
    p = torch.zeros(2, requires_grad=True)
    opt = ALSO([p], n_groups=2)
    (p**2).sum().backward()
    with pytest.raises(RuntimeError, match="weighted_loss"):
        opt.step()


def test_nonfinite_policy():
    X, y, groups = make_data()
    model = make_model()
    opt = ALSO(model.parameters(), n_groups=4, lr=0.05, pi_lr=0.3)
    run_also(model, opt, X, y, groups, batches(len(X), 16, 2))
    before = copy.deepcopy(opt.state_dict())
    params = [p.detach().clone() for p in model.parameters()]

    def bad_step():
        opt.zero_grad()
        losses = F.cross_entropy(model(X), y, reduction="none")
        losses = losses * torch.tensor(float("nan"), dtype=losses.dtype)
        opt.weighted_loss(losses, groups).backward()
        opt.step()

    with pytest.raises(NonFiniteGradientError):
        bad_step()
    opt.nonfinite = "skip"
    bad_step()
    assert opt.skipped_steps == 1
    for p, q in zip(model.parameters(), params):
        assert torch.equal(p, q)
    assert torch.equal(opt.pi, before["dro"]["pi"]) and opt.iteration == before["dro"]["iteration"]


def test_float32_and_lr_tensor_grid():
    """float32 parameters give float32 π; a grid of 2-D runs (batch_shape) is one computation."""
    X, y, groups = make_data(dtype=torch.float32)
    model = make_model(dtype=torch.float32)
    opt = ALSO(model.parameters(), n_groups=4, lr=0.05, pi_lr=0.3)
    run_also(model, opt, X, y, groups, batches(len(X), 16, 5))
    assert opt.pi.dtype == torch.float32 and all(torch.isfinite(p).all() for p in model.parameters())

    # three independent runs of a 2-D toy: ℓ_i(x) = ½‖x − c_i‖², one lr per run
    c = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]], dtype=torch.float64)
    grp = torch.tensor([0, 1, 2])
    lrs = torch.tensor([[0.01], [0.05], [0.1]], dtype=torch.float64)
    x = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    opt = ALSO([x], n_groups=3, lr=lrs, pi_lr=0.2, pi_decay=0.1, weight_decay=0.0, batch_shape=(3,))
    singles = []
    for r in range(3):
        xr = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        singles.append((xr, ALSO([xr], n_groups=3, lr=float(lrs[r]), pi_lr=0.2, pi_decay=0.1, weight_decay=0.0)))
    for _ in range(10):
        opt.zero_grad()
        opt.weighted_loss(0.5 * ((x[:, None, :] - c) ** 2).sum(-1), grp).backward()
        opt.step()
        for xr, o in singles:
            o.zero_grad()
            o.weighted_loss(0.5 * ((xr[None, :] - c) ** 2).sum(-1), grp).backward()
            o.step()
    assert opt.pi.shape == (3, 3) and opt.pi_history.shape == (11, 3, 3)
    for r, (xr, o) in enumerate(singles):
        torch.testing.assert_close(x[r].detach(), xr.detach(), rtol=0, atol=1e-14)
        torch.testing.assert_close(opt.pi[r], o.pi, rtol=0, atol=1e-14)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_cuda_matches_cpu():
    X, y, groups = make_data()
    idx_list = batches(len(X), 16, 10)
    kw = dict(n_groups=4, lr=0.05, pi_lr=0.3, pi_decay=0.05)
    m_cpu = make_model()
    m_gpu = make_model().cuda()
    o_cpu, o_gpu = ALSO(m_cpu.parameters(), **kw), ALSO(m_gpu.parameters(), **kw)
    run_also(m_cpu, o_cpu, X, y, groups, idx_list)
    run_also(m_gpu, o_gpu, X.cuda(), y.cuda(), groups.cuda(), idx_list)
    assert o_gpu.pi.is_cuda
    for a, b in zip(m_cpu.parameters(), m_gpu.parameters()):
        torch.testing.assert_close(a, b.cpu(), rtol=0, atol=1e-10)
    torch.testing.assert_close(o_cpu.pi, o_gpu.pi.cpu(), rtol=0, atol=1e-10)
