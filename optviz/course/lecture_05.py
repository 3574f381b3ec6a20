r"""Helpers of lecture 05 «Ландшафт функции потерь».

* :func:`train_mlp` — a small ReLU MLP (:func:`optviz.models.mlp`, optional dropout) trained on the
  offline digits with optviz AdamW or SGD, full-batch or with mini-batches, saving the weights along
  the way (the trajectory whose PCA plane the lecture draws); cached, deterministic.
* :func:`projection_fraction` — the share of :math:`\sum_t \|w_t - w_T\|^2` kept by the orthogonal
  projection of a trajectory on the span of some directions, computed directly (least squares), to
  check the explained-variance ratio reported by :func:`optviz.landscape.pca_directions`.
* :func:`line_curvature` and :func:`sharp_vs_flat` — curvature :math:`\ell''(0)` of the loss along
  filter-normalised random lines (parabola fitted to :math:`\ell(\alpha) = L(w + \alpha d)`) at the
  end of small-batch and large-batch training.
* :func:`double_descent`, :func:`double_descent_figure`, :func:`double_descent_explorer` —
  least-squares fitting of noisy samples by Legendre polynomials of growing degree with the
  minimum-norm solution (``numpy.linalg.lstsq``); the test error peaks when the number of
  coefficients equals the number of training points.
* :func:`init_explorer` — activation scale and weight-gradient norm per layer of a deep ReLU MLP
  at initialisation, :math:`\mathcal N(0, \sigma^2)` with a σ slider against He's scaling.
* :func:`grokking_run`, :func:`grokking_figure`, :func:`grokking_explorer` — grokking on addition
  modulo a prime: a small embedding MLP trained full-batch with optviz AdamW fits the training half
  of the table within a few hundred steps and generalises only thousands of steps later, and only
  with weight decay.
* :func:`animated_pca_figure` — the PCA plane with the training path drawn step by step (frames).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from numpy.polynomial import legendre

from .._checks import check_choice, check_int, check_range

__all__ = [
    "TrainedMLP", "digits_split", "train_mlp", "start_end_lines", "normalization_lines", "flatten_point", "projection_fraction", "line_curvature",
    "SharpFlatResult", "sharp_vs_flat", "target_function", "legendre_features", "min_norm_fit",
    "DoubleDescentResult", "double_descent", "double_descent_figure", "double_descent_explorer",
    "init_statistics", "init_figure", "init_explorer", "animated_pca_figure",
    "GrokkingRun", "grokking_run", "grokking_figure", "grokking_explorer",
]


# ------------------------------------------------------------------------------ digits MLP
@functools.lru_cache(maxsize=2)
def digits_split(seed: int = 0):
    """``((x_train, y_train), (x_test, y_test))`` of the offline digits (:func:`optviz.data.load_dataset`,
    flattened, standardised on the training part; the validation part is not used here)."""
    from ..data import load_dataset

    data = load_dataset("digits", seed=seed, flatten=True)
    return (data.train.x, data.train.y), (data.test.x, data.test.y)


@dataclass(frozen=True)
class TrainedMLP:
    """A trained digits MLP: final model (eval mode), saved weights, data and a few numbers."""

    model: torch.nn.Module
    trajectory: tuple           # named-parameter dicts: start, …, end
    train: tuple                # (x, y)
    test: tuple                 # (x, y)
    losses: np.ndarray          # mini-batch training loss at every step
    config: dict

    @property
    def start(self) -> dict:
        return self.trajectory[0]

    @property
    def end(self) -> dict:
        return self.trajectory[-1]

    @property
    def train_loss(self) -> float:
        """Full training-set loss at the end (eval mode: no dropout)."""
        with torch.no_grad():
            return float(F.cross_entropy(self.model(self.train[0]), self.train[1]))

    @property
    def test_accuracy(self) -> float:
        with torch.no_grad():
            return float((self.model(self.test[0]).argmax(1) == self.test[1]).double().mean())


@functools.lru_cache(maxsize=16)
def train_mlp(*, hidden: tuple = (64,), dropout: float = 0.0, batch_size: int | None = None, steps: int = 150,
              lr: float = 1e-2, optimizer: str = "adamw", momentum: float = 0.9, weight_decay: float = 0.0,
              seed: int = 0, record_every: int = 5) -> TrainedMLP:
    """Train ``mlp(64, hidden, 10, dropout=dropout)`` on the digits for ``steps`` optimizer steps.

    ``batch_size=None`` is full-batch; otherwise shuffled epochs (a generator seeded by ``seed``).
    ``optimizer``: ``"adamw"`` (optviz AdamW) or ``"sgd"`` (optviz SGD with ``momentum``). The
    weights are saved at the start, every ``record_every`` steps and at the end. Cached (the result
    is shared: do not train its model further).
    """
    from ..models import mlp
    from ..optim import SGD, AdamW

    check_choice("optimizer", optimizer, ("adamw", "sgd"))
    check_int("steps", steps, 1)
    check_int("record_every", record_every, 1)
    check_range("lr", lr, 0.0, low_open=True)
    (x, y), test = digits_split()
    n = int(y.shape[0])
    bs = n if batch_size is None else int(batch_size)
    check_int("batch_size", bs, 1)
    model = mlp(int(x.shape[1]), tuple(hidden), 10, dropout=float(dropout), seed=seed)
    if optimizer == "adamw":
        opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)

    def snapshot():
        return {k: p.detach().clone() for k, p in model.named_parameters()}

    gen = torch.Generator().manual_seed(seed)
    rng_state = torch.random.get_rng_state()   # dropout masks: a private, seeded stream
    torch.manual_seed(seed)
    traj, losses, order, pos = [snapshot()], [], torch.arange(n), n
    try:
        model.train()
        for k in range(steps):
            if pos + bs > n:
                order, pos = (torch.randperm(n, generator=gen) if bs < n else torch.arange(n)), 0
            idx = order[pos:pos + bs]
            pos += bs
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if (k + 1) % record_every == 0 or k + 1 == steps:
                traj.append(snapshot())
    finally:
        torch.random.set_rng_state(rng_state)
    model.eval()
    config = dict(hidden=tuple(hidden), dropout=float(dropout), batch_size=bs, steps=int(steps), lr=float(lr),
                  optimizer=optimizer, momentum=float(momentum), weight_decay=float(weight_decay), seed=int(seed))
    return TrainedMLP(model, tuple(traj), (x, y), test, np.array(losses), config)


# ------------------------------------------------------------------------------ 1-D slices
def start_end_lines(net: TrainedMLP, *, span: float = 1.0, points: int = 41, seed: int = 0,
                    normalization: str = "filter") -> list:
    r"""``[line around the start, line around the end]``: :math:`L(w + \alpha d)` for
    :math:`\alpha \in [-\mathrm{span}, \mathrm{span}]` on the training set, ``d`` a random direction
    (seed ``seed``, biases ignored) normalised against the centre itself."""
    from .. import landscape as ls

    check_range("span", span, 0.0, low_open=True)
    alphas = np.linspace(-span, span, int(points))
    out = []
    for center in (net.start, net.end):
        d = ls.random_direction(net.model, seed=seed, normalization=normalization, reference=center)
        out.append(ls.loss_line(net.model, net.train, d, alphas=alphas, center=center, progress=False,
                                max_seconds=None))
    return out


def normalization_lines(net: TrainedMLP, normalizations=("filter", "layer", "model", "none"), *, span: float = 1.0,
                        points: int = 41, seed: int = 0) -> list:
    """Lines through the end point of ``net`` along the same Gaussian draw under each normalisation."""
    from .. import landscape as ls

    alphas = np.linspace(-span, span, int(points))
    return [ls.loss_line(net.model, net.train,
                         ls.random_direction(net.model, seed=seed, normalization=n, reference=net.end),
                         alphas=alphas, center=net.end, progress=False, max_seconds=None)
            for n in normalizations]


# --------------------------------------------------------------------------- PCA check
def flatten_point(point: dict, names) -> np.ndarray:
    """The tensors ``point[name]`` for ``names`` concatenated into one float64 vector."""
    return np.concatenate([point[n].detach().to("cpu", torch.float64).reshape(-1).numpy() for n in names])


def projection_fraction(trajectory, directions) -> float:
    r""":math:`\sum_t \|P(w_t - w_T)\|^2 / \sum_t \|w_t - w_T\|^2` for the orthogonal projector
    :math:`P` onto the span of ``directions`` (:class:`~optviz.landscape.Direction`).

    Computed without assuming the directions orthonormal: each :math:`w_t - w_T` is projected by
    least squares on the matrix whose columns are the directions. Parameter tensors that are zero in
    every direction (ignored ones, e.g. biases under ``ignore="biasbn"``) are left out of both sums.
    """
    names = [n for n in directions[0].tensors
             if any(bool(torch.any(d.tensors[n] != 0)) for d in directions)]
    basis = np.stack([flatten_point(d.tensors, names) for d in directions], axis=1)
    final = flatten_point(trajectory[-1], names)
    rows = np.stack([flatten_point(p, names) - final for p in trajectory])
    coef, *_ = np.linalg.lstsq(basis, rows.T, rcond=None)
    projected = basis @ coef
    return float((projected ** 2).sum() / (rows ** 2).sum())


# ---------------------------------------------------------------------- sharp vs flat
def line_curvature(net: TrainedMLP, *, n_directions: int = 5, half_width: float = 0.2, points: int = 11,
                   seed: int = 0) -> tuple[np.ndarray, list]:
    r"""Curvature along filter-normalised random lines through the end point of ``net``.

    For direction :math:`d_k` (filter-normalised, biases ignored, seed ``seed``, index ``k``) the loss
    on the whole training set :math:`\ell_k(\alpha) = L(w_T + \alpha d_k)` is computed on
    ``points`` values of :math:`\alpha \in [-h, h]` and a parabola is fitted; its second derivative
    :math:`2a` estimates :math:`d_k^\top \nabla^2 L\, d_k`. Returns ``(curvatures, line results)``.
    """
    from .. import landscape as ls

    check_int("n_directions", n_directions, 1)
    check_int("points", points, 3)
    check_range("half_width", half_width, 0.0, low_open=True)
    alphas = np.linspace(-half_width, half_width, points)
    curv, lines = [], []
    for k in range(n_directions):
        d = ls.random_direction(net.model, seed=seed, index=k, reference=net.end)
        line = ls.loss_line(net.model, net.train, d, alphas=alphas, center=net.end, progress=False, max_seconds=None)
        curv.append(2.0 * np.polyfit(alphas, line.loss, 2)[0])
        lines.append(line)
    return np.array(curv), lines


@dataclass(frozen=True)
class SharpFlatResult:
    """Small-batch and large-batch networks and the curvature along the same random lines."""

    small: TrainedMLP
    large: TrainedMLP
    curvature_small: np.ndarray
    curvature_large: np.ndarray
    wide_lines: tuple            # (LineResult small, LineResult large): a wider window, direction 0

    @property
    def ratio(self) -> float:
        """Mean curvature of the large-batch minimum over that of the small-batch one."""
        return float(self.curvature_large.mean() / self.curvature_small.mean())

    def table(self) -> str:
        rows = ["| | батч | шагов | потеря на обучении | точность на тесте | кривизна ℓ''(0): среднее ± ст. откл. |",
                "|---|---|---|---|---|---|"]
        for name, net, c in (("малый батч", self.small, self.curvature_small),
                             ("большой батч", self.large, self.curvature_large)):
            rows.append(f"| {name} | {net.config['batch_size']} | {net.config['steps']} | {net.train_loss:.4f} | "
                        f"{net.test_accuracy:.3f} | {c.mean():.3f} ± {c.std():.3f} |")
        return "\n".join(rows)

    def figure(self) -> go.Figure:
        from ..viz import line_figure

        labels = [f"малый батч b = {self.small.config['batch_size']}",
                  f"большой батч b = {self.large.config['batch_size']}"]
        fig = line_figure(list(self.wide_lines), labels=labels,
                          title="Острый и плоский минимум: потери вдоль одного и того же случайного направления")
        return fig


def sharp_vs_flat(*, small_batch: int = 16, large_batch: int | None = None, steps: int = 600, lr: float = 0.05,
                  n_directions: int = 8, half_width: float = 0.2, wide: float = 1.0, seed: int = 0) -> SharpFlatResult:
    """Train the same MLP with SGD (momentum 0.9, step ``lr``) for ``steps`` steps with a small and a
    large batch (``None``: the whole training set) and measure :func:`line_curvature` at both ends."""
    small = train_mlp(batch_size=small_batch, steps=steps, lr=lr, optimizer="sgd", seed=seed, record_every=steps)
    large = train_mlp(batch_size=large_batch, steps=steps, lr=lr, optimizer="sgd", seed=seed, record_every=steps)
    cs, _ = line_curvature(small, n_directions=n_directions, half_width=half_width, seed=seed)
    cl, _ = line_curvature(large, n_directions=n_directions, half_width=half_width, seed=seed)
    from .. import landscape as ls

    alphas = np.linspace(-wide, wide, 41)
    wide_lines = tuple(
        ls.loss_line(net.model, net.train, ls.random_direction(net.model, seed=seed, reference=net.end), alphas=alphas,
                     center=net.end, progress=False, max_seconds=None)
        for net in (small, large))
    return SharpFlatResult(small, large, cs, cl, wide_lines)


# ---------------------------------------------------------------------- double descent
def target_function(x):
    r"""The function the polynomials fit: :math:`\sin(\pi x) + \tfrac12 \cos 3x` on :math:`[-1, 1]`."""
    x = np.asarray(x, float)
    return np.sin(np.pi * x) + 0.5 * np.cos(3.0 * x)


def legendre_features(x, degree: int) -> np.ndarray:
    """Columns :math:`P_0(x), …, P_d(x)` (Legendre polynomials, ``degree + 1`` features)."""
    check_int("degree", degree, 0)
    return legendre.legvander(np.asarray(x, float), int(degree))


def min_norm_fit(x, y, degree: int) -> np.ndarray:
    """Least-squares Legendre coefficients; with more coefficients than points, the one of minimum
    norm among the interpolating ones (``numpy.linalg.lstsq``)."""
    coef, *_ = np.linalg.lstsq(legendre_features(x, degree), np.asarray(y, float), rcond=None)
    return coef


def _sample(n: int, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    return x, target_function(x) + noise * rng.standard_normal(n)


@dataclass(frozen=True)
class DoubleDescentResult:
    """Train and test mean squared errors per degree (rows: data seeds)."""

    degrees: np.ndarray
    train_mse: np.ndarray
    test_mse: np.ndarray
    n_train: int
    noise: float

    @property
    def median_test(self) -> np.ndarray:
        return np.median(self.test_mse, axis=0)

    @property
    def median_train(self) -> np.ndarray:
        return np.median(self.train_mse, axis=0)

    @property
    def peak_degree(self) -> int:
        """Degree of the largest median test error."""
        return int(self.degrees[np.argmax(self.median_test)])

    @property
    def best_degree(self) -> int:
        return int(self.degrees[np.argmin(self.median_test)])


@functools.lru_cache(maxsize=32)
def double_descent(n_train: int = 15, max_degree: int = 80, noise: float = 0.1, n_seeds: int = 20,
                   n_test: int = 1000) -> DoubleDescentResult:
    r"""Fit ``n_train`` noisy samples of :func:`target_function` (:math:`x` uniform on :math:`[-1, 1]`,
    Gaussian noise of std ``noise``) by min-norm Legendre least squares of degrees ``1 … max_degree``,
    for data seeds ``0 … n_seeds - 1``; the test error is the mean squared error to the noiseless
    function on ``n_test`` equispaced points."""
    check_int("n_train", n_train, 2)
    check_int("max_degree", max_degree, 1)
    check_int("n_seeds", n_seeds, 1)
    check_range("noise", noise, 0.0)
    degrees = np.arange(1, max_degree + 1)
    xt = np.linspace(-1.0, 1.0, n_test)
    yt = target_function(xt)
    vt = legendre_features(xt, max_degree)
    train, test = np.empty((n_seeds, degrees.size)), np.empty((n_seeds, degrees.size))
    for s in range(n_seeds):
        x, y = _sample(n_train, noise, s)
        v = legendre_features(x, max_degree)
        for j, d in enumerate(degrees):
            coef, *_ = np.linalg.lstsq(v[:, :d + 1], y, rcond=None)
            train[s, j] = np.mean((v[:, :d + 1] @ coef - y) ** 2)
            test[s, j] = np.mean((vt[:, :d + 1] @ coef - yt) ** 2)
    return DoubleDescentResult(degrees, train, test, int(n_train), float(noise))


def double_descent_figure(n_train: int = 15, degree: int = 10, noise: float = 0.1, *, max_degree: int = 80,
                          seed: int = 0) -> go.Figure:
    """Left: the data (seed ``seed``), the true function and the min-norm fit of ``degree``; right:
    median train and test errors over degrees (log scale) with the current degree and the
    interpolation threshold ``degree + 1 = n_train`` marked."""
    from plotly.subplots import make_subplots

    from ..viz._style import PALETTE

    check_int("degree", degree, 1)
    res = double_descent(int(n_train), int(max(max_degree, degree)), float(noise))
    x, y = _sample(int(n_train), float(noise), seed)
    xs = np.linspace(-1.0, 1.0, 600)
    fit = legendre_features(xs, degree) @ min_norm_fit(x, y, degree)
    j = int(degree) - 1
    regime = ("меньше коэффициентов, чем точек" if degree + 1 < n_train else
              "порог интерполяции: коэффициентов столько же, сколько точек" if degree + 1 == n_train else
              "коэффициентов больше, чем точек: решение с минимальной нормой")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55],
                        subplot_titles=[f"степень {degree}: {regime}", "ошибка (медиана по 20 выборкам)"])
    fig.add_scatter(x=xs, y=target_function(xs), mode="lines", name="истинная функция",
                    line=dict(color="#7f7f7f", dash="dash"), row=1, col=1)
    fig.add_scatter(x=xs, y=fit, mode="lines", name=f"многочлен степени {degree}", line=dict(color=PALETTE[3], width=2.5),
                    row=1, col=1)
    fig.add_scatter(x=x, y=y, mode="markers", name=f"обучающие точки (n = {n_train})",
                    marker=dict(color="#000000", size=8), row=1, col=1)
    floor = 1e-8
    fig.add_scatter(x=res.degrees, y=np.maximum(res.median_test, floor), mode="lines", name="ошибка на тесте",
                    line=dict(color=PALETTE[0], width=2.5), row=1, col=2)
    fig.add_scatter(x=res.degrees, y=np.maximum(res.median_train, floor), mode="lines",
                    name=f"ошибка на обучении (снизу обрезана на {floor:g})", line=dict(color=PALETTE[1]), row=1, col=2)
    fig.add_scatter(x=[degree], y=[max(res.median_test[j], floor)], mode="markers", name="текущая степень",
                    marker=dict(color=PALETTE[3], size=12, symbol="diamond"), row=1, col=2)
    fig.add_vline(x=n_train - 1, line=dict(color="#999999", dash="dot"), row=1, col=2,
                  annotation_text=f"d + 1 = n = {n_train}", annotation_position="top right")
    fig.update_yaxes(range=[-3.0, 3.0], title_text="y", row=1, col=1)
    fig.update_yaxes(type="log", title_text="MSE", row=1, col=2)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="степень многочлена d", row=1, col=2)
    fig.update_layout(
        title=dict(text=(f"Двойной спуск: МНК по многочленам Лежандра, n = {n_train}, шум σ = {noise:g}"
                         f"<br><sup>пик тестовой ошибки при d = {res.peak_degree}, лучшая степень d = {res.best_degree}"
                         f" · ошибка на тесте при d = {degree}: {res.median_test[j]:.3g}</sup>"), x=0.0, xanchor="left"),
        template="plotly_white", height=480, margin=dict(t=110),
        legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def double_descent_explorer(*, n_train: int = 15, degree: int = 10, noise: float = 0.1, max_degree: int = 80):
    """Sliders: degree, number of training points, noise → :func:`double_descent_figure`."""
    import ipywidgets as W

    from ..widgets import Explorer

    style = {"description_width": "initial"}
    controls = {
        "degree": W.IntSlider(value=degree, min=1, max=max_degree, description="степень d", style=style,
                              continuous_update=False),
        "n_train": W.IntSlider(value=n_train, min=5, max=40, description="точек n", style=style,
                               continuous_update=False),
        "noise": W.FloatSlider(value=noise, min=0.0, max=0.5, step=0.05, description="шум σ", style=style,
                               continuous_update=False),
    }

    def build(p):
        if int(p["degree"]) > max_degree:
            raise ValueError(f"Степень должна быть не больше {max_degree}, получено {p['degree']}.")
        return double_descent_figure(int(p["n_train"]), int(p["degree"]), float(p["noise"]), max_degree=max_degree)

    return Explorer(controls, build, static_values={"degree": [3, 5, 10, n_train - 2, n_train - 1, n_train + 5, 30, max_degree]})


# ------------------------------------------------------------------------ initialisation
def init_statistics(depth: int = 20, width: int = 64, *, scheme: str = "poor", sigma: float = 0.01,
                    seed: int = 0) -> dict:
    r"""Per Linear layer of ``mlp(64, (width,) * depth, 10, init=scheme, poor_std=sigma)`` on the digits
    training set: ``activation_std`` (std of the layer's input) and ``grad_norm`` (‖∇W‖), see
    :func:`optviz.experiments.initialization.layer_statistics`; ``factor`` is the predicted growth of
    the activation scale per hidden layer, :math:`\sigma\sqrt{\mathrm{fan\_in}/2}` (1 for He)."""
    from ..experiments.initialization import layer_statistics
    from ..models import mlp

    check_int("depth", depth, 1)
    check_int("width", width, 1)
    check_choice("scheme", scheme, ("poor", "he", "xavier"))
    (x, y), _ = digits_split()
    model = mlp(int(x.shape[1]), (int(width),) * int(depth), 10, init=scheme, poor_std=float(sigma), seed=seed)
    stats = layer_statistics(model, x, y)
    if scheme == "poor":
        factor = float(sigma) * np.sqrt(width / 2.0)
    elif scheme == "he":
        factor = 1.0
    else:  # xavier: std sqrt(2/(fan_in + fan_out)) = 1/sqrt(width) for square layers
        factor = np.sqrt(1.0 / width) * np.sqrt(width / 2.0)
    stats["factor"] = float(factor)
    return stats


def init_figure(depth: int = 20, width: int = 64, *, scheme: str = "poor", sigma: float = 0.01) -> go.Figure:
    """Activation std and gradient norm per layer (log scale) with the predicted geometric law."""
    from plotly.subplots import make_subplots

    from ..viz._style import PALETTE

    s = init_statistics(depth, width, scheme=scheme, sigma=sigma)
    layers = np.arange(1, len(s["activation_std"]) + 1)
    tiny = 1e-300
    act = np.maximum(s["activation_std"], tiny)
    # The first Linear sees the data; each hidden Linear l ≥ 2 sees an activation scaled by `factor` per layer.
    theory = act[1] * s["factor"] ** (layers - 2.0)
    theory[0] = act[0]
    name = {"poor": f"N(0, σ²), σ = {sigma:.3g}", "he": "Хе: N(0, 2/fan_in)", "xavier": "Ксавье: N(0, 2/(fan_in+fan_out))"}[scheme]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["std входа слоя", "‖∇W‖ слоя"])
    fig.add_scatter(x=layers, y=act, mode="lines+markers", name="измерено", line=dict(color=PALETTE[0]), row=1, col=1)
    fig.add_scatter(x=layers, y=np.maximum(theory, tiny), mode="lines", name=f"теория: множитель {s['factor']:.3g} за слой",
                    line=dict(color=PALETTE[3], dash="dash"), row=1, col=1)
    fig.add_scatter(x=layers, y=np.maximum(s["grad_norm"], tiny), mode="lines+markers", name="‖∇W‖",
                    line=dict(color=PALETTE[1]), row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_xaxes(title_text="номер линейного слоя", row=1, col=1)
    fig.update_xaxes(title_text="номер линейного слоя", row=1, col=2)
    fig.update_layout(
        title=dict(text=(f"Инициализация ReLU-сети из {depth} скрытых слоёв по {width} нейронов: {name}"
                         f"<br><sup>σ·√(fan_in/2) = {s['factor']:.3g} · std входа последнего слоя "
                         f"{s['activation_std'][-1]:.2g} · ‖∇W‖ первого слоя {s['grad_norm'][0]:.2g}</sup>"),
                   x=0.0, xanchor="left"),
        template="plotly_white", height=450, margin=dict(t=110), legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def init_explorer(*, depth: int = 20, width: int = 64, sigma: float = 0.01):
    """Sliders: σ (log scale), depth, scheme → :func:`init_figure`."""
    import ipywidgets as W

    from ..widgets import Explorer, log_slider

    style = {"description_width": "initial"}
    controls = {
        "sigma": log_slider(sigma, 1e-3, 1.0, "σ (для N(0, σ²))", readout_format=".3f"),
        "depth": W.IntSlider(value=depth, min=2, max=50, description="глубина", style=style, continuous_update=False),
        "scheme": W.Dropdown(options=[("N(0, σ²)", "poor"), ("Хе", "he"), ("Ксавье", "xavier")], value="poor",
                             description="схема", style=style),
    }

    def build(p):
        return init_figure(int(p["depth"]), width, scheme=p["scheme"], sigma=float(p["sigma"]))

    he_sigma = float(np.sqrt(2.0 / width))
    return Explorer(controls, build, static_values={"sigma": [0.01, 0.05, 0.1, round(he_sigma, 3), 0.3]})


# ------------------------------------------------------------------------------ grokking
@dataclass(frozen=True)
class GrokkingRun:
    """Curves of :func:`grokking_run`, recorded every ``config["record_every"]`` steps (and at 0)."""

    steps: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    weight_norm: np.ndarray     # ‖θ‖₂ of all parameters
    config: dict

    def first_step(self, split: str, level: float) -> int | None:
        """The first recorded step at which the ``split`` ("train" / "test") accuracy is ≥ ``level``."""
        check_choice("split", split, ("train", "test"))
        acc = self.train_acc if split == "train" else self.test_acc
        hit = np.flatnonzero(acc >= level)
        return int(self.steps[hit[0]]) if hit.size else None


class _ModularMLP(torch.nn.Module):
    """(a, b) → logits of (a + b) mod p: a shared embedding of both operands, concatenated, one ReLU layer."""

    def __init__(self, modulus: int, embed: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(modulus, embed)
        self.hidden = torch.nn.Linear(2 * embed, hidden)
        self.out = torch.nn.Linear(hidden, modulus)

    def forward(self, a, b):
        return self.out(F.relu(self.hidden(torch.cat([self.embed(a), self.embed(b)], dim=1))))


@functools.lru_cache(maxsize=32)
def grokking_run(*, modulus: int = 23, train_fraction: float = 0.7, weight_decay: float = 1.0, lr: float = 3e-3,
                 steps: int = 3000, embed: int = 32, hidden: int = 128, seed: int = 0,
                 record_every: int = 50) -> GrokkingRun:
    r"""Train :math:`(a, b) \mapsto (a + b) \bmod p` on a random ``train_fraction`` of the p² pairs.

    Full-batch optviz AdamW (β = (0.9, 0.98), decoupled weight decay ``weight_decay``) on the
    cross-entropy; the rest of the table is the test set. Cached and deterministic (``seed`` fixes
    the split and the initialisation). A few seconds on a CPU for the defaults.
    """
    from ..optim import AdamW

    modulus = check_int("modulus", modulus, 3)
    check_range("train_fraction", train_fraction, 0.0, 1.0, low_open=True, high_open=True)
    check_range("weight_decay", weight_decay, 0.0)
    check_range("lr", lr, 0.0, low_open=True)
    steps = check_int("steps", steps, 1)
    record_every = check_int("record_every", record_every, 1)
    gen = torch.Generator().manual_seed(int(seed))
    a, b = torch.meshgrid(torch.arange(modulus), torch.arange(modulus), indexing="ij")
    a, b = a.flatten(), b.flatten()
    y = (a + b) % modulus
    perm = torch.randperm(modulus * modulus, generator=gen)
    n_train = int(round(train_fraction * modulus * modulus))
    if not 1 <= n_train < modulus * modulus:
        raise ValueError(f"При модуле {modulus} доля train_fraction = {train_fraction} оставляет пустую часть таблицы.")
    tr, te = perm[:n_train], perm[n_train:]
    torch.manual_seed(int(seed))
    model = _ModularMLP(modulus, int(embed), int(hidden))
    opt = AdamW(model.parameters(), lr=float(lr), betas=(0.9, 0.98), weight_decay=float(weight_decay))
    rec = {k: [] for k in ("steps", "train_acc", "test_acc", "train_loss", "test_loss", "weight_norm")}

    def record(k):
        with torch.no_grad():
            for split, idx in (("train", tr), ("test", te)):
                logits = model(a[idx], b[idx])
                rec[f"{split}_loss"].append(float(F.cross_entropy(logits, y[idx])))
                rec[f"{split}_acc"].append(float((logits.argmax(1) == y[idx]).double().mean()))
            rec["weight_norm"].append(float(torch.sqrt(sum((p.detach() ** 2).sum() for p in model.parameters()))))
        rec["steps"].append(k)

    record(0)
    for k in range(1, steps + 1):
        opt.zero_grad()
        F.cross_entropy(model(a[tr], b[tr]), y[tr]).backward()
        opt.step()
        if k % record_every == 0 or k == steps:
            record(k)
    config = dict(modulus=modulus, train_fraction=float(train_fraction), weight_decay=float(weight_decay), lr=float(lr),
                  steps=steps, embed=int(embed), hidden=int(hidden), seed=int(seed), record_every=record_every,
                  n_train=n_train)
    return GrokkingRun(**{k: np.asarray(v, dtype=float if k != "steps" else np.int64) for k, v in rec.items()},
                       config=config)


def _grokking_text(run: GrokkingRun) -> str:
    m, g = run.first_step("train", 0.99), run.first_step("test", 0.9)
    m_txt = f"обучение ≥ 99% — шаг {m}" if m is not None else "обучение < 99%"
    g_txt = f"тест ≥ 90% — шаг {g}" if g is not None else f"тест < 90% (максимум {run.test_acc.max():.0%})"
    return f"{m_txt}, {g_txt}"


def grokking_figure(runs: dict) -> go.Figure:
    """Accuracy (train solid, test dashed) and the weight norm against the step for ``{label: GrokkingRun}``."""
    from plotly.subplots import make_subplots

    from ..viz._style import PALETTE

    if not runs:
        raise ValueError("Нужен хотя бы один запуск: словарь подпись → GrokkingRun.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["точность", "норма весов ‖θ‖"], horizontal_spacing=0.1)
    notes = []
    for i, (label, r) in enumerate(runs.items()):
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=r.steps, y=r.train_acc, mode="lines", name=f"{label}: обучение", legendgroup=label,
                        line=dict(color=color, width=2), row=1, col=1)
        fig.add_scatter(x=r.steps, y=r.test_acc, mode="lines", name=f"{label}: тест", legendgroup=label,
                        line=dict(color=color, width=2, dash="dash"), row=1, col=1)
        fig.add_scatter(x=r.steps, y=r.weight_norm, mode="lines", name=f"{label}: ‖θ‖", legendgroup=label,
                        showlegend=False, line=dict(color=color, width=2), row=1, col=2)
        notes.append(f"{label}: {_grokking_text(r)}")
    cfg = next(iter(runs.values())).config
    fig.update_xaxes(title_text="шаг", row=1, col=1)
    fig.update_xaxes(title_text="шаг", row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_layout(
        title=dict(text=(f"Гроккинг: (a + b) mod {cfg['modulus']}, в обучении {cfg['n_train']} из "
                         f"{cfg['modulus'] ** 2} пар<br><sup>" + " · ".join(notes) + "</sup>"), x=0.0, xanchor="left"),
        template="plotly_white", height=460, margin=dict(t=110),
        legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def grokking_explorer(*, weight_decay: float = 1.0, train_fraction: float = 0.7, steps: int = 3000):
    """Sliders: weight decay λ and the training share → :func:`grokking_figure` of that run beside λ = 0."""
    import ipywidgets as W

    from ..widgets import Explorer

    style = {"description_width": "initial"}
    controls = {
        "weight_decay": W.FloatSlider(value=weight_decay, min=0.0, max=3.0, step=0.1, description="затухание весов λ",
                                      style=style, continuous_update=False),
        "train_fraction": W.FloatSlider(value=train_fraction, min=0.3, max=0.9, step=0.05, readout_format=".2f",
                                        description="доля таблицы в обучении", style=style, continuous_update=False),
    }

    def build(p):
        lam, frac = round(float(p["weight_decay"]), 6), round(float(p["train_fraction"]), 6)
        runs = {f"λ = {lam:g}": grokking_run(weight_decay=lam, train_fraction=frac, steps=steps)}
        if lam != 0.0:
            runs["λ = 0"] = grokking_run(weight_decay=0.0, train_fraction=frac, steps=steps)
        return grokking_figure(runs)

    return Explorer(controls, build, static_values={"weight_decay": [0.0, 0.3, 1.0, 2.0]})


# ---------------------------------------------------------------------------- animation
def animated_pca_figure(plane, pca, *, frames: int | None = None) -> go.Figure:
    """:func:`optviz.viz.plane_figure` (contour) of a PCA plane with the projected path drawn step by
    step (plotly frames with ▶/❚❚ and a step slider, so it also plays in static HTML)."""
    from ..viz import plane_figure
    from ..viz._plotly import animate

    fig = plane_figure(plane, kind="contour", trajectory=pca, log_z=True)
    coords = np.asarray(pca.coords[:, :2], float)
    n = coords.shape[0]
    ks = range(1, n + 1) if frames is None else np.unique(np.linspace(1, n, int(frames)).astype(int))
    fr = [go.Frame(name=str(k), traces=[1],
                   data=[go.Scatter(x=coords[:k, 0], y=coords[:k, 1], mode="lines+markers")]) for k in ks]
    fig.data[1].x, fig.data[1].y = coords[:1, 0], coords[:1, 1]
    return animate(fig, fr, label="сохранённая точка")
