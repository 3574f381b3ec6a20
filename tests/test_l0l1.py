"""(L0, L1)-GD: reference iterates, the two phases predicted by theory, the variants, validation."""

import copy
import math

import pytest
import torch

from optviz._checks import NonFiniteGradientError
from optviz.optim.l0l1 import L0L1GD, l0l1_step_size

F64 = torch.float64


def x4(x):
    return (x**4).sum()


def run_1d(f, x0, n, **kw):
    """Iterates x_0..x_n of L0L1GD on a 1-D function f (float64)."""
    x = torch.tensor([float(x0)], dtype=F64, requires_grad=True)
    opt = L0L1GD([x], **kw)
    xs = [x.item()]
    for _ in range(n):
        opt.zero_grad()
        f(x).backward()
        opt.step()
        xs.append(x.item())
    return xs, opt


def reference_1d(fprime, x0, n, L0, L1, variant="smooth"):
    """The method written from its definition with Python floats (the independent reference)."""
    xs = [x0]
    x = x0
    for _ in range(n):
        g = fprime(x)
        if g == 0:  # at the minimiser: no step
            xs.append(x)
            continue
        if variant == "smooth":
            eta = 1 / (L0 + L1 * abs(g))
        elif variant == "clipped":
            eta = min(1 / L0, 1 / (L1 * abs(g)))
        else:
            eta = 1 / (L1 * abs(g))
        x = x - eta * g
        xs.append(x)
    return xs


# -- reference numbers ------------------------------------------------------------------------
def test_x4_first_iterates_from_methods_md():
    xs, opt = run_1d(x4, 10.0, 3, L0=4, L1=2)
    assert xs[1:] == pytest.approx([9.50025, 9.00054, 8.50088], abs=6e-6)
    # the recorded quantities of the last step: |f'(x_2)| and 1/(L0 + L1|f'(x_2)|)
    g2 = 4 * xs[2] ** 3
    assert opt.last_grad_norm == pytest.approx(g2, rel=1e-12)
    assert opt.last_step_size == pytest.approx(1 / (4 + 2 * g2), rel=1e-12)


@pytest.mark.parametrize("variant", ["smooth", "clipped", "normalized"])
def test_matches_formula_over_many_steps(variant):
    xs, _ = run_1d(x4, 3.0, 40, L0=4, L1=2, variant=variant)
    ref = reference_1d(lambda x: 4 * x**3, 3.0, 40, 4, 2, variant)
    assert xs == pytest.approx(ref, rel=1e-12, abs=1e-14)


# -- the two phases -------------------------------------------------------------------------------
def test_two_phases_on_x4():
    """x⁴ is (4, 2)-smooth; |f'(x)| ≥ L0/L1 = 2 ⇔ |x| ≥ 2^(−1/3).

    Theory (convex, (L0, L1)-smooth, η = 1/(L0 + L1‖g‖)):
    phase 1 (‖g‖ ≥ L0/L1): the step length η‖g‖ ∈ [1/(2L1), 1/L1), hence the number of
    phase-1 steps lies in [(x0 − r)L1, 2(x0 − r)L1], and f − f* contracts at least by
    1 − 1/(4 L1 R_k) per step (R_k = |x_k − x*|);
    phase 2: η → 1/L0 = 1/4, x_{k+1} ≈ x_k − x_k³, so 1/x_k² grows by ≈ 2 per step and
    f = x⁴ ≈ 1/(4k²): sublinear, log-log slope −2 and per-step ratios → 1.
    """
    L0, L1, x0 = 4.0, 2.0, 10.0
    n = 1600
    xs, _ = run_1d(x4, x0, n, L0=L0, L1=L1)
    r = (L0 / L1 / 4) ** (1 / 3)  # |f'(r)| = 4r³ = L0/L1
    K = next(k for k, x in enumerate(xs) if abs(x) < r)  # first iterate of phase 2

    # phase 1: step lengths and contraction, every step
    for k in range(K):
        step = abs(xs[k + 1] - xs[k])
        assert 1 / (2 * L1) <= step < 1 / L1
        assert xs[k + 1] ** 4 <= (1 - 1 / (4 * L1 * abs(xs[k]))) * xs[k] ** 4
    assert (x0 - r) * L1 <= K <= 2 * (x0 - r) * L1 + 1

    # phase 2: still descending, but sublinearly with slope −2 in log-log
    f = [x**4 for x in xs]
    assert all(f[k + 1] < f[k] for k in range(K, n))
    a, b = K + 200, n
    slope = math.log(f[b] / f[a]) / math.log(b / a)
    assert slope == pytest.approx(-2.0, abs=0.12)
    assert f[n] / f[n - 1] > 0.99  # no contraction factor bounded away from 1 any more
    assert max(f[k + 1] / f[k] for k in range(K)) < 0.9  # …unlike phase 1


def test_two_phases_on_cosh():
    """eˣ + e⁻ˣ is (2, 1)-smooth: phase 1 while |2 sinh x| ≥ 2, i.e. |x| ≥ asinh 1."""
    L0, L1, x0 = 2.0, 1.0, 12.0
    xs, _ = run_1d(lambda x: (torch.exp(x) + torch.exp(-x)).sum(), x0, 40, L0=L0, L1=L1)
    r = math.asinh(1.0)
    K = next(k for k, x in enumerate(xs) if abs(x) < r)
    for k in range(K):
        assert 1 / (2 * L1) <= abs(xs[k + 1] - xs[k]) < 1 / L1
    assert (x0 - r) * L1 <= K <= 2 * (x0 - r) * L1 + 1
    # near the minimum f'' ≈ 2 = L0 and η ≈ 1/L0: essentially Newton's step, x → 0 fast
    assert abs(xs[K + 5]) < 1e-6


# -- fixed-step GD needs a tiny step on x⁴, (L0, L1)-GD needs no tuning -----------------------------
def gd_steps_to(eta, x0, tol, cap):
    """Plain GD on x⁴ with a fixed step; iterations to |x| ≤ tol (None if not within cap)."""
    x = x0
    for k in range(cap):
        if abs(x) <= tol:
            return k
        x = x - eta * 4 * x**3
    return None


def test_fixed_step_gd_diverges_or_crawls_on_x4():
    x0, tol = 10.0, 0.1
    xs, _ = run_1d(x4, x0, 200, L0=4, L1=2)
    k_l0l1 = next(k for k, x in enumerate(xs) if abs(x) <= tol)
    assert k_l0l1 < 100

    # |x_{k+1}| = |x_k|·|1 − 4ηx_k²| > |x_k| as soon as η > 1/(2x_0²): divergence (torch's SGD)
    x = torch.tensor([x0], dtype=F64, requires_grad=True)
    sgd = torch.optim.SGD([x], lr=1.05 / (2 * x0**2))
    for _ in range(12):
        sgd.zero_grad()
        x4(x).backward()
        sgd.step()
    assert not (abs(x.item()) < 1e6)  # inf/NaN or huge

    # the largest stable fixed step is still > 10× slower; the (L0, L1) first step 1/8004 crawls
    k_best = gd_steps_to(0.99 / (2 * x0**2), x0, tol, 100_000)
    assert k_best is not None and k_best > 10 * k_l0l1
    assert gd_steps_to(1 / (4 + 2 * 4 * x0**3), x0, tol, 50 * k_l0l1) is None


def test_no_tuning_across_starting_points():
    """One (L0, L1) pair works from every start; a fixed step tuned at x0 = 1 diverges from 10."""
    for x0 in (1.0, 10.0, 50.0):
        xs, _ = run_1d(x4, x0, 250, L0=4, L1=2)
        assert all(abs(b) < abs(a) for a, b in zip(xs, xs[1:]))
        assert abs(xs[-1]) < 0.1
    assert gd_steps_to(0.4, 1.0, 0.1, 10_000) is not None
    x = 10.0
    for _ in range(3):
        x = x - 0.4 * 4 * x**3
    assert abs(x) > 1e6


# -- the variants -------------------------------------------------------------------------------------
def test_clipped_and_smooth_within_factor_two():
    """a = 1/L0, b = 1/(L1‖g‖): smooth = ab/(a+b), clipped = min(a, b), and max/(a+b) ∈ [1/2, 1)."""
    gen = torch.Generator().manual_seed(0)
    norms = torch.rand(500, generator=gen, dtype=F64) * 100
    L0s = torch.rand(500, generator=gen, dtype=F64) * 10 + 1e-3
    L1s = torch.rand(500, generator=gen, dtype=F64) * 10 + 1e-3
    for n, L0, L1 in zip(norms.tolist(), L0s.tolist(), L1s.tolist()):
        s = l0l1_step_size(n, L0, L1, "smooth")
        c = l0l1_step_size(n, L0, L1, "clipped")
        nz = l0l1_step_size(n, L0, L1, "normalized")
        assert 0.5 * c <= s * (1 + 1e-12) and s <= c * (1 + 1e-12)
        assert s <= nz
        assert 1 - s / nz == pytest.approx(L0 / (L0 + L1 * n), rel=1e-9)  # → 0 when L1‖g‖ ≫ L0


def test_clipped_is_gd_with_clipped_gradient():
    """η_clipped·g = (1/L0)·clip(g, L0/L1): GD with step 1/L0 on the gradient clipped to norm L0/L1."""
    gen = torch.Generator().manual_seed(1)
    L0, L1 = 3.0, 0.5
    for scale in (0.01, 1.0, 100.0):
        x0 = torch.randn(7, generator=gen, dtype=F64)
        a = torch.randn(7, generator=gen, dtype=F64) * scale
        x = x0.clone().requires_grad_(True)
        opt = L0L1GD([x], L0, L1, variant="clipped")
        opt.zero_grad()
        (a @ x).backward()
        opt.step()
        clipped = a * min(1.0, (L0 / L1) / float(a.norm()))
        assert torch.allclose(x.detach(), x0 - clipped / L0, rtol=1e-12, atol=1e-14)


def test_normalized_step_has_length_one_over_L1():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, generator=gen, dtype=F64, requires_grad=True)
    y = torch.randn(5, generator=gen, dtype=F64, requires_grad=True)
    opt = L0L1GD([x, y], 0.0, 4.0, variant="normalized")
    for _ in range(5):
        before = torch.cat([x.detach().reshape(-1), y.detach()]).clone()
        opt.zero_grad()
        ((x**2).sum() + (y**4).sum() + (x.sum() * y.sum())).backward()
        opt.step()
        after = torch.cat([x.detach().reshape(-1), y.detach()])
        assert float((after - before).norm()) == pytest.approx(1 / 4.0, rel=1e-12)


# -- the norm is over all parameters ------------------------------------------------------------------
def coupled(z):
    a = torch.arange(1.0, 6.0, dtype=F64)
    return (z**4).sum() + (a @ z) ** 2


def test_norm_over_all_parameter_groups():
    """Two parameters in two groups follow the trajectory of one concatenated parameter."""
    z0 = torch.tensor([1.5, -2.0, 0.3, 1.0, -0.7], dtype=F64)
    z = z0.clone().requires_grad_(True)
    one = L0L1GD([z], 1.0, 3.0)
    u = z0[:2].clone().requires_grad_(True)
    v = z0[2:].clone().requires_grad_(True)
    two = L0L1GD([{"params": [u]}, {"params": [v]}], 1.0, 3.0)
    for _ in range(30):
        one.zero_grad()
        coupled(z).backward()
        one.step()
        two.zero_grad()
        coupled(torch.cat([u, v])).backward()
        two.step()
        assert torch.allclose(torch.cat([u, v]).detach(), z.detach(), rtol=1e-13, atol=1e-15)
        assert two.last_grad_norm == pytest.approx(one.last_grad_norm, rel=1e-13)


# -- lr lives in param_groups ----------------------------------------------------------------------
def test_lr_multiplier_and_scheduler():
    x = torch.tensor([10.0], dtype=F64, requires_grad=True)
    opt = L0L1GD([x], 4, 2, lr=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (k + 1))
    x_prev = 10.0
    for k in range(4):
        opt.zero_grad()
        x4(x).backward()
        g = 4 * x_prev**3
        opt.step()
        sched.step()
        expected = x_prev - (0.5 / (k + 1)) * g / (4 + 2 * abs(g))
        assert x.item() == pytest.approx(expected, rel=1e-13)
        assert opt.last_step_size == pytest.approx((0.5 / (k + 1)) / (4 + 2 * abs(g)), rel=1e-13)
        assert l0l1_step_size(opt.last_grad_norm, 4, 2) == pytest.approx(1 / (4 + 2 * abs(g)), rel=1e-13)
        x_prev = x.item()


# -- zero gradient, non-finite gradient -----------------------------------------------------------
@pytest.mark.parametrize("variant,L0,L1", [("smooth", 0.0, 1.0), ("clipped", 0.0, 1.0), ("normalized", 0.0, 1.0),
                                           ("smooth", 2.0, 0.0)])
def test_zero_gradient_takes_no_step(variant, L0, L1):
    x = torch.zeros(3, dtype=F64, requires_grad=True)
    opt = L0L1GD([x], L0, L1, variant=variant)
    for _ in range(3):
        opt.zero_grad()
        x4(x).backward()  # ∇ = 0 at the minimiser
        opt.step()
    assert torch.equal(x.detach(), torch.zeros(3, dtype=F64))
    assert opt.last_grad_norm == 0.0 and opt.last_step_size == 0.0


def test_nonfinite_gradient_policy():
    x = torch.tensor([1.0], dtype=F64, requires_grad=True)
    opt = L0L1GD([x], 1.0, 1.0)
    x.grad = torch.tensor([float("nan")], dtype=F64)
    with pytest.raises(NonFiniteGradientError):
        opt.step()
    skip = L0L1GD([x], 1.0, 1.0, nonfinite="skip")
    skip.step()
    assert x.item() == 1.0 and skip.skipped_steps == 1


# -- a grid of runs at once --------------------------------------------------------------------
def test_batched_grid_equals_separate_runs():
    L0 = torch.tensor([4.0, 1.0, 0.0, 4.0], dtype=F64)
    L1 = torch.tensor([2.0, 0.5, 1.0, 2.0], dtype=F64)
    x0 = torch.tensor([[10.0, 1.0], [3.0, -2.0], [-1.0, 0.5], [0.0, 0.0]], dtype=F64)  # last: ∇ = 0
    lr = torch.tensor([[1.0], [0.5], [1.0], [2.0]], dtype=F64)
    X = x0.clone().requires_grad_(True)
    grid = L0L1GD([X], L0, L1, lr=lr, batched=True)
    for _ in range(15):
        grid.zero_grad()
        x4(X).backward()
        grid.step()
    assert torch.isfinite(X).all()
    for i in range(4):
        xi = x0[i].clone().requires_grad_(True)
        single = L0L1GD([xi], float(L0[i]), float(L1[i]), lr=float(lr[i]))
        for _ in range(15):
            single.zero_grad()
            x4(xi).backward()
            single.step()
        assert torch.allclose(X[i].detach(), xi.detach(), rtol=1e-13, atol=1e-15)
        assert float(grid.last_grad_norm[i]) == pytest.approx(single.last_grad_norm, rel=1e-12, abs=1e-300)
        assert float(grid.last_step_size[i]) == pytest.approx(single.last_step_size, rel=1e-12, abs=1e-300)
    assert float(grid.last_step_size[3]) == 0.0  # the run sitting at the minimiser took no step


# -- state_dict ---------------------------------------------------------------------------------------
def test_state_dict_round_trip():
    def make():
        z = torch.tensor([1.5, -2.0, 0.3, 1.0, -0.7], dtype=F64, requires_grad=True)
        return z, L0L1GD([z], 1.0, 3.0, variant="clipped", lr=0.9)

    z, opt = make()

    def advance(z, opt, n):
        for _ in range(n):
            opt.zero_grad()
            coupled(z).backward()
            opt.step()

    advance(z, opt, 5)
    saved = copy.deepcopy(opt.state_dict())
    z_saved = z.detach().clone()
    advance(z, opt, 5)

    z2, opt2 = make()
    with torch.no_grad():
        z2.copy_(z_saved)
    opt2.load_state_dict(saved)
    assert opt2.last_grad_norm == saved["optviz"]["l0l1"]["last_grad_norm"] is not None
    assert opt2.state[z2]["step"] == 5
    advance(z2, opt2, 5)
    assert torch.equal(z2.detach(), z.detach())
    assert opt2.last_step_size == opt.last_step_size and opt2.last_grad_norm == opt.last_grad_norm
    assert opt2.param_groups[0]["variant"] == "clipped" and opt2.param_groups[0]["lr"] == 0.9


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(L0=-1.0, L1=1.0), "L0"),
        (dict(L0=1.0, L1=-0.5), "L1"),
        (dict(L0=float("nan"), L1=1.0), "L0"),
        (dict(L0=0.0, L1=0.0), "L0 и L1"),
        (dict(L0=1.0, L1=0.0, variant="normalized"), "L1"),
        (dict(L0=1.0, L1=1.0, variant="adaptive"), "variant"),
        (dict(L0=1.0, L1=1.0, lr=-1.0), "lr"),
        (dict(L0=torch.tensor([1.0, 2.0]), L1=1.0), "L0"),
        (dict(L0=1.0, L1=1.0, nonfinite="ignore"), "nonfinite"),
    ],
)
def test_bad_input(kwargs, name):
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=name) as info:
        L0L1GD([x], **kwargs)
    assert any("а" <= ch <= "я" for ch in str(info.value).lower())  # the message is in Russian


def test_bad_group_override():
    x, y = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="L0"):
        L0L1GD([{"params": [x]}, {"params": [y], "L0": -2.0}], 1.0, 1.0)


def test_batched_needs_common_run_dimension():
    x = torch.ones(3, 2, requires_grad=True)
    y = torch.ones(4, requires_grad=True)
    opt = L0L1GD([x, y], 1.0, 1.0, batched=True)
    (x.sum() + y.sum()).backward()
    with pytest.raises(ValueError, match="batched"):
        opt.step()


# -- CUDA --------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
@pytest.mark.parametrize("batched", [False, True])
def test_cuda_matches_cpu(batched):
    paths = {}
    for device in ("cpu", "cuda"):
        z = torch.tensor([[1.5, -2.0, 0.3], [1.0, -0.7, 0.2]], dtype=torch.float32, device=device,
                         requires_grad=True)
        L0 = torch.tensor([1.0, 2.0], device=device) if batched else 1.0
        opt = L0L1GD([z], L0, 3.0, variant="clipped", batched=batched)
        for _ in range(10):
            opt.zero_grad()
            (z**4).sum().backward()
            opt.step()
        paths[device] = z.detach().cpu()
    assert torch.allclose(paths["cuda"], paths["cpu"], rtol=1e-5, atol=1e-6)
