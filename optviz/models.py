r"""Networks of the course experiments, in plain torch.

==========================  ==================================================================
:func:`mlp`                 ReLU MLP with a choice of initialisation (``"he"``, ``"poor"``, …)
:func:`small_cnn`           two conv blocks + global average pooling, for 8×8, 28×28, 32×32 inputs
:func:`resnet18_cifar`      CIFAR-style ResNet-18: 3×3 stem, no max-pool, BasicBlocks [2, 2, 2, 2]
:func:`resnet_fc_head`      ResNet-18 features, then FC 512→1024→1024→classes (the restarts talk)
:class:`SplitModel`         shared encoder + one head per client, per-sample routing
:func:`init_weights_`       re-initialise the Linear/Conv layers of any module in place
==========================  ==================================================================

Every builder takes ``seed=``: with a seed the weights are drawn from a private generator state
(the global RNG is saved and restored), so two calls give identical networks.

Initialisation (lecture: "a deep ReLU network needs a good initialisation"). For a layer with
``fan_in`` inputs:

* ``"he"`` (Kaiming He et al., 2015): :math:`W \sim \mathcal N(0,\, 2/\mathrm{fan\_in})`, b = 0 —
  keeps the variance of ReLU activations constant through depth;
* ``"xavier"`` (Glorot–Bengio): :math:`W \sim \mathcal N(0,\, 2/(\mathrm{fan\_in}+\mathrm{fan\_out}))`, b = 0;
* ``"poor"``: a fixed small :math:`W \sim \mathcal N(0,\, \sigma^2)`, σ = ``poor_std`` = 0.01, b = 0
  — the signal shrinks by about :math:`\sigma\sqrt{\mathrm{fan\_in}/2}` per ReLU layer, so a deep
  network starts with vanishing activations and gradients;
* ``"torch"``: torch's default (uniform, :math:`\pm 1/\sqrt{\mathrm{fan\_in}}` bound for ``nn.Linear``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_choice, check_int, check_range

__all__ = [
    "INIT_SCHEMES",
    "init_weights_",
    "mlp",
    "small_cnn",
    "BasicBlock",
    "ResNet",
    "resnet18_cifar",
    "resnet_fc_head",
    "SplitModel",
    "count_parameters",
]

INIT_SCHEMES = ("torch", "he", "xavier", "poor")


@contextlib.contextmanager
def _seeded(seed):
    """Draw from ``torch.manual_seed(seed)`` inside, restore the global CPU RNG on exit (None: no-op)."""
    if seed is None:
        yield
        return
    check_int("seed", seed, 0)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def init_weights_(module: nn.Module, scheme: str = "he", *, poor_std: float = 0.01) -> nn.Module:
    r"""Re-initialise every ``nn.Linear`` / ``nn.Conv{1,2,3}d`` of ``module`` in place; returns it.

    ``scheme``: one of :data:`INIT_SCHEMES` (see the module docstring). Biases are set to zero
    (except for ``"torch"``, which leaves the layers untouched). BatchNorm layers keep their own
    initialisation (γ = 1, β = 0).
    """
    check_choice("init", scheme, INIT_SCHEMES)
    check_range("poor_std", poor_std, 0.0)
    if scheme == "torch":
        return module
    for layer in module.modules():
        if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            continue
        w = layer.weight
        if scheme == "he":
            nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
        elif scheme == "xavier":
            nn.init.xavier_normal_(w)
        else:  # poor
            nn.init.normal_(w, 0.0, poor_std)
        if layer.bias is not None:
            layer.bias.zero_()
    return module


# ------------------------------------------------------------------------------------------ MLP
def mlp(in_features: int, hidden: Sequence[int] = (128,), n_classes: int = 10, *, dropout: float = 0.0,
        init: str = "torch", poor_std: float = 0.01, seed: int | None = None) -> nn.Sequential:
    r"""ReLU MLP ``in_features → hidden[0] → … → hidden[-1] → n_classes``.

    The input is flattened first (``nn.Flatten``), so images ``(B, C, H, W)`` work when
    ``in_features = C·H·W``. ``dropout`` is applied after every hidden ReLU. ``init``: one of
    :data:`INIT_SCHEMES` (default torch's own), ``poor_std`` the σ of ``"poor"``. A deep network
    is ``hidden=(64,) * 20``.
    """
    check_int("in_features", in_features, 1)
    check_int("n_classes", n_classes, 1)
    hidden = tuple(hidden)
    for h in hidden:
        check_int("hidden", h, 1)
    check_range("dropout", dropout, 0.0, 1.0, high_open=True)
    check_choice("init", init, INIT_SCHEMES)
    widths = [in_features, *hidden]
    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], n_classes))
        net = nn.Sequential(*layers)
        init_weights_(net, init, poor_std=poor_std)
    return net


# ------------------------------------------------------------------------------------ small CNN
class _AsImage(nn.Module):
    """Reshape flat inputs ``(B, C·S·S)`` to images ``(B, C, S, S)``; images pass unchanged."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.channels, self.size = channels, size

    def forward(self, x):
        if x.dim() == 2:
            return x.reshape(x.shape[0], self.channels, self.size, self.size)
        return x

    def extra_repr(self):
        return f"channels={self.channels}, size={self.size}"


def small_cnn(in_channels: int = 1, n_classes: int = 10, *, image_size: int = 8, width: int = 32,
              dropout: float = 0.0, seed: int | None = None) -> nn.Sequential:
    r"""A small CNN: [conv3×3 → ReLU] ×2 → max-pool → conv3×3 → ReLU (→ max-pool) → global avg-pool → linear.

    Channels ``width, width, 2·width``. The second max-pool is used for ``image_size ≥ 16``
    (28×28 MNIST, 32×32 CIFAR: 28 → 14 → 7, 32 → 16 → 8); for 8×8 digits one pool (8 → 4) is
    enough. Flat inputs ``(B, C·S·S)`` (scikit-learn's digits) are reshaped to images with
    ``image_size``. About 28 k parameters at ``width=32``.
    """
    check_int("in_channels", in_channels, 1)
    check_int("n_classes", n_classes, 1)
    check_int("image_size", image_size, 4)
    check_int("width", width, 1)
    check_range("dropout", dropout, 0.0, 1.0, high_open=True)
    w = width
    with _seeded(seed):
        layers: list[nn.Module] = [
            _AsImage(in_channels, image_size),
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
        ]
        if image_size >= 16:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(2 * w, n_classes))
        return nn.Sequential(*layers)


# -------------------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    r"""ResNet's basic block: :math:`\mathrm{ReLU}(\mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x))) + S x)`.

    Two 3×3 convolutions without bias, each followed by BatchNorm; the shortcut ``S`` is the
    identity, or a 1×1 convolution with stride + BatchNorm when the shape changes.
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    r"""CIFAR-style ResNet: 3×3 stem (stride 1, no max-pool), four stages of :class:`BasicBlock`.

    Stage widths ``width·(1, 2, 4, 8)`` with strides ``(1, 2, 2, 2)``, then global average pooling
    (``features(x)`` returns this vector of size ``feature_dim = 8·width``) and the classifier
    ``fc`` (a Linear, or any module taking ``feature_dim`` inputs). Flat inputs ``(B, C·S·S)`` are
    reshaped to square images.
    """

    def __init__(self, n_classes: int = 10, *, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64,
                 in_channels: int = 3, fc: nn.Module | None = None):
        super().__init__()
        check_int("n_classes", n_classes, 1)
        check_int("width", width, 1)
        check_int("in_channels", in_channels, 1)
        blocks = tuple(blocks)
        for b in blocks:
            check_int("blocks", b, 1)
        self.in_channels = in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages, c_in = [], width
        for i, n in enumerate(blocks):
            c = width * 2**i
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(c_in, c, stride)] + [BasicBlock(c, c, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = c
        self.stages = nn.Sequential(*stages)
        self.feature_dim = c_in
        self.fc = fc if fc is not None else nn.Linear(c_in, n_classes)

    def features(self, x):
        if x.dim() == 2:
            side = math.isqrt(x.shape[1] // self.in_channels)
            x = x.reshape(x.shape[0], self.in_channels, side, side)
        out = self.stages(self.stem(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def resnet18_cifar(n_classes: int = 10, *, width: int = 64, in_channels: int = 3,
                   seed: int | None = None) -> ResNet:
    r"""ResNet-18 for 32×32 images (He et al. 2016, CIFAR variant): 11 173 962 parameters at
    ``width=64``, 10 classes. ``width`` scales all stages (16 gives a ≈0.7 M-parameter network
    that trains on a CPU). Works on any input size ≥ 8 (8×8 digits reach 1×1 in the last stage)."""
    with _seeded(seed):
        return ResNet(n_classes, width=width, in_channels=in_channels)


def resnet_fc_head(n_classes: int = 10, *, width: int = 64, in_channels: int = 3,
                   hidden: Sequence[int] = (1024, 1024), seed: int | None = None) -> ResNet:
    r"""The over-parameterised network of the restarts talk: ResNet-18 features, then

    .. math:: \mathrm{fc} = \mathrm{Linear}(512\to1024) \to \mathrm{ReLU} \to
              \mathrm{Linear}(1024\to1024) \to \mathrm{ReLU} \to \mathrm{Linear}(1024\to\mathrm{classes})

    (512 = ``8·width``; ``hidden`` sets the widths of the extra layers). 12 753 994 parameters
    at ``width=64``, 10 classes.
    """
    hidden = tuple(hidden)
    for h in hidden:
        check_int("hidden", h, 1)
    check_int("n_classes", n_classes, 1)
    with _seeded(seed):
        widths = [8 * width, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], n_classes))
        return ResNet(n_classes, width=width, in_channels=in_channels, fc=nn.Sequential(*layers))


# ---------------------------------------------------------------------------------- split model
class SplitModel(nn.Module):
    r"""Split learning: a shared ``encoder`` and one head per client; sample i goes to head ``client[i]``.

    ``forward(x, client=None)``: ``client`` is an int (the whole batch belongs to one client) or a
    long tensor of shape ``(B,)``; ``None`` is allowed only with a single head. Each head sees only
    its own samples (one forward per client present in the batch).

    Heads may have different label sets: ``classes[k]`` lists the global class indices that head k
    predicts (its outputs are written into those columns of a ``(B, n_classes)`` logits tensor,
    the other columns are :math:`-\infty`, i.e. probability 0 after softmax, so cross-entropy and
    argmax work unchanged). Without ``classes`` every head must output the same number of logits.
    """

    needs_client = True

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module], *,
                 classes: Sequence[Sequence[int]] | None = None, n_classes: int | None = None):
        super().__init__()
        heads = list(heads.values()) if isinstance(heads, dict) else list(heads)
        if not heads:
            raise ValueError("Параметр heads: нужна хотя бы одна голова (по одной на клиента).")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        if classes is None:
            self.classes = None
            self.n_classes = n_classes
        else:
            classes = [list(map(int, c)) for c in classes]
            if len(classes) != len(heads):
                raise ValueError(
                    f"Параметр classes должен задавать классы для каждой из {len(heads)} голов, "
                    f"получено {len(classes)} списков.")
            total = max(max(c) for c in classes if c) + 1
            self.n_classes = total if n_classes is None else check_int("n_classes", n_classes, total)
            for c in classes:
                if not c or min(c) < 0 or len(set(c)) != len(c):
                    raise ValueError(f"Параметр classes: список классов головы {c} пуст, содержит "
                                     "отрицательный номер или повторы.")
            self.classes = classes
            for k, c in enumerate(classes):
                self.register_buffer(f"_columns{k}", torch.tensor(c, dtype=torch.long), persistent=False)

    @property
    def n_clients(self) -> int:
        return len(self.heads)

    def _client_tensor(self, client, batch: int, device) -> torch.Tensor | None:
        if client is None:
            if self.n_clients == 1:
                return None
            raise ValueError(
                f"SplitModel с {self.n_clients} головами: передайте client — номер клиента (int) "
                "или тензор номеров клиентов для каждого объекта батча.")
        if isinstance(client, int) and not isinstance(client, bool):
            if not 0 <= client < self.n_clients:
                raise ValueError(f"Параметр client должен лежать в [0, {self.n_clients - 1}], получено {client}.")
            return torch.full((batch,), client, dtype=torch.long, device=device)
        client = torch.as_tensor(client, device=device)
        if client.is_floating_point() or client.dim() != 1 or client.numel() != batch:
            raise ValueError(
                f"Параметр client должен быть целочисленным тензором формы ({batch},) — клиент каждого "
                f"объекта, получены тип {client.dtype} и форма {tuple(client.shape)}.")
        client = client.long()
        if client.numel() and (int(client.min()) < 0 or int(client.max()) >= self.n_clients):
            raise ValueError(f"Параметр client: номера клиентов должны лежать в [0, {self.n_clients - 1}], "
                             f"получены от {int(client.min())} до {int(client.max())}.")
        return client

    def head_output(self, k: int, features: torch.Tensor) -> torch.Tensor:
        """Logits of head ``k`` on ``features`` in the global class layout."""
        out = self.heads[k](features)
        if self.classes is None:
            return out
        full = out.new_full((out.shape[0], self.n_classes), float("-inf"))
        return full.index_copy(1, getattr(self, f"_columns{k}"), out)

    def forward(self, x, client=None):
        features = self.encoder(x)
        client = self._client_tensor(client, features.shape[0], features.device)
        if client is None:
            return self.head_output(0, features)
        present = torch.unique(client).tolist()
        if len(present) == 1:
            return self.head_output(int(present[0]), features)
        outs = None
        for k in present:
            idx = torch.nonzero(client == k).flatten()
            out_k = self.head_output(int(k), features.index_select(0, idx))
            if outs is None:
                outs = out_k.new_empty((features.shape[0],) + tuple(out_k.shape[1:]))
            elif out_k.shape[1:] != outs.shape[1:]:
                raise ValueError(
                    "Головы SplitModel выдают выходы разной ширины "
                    f"({tuple(outs.shape[1:])} и {tuple(out_k.shape[1:])}): задайте classes — "
                    "номера классов каждой головы.")
            outs = outs.index_copy(0, idx, out_k)
        return outs
