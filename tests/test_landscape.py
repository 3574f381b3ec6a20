"""Tests of optviz.landscape: directions, PCA planes, batched grid evaluation, interpolation.

References are independent of the code under test: norms computed directly, a naive loop that loads
the weights into a copy of the model and calls it, scikit-learn's PCA, closed forms (FLOPs of an
MLP, the 6/(π²k²) law of random-walk PCA, orthogonality of Gaussian vectors in high dimension).
"""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optviz.landscape import (
    Direction,
    LandscapeWarning,
    LargeGridWarning,
    TrajectoryOffPlaneWarning,
    VmapFallbackWarning,
    biasbn_names,
    digits_data,
    digits_mlp,
    estimate_cost,
    interpolate,
    loss_line,
    loss_plane,
    pca_directions,
    random_direction,
    random_directions,
)

CYRILLIC = re.compile("[а-яА-ЯёЁ]")


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def digits():
    x, y = digits_data()
    return x[:400], y[:400]


@pytest.fixture(scope="module")
def digits64():
    x, y = digits_data(dtype=torch.float64)
    return x[:300], y[:300]


def conv_net(seed=0, dtype=torch.float32) -> nn.Module:
    """Conv → BatchNorm → ReLU → Linear on 1×8×8 digits (BN running stats made non-trivial)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10),
    ).to(dtype)
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.1, 0.1)
    return net


def images(data):
    x, y = data
    return x.reshape(-1, 1, 8, 8), y


def naive_loss(model, state, x, y):
    """Reference: load ``state`` into a copy of the model, eval mode, plain forward."""
    net = copy.deepcopy(model)
    net.load_state_dict(state, strict=False)
    net.eval()
    with torch.no_grad():
        out = net(x)
        return F.cross_entropy(out, y).item(), (out.argmax(-1) == y).double().mean().item()


def shifted(model, dirs, coefs):
    w = {n: p.detach().clone() for n, p in model.named_parameters()}
    for d, c in zip(dirs, coefs):
        for n in w:
            w[n] = w[n] + c * d[n]
    return w


# ----------------------------------------------------------------------------------- directions
def test_filter_normalisation_per_filter_conv_and_linear():
    net = conv_net()
    d = random_direction(net, seed=3, normalization="filter")
    for name in ("0.weight", "4.weight"):  # Conv2d (out, in, kh, kw) and Linear (out, in)
        w, dn = dict(net.named_parameters())[name].detach(), d[name]
        assert w.dim() >= 2
        for i in range(w.shape[0]):  # every output filter / neuron separately
            assert torch.linalg.vector_norm(dn[i]).item() == pytest.approx(torch.linalg.vector_norm(w[i]).item(),
                                                                           rel=1e-5)
        # a random direction, not the weights themselves
        cos = float((dn * w).sum() / (dn.norm() * w.norm()))
        assert abs(cos) < 0.5


def test_layer_and_model_normalisation():
    net = digits_mlp((24, 16))
    w = {n: p.detach() for n, p in net.named_parameters()}
    d = random_direction(net, seed=1, normalization="layer")
    for n in ("0.weight", "2.weight", "4.weight"):
        assert d[n].norm().item() == pytest.approx(w[n].norm().item(), rel=1e-5)
        rows = torch.linalg.vector_norm(d[n], dim=1) / torch.linalg.vector_norm(w[n], dim=1)
        assert rows.std() > 0.05  # per-layer, not per-filter: row ratios differ
    d = random_direction(net, seed=1, normalization="model")
    kept = [n for n in w if w[n].dim() > 1]
    total_d = math.sqrt(sum(d[n].double().square().sum().item() for n in kept))
    total_w = math.sqrt(sum(w[n].double().square().sum().item() for n in kept))
    assert total_d == pytest.approx(total_w, rel=1e-6)


def test_biases_and_norm_layers_ignored_by_default():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.LayerNorm([3 * 36]),
                        nn.Linear(3 * 36, 5), nn.Unflatten(1, (1, 5)), nn.LayerNorm([1, 5]))
    with torch.no_grad():  # norm layers start at exactly 1 and 0; a zero bias would get a zero direction
        for p in net.parameters():
            p.uniform_(0.1, 1.0)
    # the 2-D LayerNorm weight is ignored because of its module, not of its shape
    assert dict(net.named_parameters())["6.weight"].dim() == 2
    expected = {"0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "4.bias", "6.weight", "6.bias"}
    assert set(biasbn_names(net)) == expected
    d = random_direction(net, seed=0)
    assert set(d.ignored) == expected
    for n, t in d.tensors.items():
        if n in expected:
            assert torch.count_nonzero(t) == 0, n
        else:
            assert torch.count_nonzero(t) == t.numel(), n
    # configurable: keep everything, or ignore an explicit list
    d_all = random_direction(net, seed=0, ignore=None)
    assert d_all.ignored == () and all(torch.count_nonzero(t) == t.numel() for t in d_all.tensors.values())
    # a kept 1-D tensor under "filter" is normalised as a whole tensor
    w = dict(net.named_parameters())
    assert d_all["0.bias"].norm().item() == pytest.approx(w["0.bias"].norm().item(), rel=1e-5)
    d_one = random_direction(net, seed=0, ignore=["4.weight"])
    assert torch.count_nonzero(d_one["4.weight"]) == 0 and torch.count_nonzero(d_one["4.bias"]) > 0


def test_streams_independent_of_other_directions_and_layers():
    torch.manual_seed(0)
    small = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))
    big = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    big[0].load_state_dict(small[0].state_dict())
    big[2].load_state_dict(small[2].state_dict())
    one = random_directions(small, 1, seed=5)
    two = random_directions(small, 2, seed=5)
    appended = random_directions(big, 2, seed=5)
    for n in one[0].names:  # adding a direction does not change the first
        assert torch.equal(one[0][n], two[0][n])
    for k in range(2):  # appending a layer changes no entry of the existing layers, in either direction
        for n in two[k].names:
            assert torch.equal(two[k][n], appended[k][n]), (k, n)
    assert not torch.equal(two[0]["0.weight"], two[1]["0.weight"])
    # same (seed, index, name) → same numbers; another seed → different numbers
    assert torch.equal(random_direction(small, seed=5, index=1)["2.weight"], two[1]["2.weight"])
    assert not torch.equal(random_direction(small, seed=6)["0.weight"], one[0]["0.weight"])


@pytest.mark.parametrize("normalization", ["none", "filter"])
def test_two_directions_nearly_orthogonal_in_high_dimension(normalization):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(300, 200), nn.ReLU(), nn.Linear(200, 100))
    d1, d2 = random_directions(net, 2, seed=0, normalization=normalization)
    dim = sum(t.numel() for n, t in d1.tensors.items() if n not in d1.ignored)
    # cos of independent Gaussian vectors ~ N(0, 1/dim): 5 standard deviations
    assert abs(d1.cosine(d2)) < 5 / math.sqrt(dim)


def test_direction_dtype_and_values_follow_parameters():
    d32 = random_direction(digits_mlp((8,), dtype=torch.float32), seed=2, normalization="none")
    d64 = random_direction(digits_mlp((8,), dtype=torch.float64), seed=2, normalization="none")
    assert d32["0.weight"].dtype == torch.float32 and d64["0.weight"].dtype == torch.float64
    assert torch.equal(d32["0.weight"], d64["0.weight"].float())


# ------------------------------------------------------------------------------------------ PCA
def _orthonormal(dim, k, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, k, generator=g, dtype=torch.float64))
    return q


def test_pca_recovers_a_plane_holding_the_trajectory():
    shapes = {"a.weight": (10, 30), "a.bias": (10,), "b.weight": (4, 50)}
    dim = sum(math.prod(s) for s in shapes.values())
    q = _orthonormal(dim, 2, seed=0)
    final = torch.randn(dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.linspace(0, 1, 25, dtype=torch.float64)
    a = (1 - t) * 3.0 * torch.cos(6 * t)  # a spiral ending at the final point
    b = (1 - t) * 1.5 * torch.sin(6 * t)
    flat = [final + a[i] * q[:, 0] + b[i] * q[:, 1] for i in range(len(t))]

    def as_dict(v):
        out, off = {}, 0
        for n, s in shapes.items():
            out[n] = v[off:off + math.prod(s)].reshape(s).clone()
            off += math.prod(s)
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("error", LandscapeWarning)
        res = pca_directions([as_dict(v) for v in flat])
    assert res.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-10)
    basis = torch.stack([d.flatten() for d in res.directions], dim=1)  # (dim, 2)
    assert torch.allclose(basis.T @ basis, torch.eye(2, dtype=torch.float64), atol=1e-10)
    # the same plane: equal orthogonal projectors
    assert torch.allclose(basis @ basis.T, q @ q.T, atol=1e-10)
    # coordinates rebuild the path; the final point is the origin; the path starts at negative α
    rebuilt = final[None, :] + torch.as_tensor(res.coords) @ basis.T
    assert torch.allclose(rebuilt, torch.stack(flat), atol=1e-10)
    assert np.allclose(res.coords[-1], 0.0) and res.coords[0, 0] < 0
    assert torch.equal(res.center["a.weight"], as_dict(final)["a.weight"])


def test_pca_ratios_match_sklearn_and_residual_meaning():
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(3)
    # a drifting path with noise: not in any plane
    steps = torch.randn(40, 300, generator=g, dtype=torch.float64) * 0.3
    steps[:, 0] += 1.0
    steps[:, 1] += torch.linspace(-1, 1, 40, dtype=torch.float64)
    path = list(steps.cumsum(0))
    centered = pca_directions(path, n_components=3, centered=True, warn_below=0.0)
    ref = PCA(n_components=3).fit(torch.stack(path).numpy())
    np.testing.assert_allclose(centered.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8)
    # same directions up to sign; coordinates are still those of w_t − w_T (the plane sits at the final point)
    basis_c = torch.stack([d.flatten() for d in centered.directions], dim=1)
    np.testing.assert_allclose(np.abs(basis_c.numpy().T @ ref.components_.T), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(centered.coords, ((torch.stack(path) - path[-1]) @ basis_c).numpy(), atol=1e-10)
    # uncentered: the two ratios are the fraction of Σ‖w_t − w_T‖² kept by the projection on the plane
    res = pca_directions(path, warn_below=0.0)
    diffs = torch.stack(path) - path[-1]
    basis = torch.stack([d.flatten() for d in res.directions], dim=1)
    residual = diffs - diffs @ basis @ basis.T
    kept = 1 - residual.square().sum() / diffs.square().sum()
    assert res.plane_fraction == pytest.approx(float(kept), rel=1e-10)


def test_pca_warns_on_noise_ball_trajectory():
    g = torch.Generator().manual_seed(0)
    final = torch.randn(2000, generator=g, dtype=torch.float64)
    # SGD jittering around a minimum: independent points around the final one
    path = [final + 0.1 * torch.randn(2000, generator=g, dtype=torch.float64) for _ in range(30)] + [final]
    with pytest.warns(TrajectoryOffPlaneWarning) as record:
        res = pca_directions(path)
    assert issubclass(TrajectoryOffPlaneWarning, UserWarning)
    assert res.plane_fraction < 0.5
    assert CYRILLIC.search(str(record[0].message))


def test_random_walk_pca_follows_the_cosine_law_and_does_not_warn():
    # Antognini & Sohl-Dickstein (2018): component k of a high-dimensional random walk explains
    # 6/(π² k²) of its variance — a random walk looks "planar" (first two: 0.76)
    g = torch.Generator().manual_seed(0)
    walk = list(torch.randn(100, 10000, generator=g, dtype=torch.float64).cumsum(0))
    res = pca_directions(walk, centered=True)
    theory = 6 / (math.pi ** 2 * np.arange(1, 3) ** 2)
    np.testing.assert_allclose(res.explained_variance_ratio, theory, atol=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LandscapeWarning)
        assert pca_directions(walk).plane_fraction > 0.5  # relative to the final point: no warning either


# --------------------------------------------------------------------------------- evaluation
def test_batched_plane_equals_naive_loop_mlp(digits):
    x, y = digits
    net = digits_mlp((16,), seed=1)
    dirs = random_directions(net, 2, seed=0)
    alphas, betas = np.linspace(-1.0, 0.8, 5), np.linspace(-0.5, 1.0, 4)  # non-square: checks the layout
    res = loss_plane(net, (x, y), dirs, alphas=alphas, betas=betas, accuracy=True, progress=False, chunk_size=6,
                     vectorize=True)
    assert res.info.vectorized and res.loss.shape == (4, 5) and res.accuracy.shape == (4, 5)
    for j, b in enumerate(betas):
        for i, a in enumerate(alphas):
            loss, acc = naive_loss(net, shifted(net, dirs, (a, b)), x, y)
            assert abs(res.loss[j, i] - loss) < 1e-5
            assert res.accuracy[j, i] == pytest.approx(acc, abs=1e-12)
    loop = loss_plane(net, (x, y), dirs, alphas=alphas, betas=betas, progress=False, vectorize=False)
    assert not loop.info.vectorized
    np.testing.assert_allclose(loop.loss, res.loss, atol=1e-5)
    # "auto" on many chunks races vmap against the loop; whichever wins, the numbers are the same
    auto = loss_plane(net, (x, y), dirs, alphas=alphas, betas=betas, progress=False, chunk_size=2)
    forced = loss_plane(net, (x, y), dirs, alphas=alphas, betas=betas, progress=False, chunk_size=2,
                        vectorize=True)
    assert forced.info.vectorized
    np.testing.assert_allclose(auto.loss, res.loss, atol=1e-5)
    np.testing.assert_allclose(forced.loss, res.loss, atol=1e-5)


def test_batched_plane_equals_naive_loop_conv_bn_float64(digits64):
    x, y = images(digits64)
    net = conv_net(dtype=torch.float64)
    net.train()  # BatchNorm in train mode: evaluation must switch to eval mode (running statistics)
    dirs = random_directions(net, 2, seed=4)
    alphas = betas = np.array([-0.7, 0.0, 0.4])
    res = loss_plane(net, (x, y), dirs, alphas=alphas, betas=betas, progress=False)
    assert res.info.vectorized
    for j, b in enumerate(betas):
        for i, a in enumerate(alphas):
            assert abs(res.loss[j, i] - naive_loss(net, shifted(net, dirs, (a, b)), x, y)[0]) < 1e-10


class _ItemNet(nn.Module):
    """A network vmap cannot run (``.item()`` inside forward)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, x):
        scale = 1.0 + 0.0 * self.lin.weight.sum().item()
        return self.lin(x) * scale


def test_non_vmappable_model_falls_back_to_loop(digits):
    x, y = digits
    torch.manual_seed(0)
    net = _ItemNet()
    d = random_direction(net, seed=0)
    alphas = np.array([-0.5, 0.0, 0.5])
    with pytest.warns(VmapFallbackWarning) as record:
        res = loss_line(net, (x, y), d, alphas=alphas, progress=False)
    assert CYRILLIC.search(str(record[0].message))
    assert not res.info.vectorized
    for a, value in zip(alphas, res.loss):
        assert abs(value - naive_loss(net, shifted(net, [d], [a]), x, y)[0]) < 1e-5
    with pytest.raises(Exception):
        loss_line(net, (x, y), d, alphas=alphas, progress=False, vectorize=True)


def test_mode_and_weights_restored_also_on_exception(digits):
    x, y = images(digits)
    net = nn.Sequential(conv_net(), nn.Dropout(0.5))
    net.train()
    net[0][1].eval()  # a mixed pattern of flags must come back exactly
    flags = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []

    def loss_fn(out, target):
        seen.append(len(seen))
        if len(seen) == 2:
            raise RuntimeError("boom")
        return F.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_plane(net, (x, y), alphas=[0.0, 1.0], betas=[0.0, 1.0], loss_fn=loss_fn, chunk_size=2,
                   progress=False, vectorize=True)
    assert [m.training for m in net.modules()] == flags
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    # a normal run: same restoration, and dropout was off (the result is deterministic, equals eval mode)
    res = loss_line(net, (x, y), alphas=[0.0], progress=False)
    assert [m.training for m in net.modules()] == flags
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert abs(res.loss[0] - naive_loss(net, state, x, y)[0]) < 1e-6


def test_line_at_zero_equals_loss_at_center(digits):
    x, y = digits
    net = digits_mlp((16,), seed=0)
    other = digits_mlp((16,), seed=7)
    d = random_direction(net, seed=1)
    res = loss_line(net, (x, y), d, alphas=[-0.3, 0.0, 0.6], progress=False, accuracy=True)
    with torch.no_grad():
        out = net(x)
    assert abs(res.loss[1] - F.cross_entropy(out, y).item()) < 1e-6
    assert res.accuracy[1] == pytest.approx((out.argmax(-1) == y).double().mean().item())
    assert abs(res.loss[2] - naive_loss(net, shifted(net, [d], [0.6]), x, y)[0]) < 1e-5
    assert res.ignored == d.ignored == ("0.bias", "2.bias")
    # around another point: the centre is `other`'s weights, the model only gives the architecture
    res = loss_line(net, (x, y), d, alphas=[0.0], center=other, progress=False)
    with torch.no_grad():
        assert abs(res.loss[0] - F.cross_entropy(other(x), y).item()) < 1e-6


def test_interpolation_endpoints_and_midpoint(digits):
    x, y = images(digits)
    a, b = conv_net(seed=0), conv_net(seed=1)  # different weights and BN running statistics
    ts = np.array([-0.5, 0.0, 0.5, 1.0, 1.5])
    res = interpolate(a, b, (x, y), ts=ts, accuracy=True, progress=False)
    la, acc_a = naive_loss(a, a.state_dict(), x, y)
    lb, acc_b = naive_loss(b, b.state_dict(), x, y)
    assert abs(res.loss[1] - la) < 1e-6 and abs(res.loss[3] - lb) < 1e-6
    assert res.accuracy[1] == pytest.approx(acc_a) and res.accuracy[3] == pytest.approx(acc_b)
    sa, sb = a.state_dict(), b.state_dict()
    for i in (0, 2, 4):
        t = ts[i]
        mix = {k: ((1 - t) * sa[k] + t * sb[k]) if sa[k].is_floating_point() else sa[k] for k in sa}
        assert abs(res.loss[i] - naive_loss(a, mix, x, y)[0]) < 1e-5
    assert "1.running_mean" in res.names
    dist = math.sqrt(sum((sb[k].double() - sa[k].double()).square().sum().item() for k in res.names))
    assert res.distance == pytest.approx(dist)
    # without buffers the far end keeps a's running statistics, so it is not model b
    no_buf = interpolate(a, b, (x, y), ts=[1.0], include_buffers=False, progress=False)
    assert abs(no_buf.loss[0] - lb) > 1e-4
    # state_dicts work with an explicit architecture
    sd = interpolate(sa, sb, (x, y), ts=[0.0, 1.0], model=conv_net(seed=5), progress=False)
    np.testing.assert_allclose(sd.loss, [la, lb], atol=1e-6)


def test_subset_and_batches(digits):
    x, y = digits
    net = digits_mlp((16,), seed=0)
    d = random_direction(net, seed=0)
    res = loss_line(net, (x, y), d, alphas=[0.0, 0.5], subset=100, subset_seed=3, progress=False)
    idx = res.info.subset
    assert len(idx) == 100 == res.info.n_samples and len(set(idx.tolist())) == 100 and np.all(np.diff(idx) > 0)
    again = loss_line(net, (x, y), d, alphas=[0.0, 0.5], subset=100, subset_seed=3, progress=False)
    np.testing.assert_array_equal(again.info.subset, idx)
    sub = torch.as_tensor(idx)
    assert abs(res.loss[1] - naive_loss(net, shifted(net, [d], [0.5]), x[sub], y[sub])[0]) < 1e-5
    listed = loss_line(net, (x, y), d, alphas=[0.0, 0.5], subset=idx.tolist(), progress=False)
    np.testing.assert_allclose(listed.loss, res.loss, atol=1e-6)
    full = loss_line(net, (x, y), d, alphas=[0.0, 0.5], progress=False)
    batched = loss_line(net, (x, y), d, alphas=[0.0, 0.5], batch_size=128, progress=False)  # 400 = 3·128 + 16
    np.testing.assert_allclose(batched.loss, full.loss, atol=1e-5)


def test_pca_plane_of_a_training_run(digits):
    x, y = digits
    net = digits_mlp((16,), seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    trajectory = [copy.deepcopy(net.state_dict())]
    for _ in range(15):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        trajectory.append(copy.deepcopy(net.state_dict()))
    pca = pca_directions(trajectory, model=net)
    res = loss_plane(net, (x, y), pca, progress=False)
    assert res.path.shape == (16, 2) and np.allclose(res.path[-1], 0.0)
    assert res.alphas.min() < res.path[:, 0].min() and res.alphas.max() > 0
    np.testing.assert_allclose(res.explained_variance_ratio, pca.explained_variance_ratio[:2])
    at_final = loss_plane(net, (x, y), pca, alphas=[0.0], betas=[0.0], progress=False)
    with torch.no_grad():
        assert abs(at_final.loss[0, 0] - F.cross_entropy(net(x), y).item()) < 1e-6
    start = loss_plane(net, (x, y), pca, alphas=[res.path[0, 0]], betas=[res.path[0, 1]], progress=False)
    # the start is not exactly on the plane, but the plane holds most of the path
    assert pca.plane_fraction > 0.5 and start.loss[0, 0] > at_final.loss[0, 0]


# ---------------------------------------------------------------------------------------- cost
def test_estimate_cost_flops_and_warnings(digits):
    x, y = digits
    net = digits_mlp((32,), seed=0)
    est = estimate_cost(net, (x, y), 1681, max_seconds=None)
    n = x.shape[0]
    assert est.flops_per_point == 2 * n * (64 * 32 + 32 * 10)  # two matrix products per sample
    assert est.seconds_per_point > 0 and est.seconds_total == pytest.approx(1681 * est.seconds_per_point)
    assert CYRILLIC.search(est.message())
    with pytest.warns(LargeGridWarning) as record:
        estimate_cost(net, (x, y), 1681, max_seconds=1e-9)
    assert CYRILLIC.search(str(record[0].message))
    with pytest.warns(LargeGridWarning):
        loss_plane(net, (x, y), alphas=np.linspace(-1, 1, 4), betas=[0.0, 1.0], chunk_size=2, max_seconds=1e-9,
                   progress=False)


# ---------------------------------------------------------------------------------- validation
def test_invalid_arguments_raise_russian_value_errors(digits):
    x, y = digits
    net = digits_mlp((8,))
    d = random_direction(net)
    cases = [
        lambda: random_direction(net, normalization="filters"),
        lambda: random_direction(net, ignore=["nope"]),
        lambda: random_directions(net, 0),
        lambda: loss_line(net, (x, y), d, alphas=[0.0, float("nan")], progress=False),
        lambda: loss_plane(net, (x, y), (d,), progress=False),
        lambda: loss_line(net, (x, y), d, subset=10_000, progress=False),
        lambda: loss_line(net, (x[:5], y), d, progress=False),
        lambda: pca_directions([torch.zeros(3), torch.ones(3)]),
        lambda: pca_directions([torch.zeros(3)] * 4, warn_below=2.0),
        lambda: estimate_cost(net, (x, y), 0),
    ]
    for case in cases:
        with pytest.raises(ValueError) as err:
            case()
        assert CYRILLIC.search(str(err.value)), str(err.value)
    assert isinstance(d, Direction)


def test_compute_only_no_plotting_import():
    code = ("import sys, optviz.landscape; "
            "print(sorted(m for m in ('matplotlib', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_cuda_plane_matches_cpu(digits):
    x, y = digits
    net = digits_mlp((16,), seed=0)
    dirs = random_directions(net, 2, seed=0)
    grid = np.linspace(-1, 1, 5)
    cpu = loss_plane(net, (x, y), dirs, alphas=grid, betas=grid, progress=False)
    gpu_net = copy.deepcopy(net).cuda()
    gpu_dirs = random_directions(gpu_net, 2, seed=0)
    assert gpu_dirs[0]["0.weight"].is_cuda
    gpu = loss_plane(gpu_net, (x, y), gpu_dirs, alphas=grid, betas=grid, progress=False)
    np.testing.assert_allclose(gpu.loss, cpu.loss, atol=1e-4)
