"""Networks of optviz.models: shapes, parameter counts by formula, initialisation statistics, routing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optviz.models import (
    SplitModel,
    count_parameters,
    init_weights_,
    mlp,
    resnet18_cifar,
    resnet_fc_head,
    small_cnn,
)


# ---------------------------------------------------------------------------------- shapes
def test_mlp_shapes_and_flatten():
    net = mlp(64, (32, 16), 10, dropout=0.1, seed=0)
    assert net(torch.randn(5, 64)).shape == (5, 10)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)  # images are flattened
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, nn.Dropout) for m in net) == 2


@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32)])
def test_small_cnn_shapes(channels, size):
    net = small_cnn(channels, 7, image_size=size, width=8, seed=0)
    assert net(torch.randn(4, channels, size, size)).shape == (4, 7)
    assert net(torch.randn(4, channels * size * size)).shape == (4, 7)  # flat inputs reshaped


def test_resnet_shapes():
    net = resnet18_cifar(10, width=8, seed=0)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert net.features(torch.randn(2, 3, 32, 32)).shape == (2, 64)
    small = resnet18_cifar(10, width=4, in_channels=1, seed=0)
    assert small(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert small(torch.randn(3, 64)).shape == (3, 10)
    head = resnet_fc_head(5, width=4, hidden=(16, 16), seed=0)
    assert head(torch.randn(2, 3, 16, 16)).shape == (2, 5)


# ----------------------------------------------------------------------- parameter counts
def _conv(cin, cout, k):
    return cin * cout * k * k


def _bn(c):
    return 2 * c


def _resnet18_count(width, n_classes, in_channels=3, head=None):
    """Parameter count of the CIFAR ResNet-18 written out layer by layer (independent of the code)."""
    w = width
    total = _conv(in_channels, w, 3) + _bn(w)                       # stem
    c_in = w
    for i in range(4):
        c = w * 2**i
        # block 1 (possibly with a projection shortcut), block 2
        total += _conv(c_in, c, 3) + _bn(c) + _conv(c, c, 3) + _bn(c)
        if c_in != c:
            total += _conv(c_in, c, 1) + _bn(c)
        total += 2 * (_conv(c, c, 3) + _bn(c))
        c_in = c
    widths = [c_in, *(head or ()), n_classes]
    total += sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    return total


def test_resnet18_parameter_count():
    net = resnet18_cifar(10)
    # the widely quoted size of the CIFAR-10 ResNet-18 (3x3 stem, no max-pool): 11.17 M
    assert count_parameters(net) == 11_173_962 == _resnet18_count(64, 10)
    assert count_parameters(resnet18_cifar(100, width=16, in_channels=1)) == _resnet18_count(16, 100, 1)


def test_resnet_fc_head_parameter_count():
    net = resnet_fc_head(10)
    expected = 11_173_962 - (512 * 10 + 10) + (512 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)
    assert count_parameters(net) == expected == _resnet18_count(64, 10, head=(1024, 1024))
    fc = [m for m in net.fc if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fc] == [(512, 1024), (1024, 1024), (1024, 10)]


# ---------------------------------------------------------------------------- initialisation
def test_he_init_statistics():
    net = mlp(400, (800, 800), 10, init="he", seed=0)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for m in linears:
        expected = math.sqrt(2.0 / m.in_features)
        assert float(m.weight.detach().std()) == pytest.approx(expected, rel=0.03)
        assert float(m.weight.detach().mean()) == pytest.approx(0.0, abs=0.05 * expected)
        assert torch.all(m.bias == 0)


def test_xavier_and_poor_init_statistics():
    net = mlp(400, (800,), 10, init="xavier", seed=0)
    m = net[1]
    assert float(m.weight.detach().std()) == pytest.approx(math.sqrt(2.0 / (400 + 800)), rel=0.03)
    net = mlp(400, (800,), 10, init="poor", poor_std=0.01, seed=0)
    assert float(net[1].weight.detach().std()) == pytest.approx(0.01, rel=0.03)
    assert torch.all(net[1].bias == 0)
    # "torch" leaves torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std = 1/sqrt(3 fan_in)
    net = mlp(400, (800,), 10, init="torch", seed=0)
    assert float(net[1].weight.detach().std()) == pytest.approx(1 / math.sqrt(3 * 400), rel=0.03)


def test_deep_relu_signal_propagation_poor_vs_he():
    """Theory: with He init E|h_l|² stays constant through ReLU layers; with σ = 0.01 and width 256
    every layer multiplies it by σ²·fan_in/2 = 0.0128, so 20 layers shrink it by ~1e-38."""
    x = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
    depth = 20
    he = mlp(256, (256,) * depth, 10, init="he", seed=1)
    poor = mlp(256, (256,) * depth, 10, init="poor", seed=1)

    def last_hidden(net):
        return net[:-1](x)  # everything but the output layer

    ms_in = float(x.pow(2).mean())
    with torch.no_grad():
        ms_he = float(last_hidden(he).pow(2).mean())
        ms_poor = float(last_hidden(poor).pow(2).mean())
    # each He layer keeps E h² (ReLU halves it, 2/fan_in doubles it back): within a factor ~2 after 20 layers
    assert 0.3 * ms_in < ms_he < 3 * ms_in
    predicted = ms_in * (0.01**2 * 256) ** depth / 2**depth
    assert ms_poor < 1e-30 and 0.1 * predicted < ms_poor < 10 * predicted


def test_init_weights_in_place_on_conv():
    net = small_cnn(3, 10, image_size=32, width=16, seed=0)
    init_weights_(net, "he")
    conv = net[1]
    assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2.0 / (3 * 9)), rel=0.15)
    assert torch.all(conv.bias == 0)


def test_seed_reproducible_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = mlp(8, (4,), 2, seed=5), mlp(8, (4,), 2, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = mlp(8, (4,), 2, seed=6)
    assert not torch.equal(a[1].weight, c[1].weight)
    r1, r2 = resnet18_cifar(10, width=4, seed=3), resnet18_cifar(10, width=4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(r1.parameters(), r2.parameters()))


@pytest.mark.parametrize("kwargs,name", [
    (dict(init="glorot"), "init"), (dict(dropout=1.0), "dropout"), (dict(hidden=(0,)), "hidden"),
])
def test_mlp_validation_russian(kwargs, name):
    args = dict(in_features=4, hidden=(3,), n_classes=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"Параметр {name}"):
        mlp(**args)


# ---------------------------------------------------------------------------- split model
def _split_model(classes=None, out=4):
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(6, 5), nn.ReLU())
    widths = [len(c) for c in classes] if classes else [out, out, out]
    heads = [nn.Linear(5, w) for w in widths]
    return SplitModel(enc, heads, classes=classes)


def test_split_model_routes_each_sample_to_its_head():
    model = _split_model()
    x = torch.randn(9, 6)
    client = torch.tensor([2, 0, 1, 1, 0, 2, 2, 0, 1])
    out = model(x, client=client)
    feats = model.encoder(x)
    for k in range(3):
        idx = client == k
        torch.testing.assert_close(out[idx], model.heads[k](feats[idx]), rtol=0, atol=0)
    # whole batch of one client
    torch.testing.assert_close(model(x, client=1), model.heads[1](feats))
    # gradients reach only the heads that saw samples
    model.zero_grad()
    model(x, client=torch.zeros(9, dtype=torch.long)).sum().backward()
    assert model.heads[0].weight.grad is not None and model.heads[1].weight.grad is None


def test_split_model_with_label_sets():
    model = _split_model(classes=[[0, 1, 2], [3, 4]])
    x = torch.randn(6, 6)
    client = torch.tensor([0, 1, 0, 1, 1, 0])
    out = model(x, client=client)
    assert out.shape == (6, 5)
    assert torch.isinf(out[client == 0][:, 3:]).all() and torch.isinf(out[client == 1][:, :3]).all()
    feats = model.encoder(x)
    torch.testing.assert_close(out[client == 1][:, 3:], model.heads[1](feats[client == 1]))
    y = torch.tensor([2, 4, 0, 3, 3, 1])
    loss = F.cross_entropy(out, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_split_model_errors():
    model = _split_model()
    with pytest.raises(ValueError, match="client"):
        model(torch.randn(2, 6))
    with pytest.raises(ValueError, match="client"):
        model(torch.randn(2, 6), client=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="client"):
        model(torch.randn(2, 6), client=7)
    single = SplitModel(nn.Identity(), [nn.Linear(6, 2)])
    assert single(torch.randn(3, 6)).shape == (3, 2)
