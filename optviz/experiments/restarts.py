r"""Experiment 3 — restarts on over-parameterised models (the restarts talk).

Two parts:

1. :func:`restarts_experiment` — AdamW against AdamW wrapped in
   :class:`~optviz.optim.Restarts` with each of the talk's three criteria, fed by the trainer's
   validation signal after every epoch:

   * fixed period (:class:`~optviz.optim.FixedPeriod`, every ``period`` epochs; 15 in the talk);
   * validation gradient-norm ratio :math:`\|\nabla L_{val}(x_k)\|/\|\nabla L_{val}(x_{k-1})\| > 2`
     (:class:`~optviz.optim.GradNormRatio`);
   * validation loss increase :math:`L_{val}(x_k) > L_{val}(x_{k-1})` (:class:`~optviz.optim.ValLossIncrease`).

   A restart resets Adam's moments and step counter (``reset=("moments", "step")``), so the next step
   is a fresh Adam's first step. Network: at ``size="full"`` the talk's ResNet-18 with the extra
   head 512→1024→1024→10 (:func:`optviz.models.resnet_fc_head`) on CIFAR-10; on a CPU a small CNN
   with the same kind of extra head (features→256→256→10) trained on 30 digits per class, so that
   the parameters (≈ 80 k) far exceed the samples (300).

2. :func:`regression_restarts_experiment` — an over-parameterised MLP fitted to
   :math:`y = \sin x + 0.5\cos 2x + 0.1x^2 + \varepsilon` on a few points, with and without
   restarts; the spread of the fitted curve over initialisation seeds is the measured quantity
   (the talk: «high variance, noisy» without restarts vs «low variance, smooth» with them — here we
   report what comes out).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int, check_range
from .harness import (
    Comparison,
    LogUniform,
    Method,
    TrainRunner,
    compare,
    markdown_table,
    resolve_size,
)

__all__ = [
    "SIZES", "REGRESSION_SIZES", "RestartsResult", "RegressionResult", "restarts_experiment",
    "regression_restarts_experiment", "regression_truth", "restart_methods", "overparameterised_cnn",
]

SIZES = {
    "tiny": dict(dataset="digits", model="cnn", per_class=10, epochs=3, batch_size=32, period=2, trials=1,
                 seeds=(1,), lr=1e-3, weight_decay=1e-2, eval_subset=100),
    "cpu": dict(dataset="digits", model="cnn", per_class=30, epochs=30, batch_size=32, period=8, trials=1,
                seeds=(1, 2, 3), lr=1e-3, weight_decay=1e-2, eval_subset=None),
    "full": dict(dataset="cifar10", model="resnet_fc_head", per_class=None, epochs=100, batch_size=128, period=15,
                 trials=4, seeds=(1, 2, 3), lr=1e-3, weight_decay=1e-2, eval_subset=None),
}

REGRESSION_SIZES = {
    "tiny": dict(n_points=12, width=64, depth=2, steps=150, period=50, seeds=(0, 1, 2), grid=64),
    "cpu": dict(n_points=20, width=256, depth=3, steps=3000, period=500, seeds=tuple(range(8)), grid=200),
    "full": dict(n_points=40, width=1024, depth=4, steps=20000, period=2000, seeds=tuple(range(20)), grid=400),
}


# ------------------------------------------------------------------------------------------
# 1. the network
# ------------------------------------------------------------------------------------------
def overparameterised_cnn(n_classes: int = 10, *, in_channels: int = 1, image_size: int = 8, width: int = 16,
                          hidden=(256, 256), seed: int | None = None):
    """:func:`optviz.models.small_cnn` whose last layer is replaced by the talk's extra head
    ``2·width → hidden[0] → hidden[1] → n_classes`` (ReLU between)."""
    from torch import nn

    from ..models import small_cnn

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = small_cnn(in_channels, n_classes, image_size=image_size, width=width)
        widths = [2 * width, *hidden]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], n_classes))
        net[-1] = nn.Sequential(*layers)
    return net


CRITERIA_RU = {
    None: "AdamW",
    "period": "AdamW + рестарт каждые P эпох",
    "grad_norm_ratio": "AdamW + рестарт по росту нормы градиента на валидации",
    "val_loss": "AdamW + рестарт по росту потерь на валидации",
}


def restart_methods(period: int, *, lr=1e-3, weight_decay=1e-2, search: bool = False,
                    reset=("moments", "step")) -> list[Method]:
    """AdamW and AdamW + :class:`~optviz.optim.Restarts` with each of the three criteria.

    ``search=True`` searches ``lr`` (log-uniform [1e-4, 1e-2]) instead of fixing it.
    """
    from ..optim import AdamW, FixedPeriod, GradNormRatio, Restarts, ValLossIncrease

    criteria = {
        None: None,
        "period": lambda: FixedPeriod(period, unit="observe"),
        "grad_norm_ratio": lambda: GradNormRatio(lag=1, threshold=2.0),
        "val_loss": lambda: ValLossIncrease(lag=1),
    }
    space = {"lr": LogUniform(1e-4, 1e-2) if search else lr, "weight_decay": weight_decay}
    out = []
    for key, make_criterion in criteria.items():
        def make(hp, ctx, make_criterion=make_criterion):
            def factory(params):
                opt = AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
                return opt if make_criterion is None else Restarts(opt, make_criterion(), reset=reset)
            return factory, None

        name = CRITERIA_RU[key].replace("P", str(period)) if key == "period" else CRITERIA_RU[key]
        out.append(Method(name, make, dict(space), name))
    return out


@dataclass
class RestartsResult:
    """Comparison of the four variants plus the per-seed training results (curves, restart epochs)."""

    comparison: Comparison
    description: str
    config: dict
    seconds: float

    def runs(self, name: str) -> list:
        """The ``TrainResult`` of every evaluation seed of variant ``name``."""
        return [r.history.result for r in self.comparison.methods[name].seed_runs]

    def curves(self, split: str = "val", metric: str = "loss") -> dict:
        """name → (mean, std) over seeds of the per-epoch ``metric`` on ``split`` (epoch 0 = before training).

        ``split="train"`` reads the trainer's running training metrics (``loss``, ``accuracy``).
        """
        out = {}
        for name in self.comparison.methods:
            arrs = []
            for res in self.runs(name):
                arrs.append(np.asarray(res.train[metric] if split == "train" else res.curve(split, metric), dtype=float))
            a = np.stack(arrs)
            out[name] = (a.mean(axis=0), a.std(axis=0))
        return out

    def restart_epochs(self) -> dict:
        """name → list (per seed) of the epochs after which a restart happened."""
        return {n: [list(res.restart_epochs) for res in self.runs(n)] for n in self.comparison.methods}

    def table(self, digits: int = 4) -> list[dict]:
        rows = []
        for row in self.comparison.table(("acc", "loss"), digits):
            name = row["Метод"]
            gaps = [res.train["accuracy"][-1] - res.curve("test", "accuracy")[-1] for res in self.runs(name)]
            row["Разрыв train − test (финал)"] = f"{np.mean(gaps):.{digits}f}"
            row["Рестартов (среднее)"] = f"{np.mean([len(e) for e in self.restart_epochs()[name]]):.1f}"
            rows.append(row)
        return rows

    def markdown(self, digits: int = 4) -> str:
        return markdown_table(self.table(digits))

    def figure(self, split: str = "val", metric: str = "loss"):
        """Mean ± std curves of every variant; restart epochs of the first seed as markers."""
        import plotly.graph_objects as go

        from ..viz._style import PALETTE

        fig = go.Figure()
        for i, (name, (mean, std)) in enumerate(self.curves(split, metric).items()):
            color = PALETTE[i % len(PALETTE)]
            x = np.arange(len(mean))
            fig.add_scatter(x=x, y=mean, mode="lines", name=name, line=dict(color=color),
                            error_y=dict(type="data", array=std, visible=True, thickness=0.6))
            first = self.restart_epochs()[name][0] if self.runs(name) else []
            if first:
                fig.add_scatter(x=first, y=[mean[e] for e in first], mode="markers", showlegend=False,
                                marker=dict(symbol="x", size=9, color=color), name=f"{name}: рестарты")
        fig.update_layout(title=f"{metric} ({split}), среднее ± std по зёрнам; × — рестарты (первое зерно)",
                          xaxis_title="эпоха", yaxis_title=metric, template="plotly_white")
        return fig


def _restart_data(cfg, data_seed):
    from ..data import load_dataset

    flatten = False
    return load_dataset(cfg["dataset"], seed=data_seed, max_per_class=cfg["per_class"], flatten=flatten)


def restarts_experiment(size: str = "cpu", *, device=None, progress: bool = False, data_seed: int = 0,
                        **overrides) -> RestartsResult:
    """Run part 1 of experiment 3 (see the module docstring); keyword arguments override the preset
    (``epochs``, ``batch_size``, ``period``, ``trials``, ``seeds``, ``lr``, ``weight_decay``,
    ``per_class``, ``dataset``, ``model``). With ``trials > 1`` the learning rate is searched."""
    from ..models import count_parameters, resnet_fc_head

    cfg = resolve_size(SIZES, size, overrides)
    t0 = time.perf_counter()
    data = _restart_data(cfg, data_seed)
    x = data.train.x
    channels, side = (int(x.shape[1]), int(x.shape[-1])) if x.dim() == 4 else (1, int(math.isqrt(x.shape[1])))
    n_classes = data.train.n_classes
    if cfg["model"] == "cnn":
        model_fn = lambda s: overparameterised_cnn(n_classes, in_channels=channels, image_size=side, seed=s)
    else:
        model_fn = lambda s: resnet_fc_head(n_classes, in_channels=channels, seed=s)
    cfg["parameters"] = count_parameters(model_fn(0))
    cfg["train_samples"] = len(data.train)
    methods = restart_methods(cfg["period"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], search=cfg["trials"] > 1)
    runner = TrainRunner(data, model_fn, epochs=cfg["epochs"], batch_size=cfg["batch_size"], keep_results=True,
                         device=device, eval_sets=("val", "test"), eval_subset=cfg["eval_subset"])
    cmp = compare(methods, runner, trials=cfg["trials"], seeds=cfg["seeds"], select="acc", progress=progress)
    cfg["data_seed"] = data_seed
    desc = (data.summary() + f"\nМодель: {cfg['model']}, параметров {cfg['parameters']} при "
            f"{cfg['train_samples']} обучающих объектах (d ≫ n).")
    return RestartsResult(cmp, desc, cfg, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------
# 2. over-parameterised regression
# ------------------------------------------------------------------------------------------
def regression_truth(x):
    r"""The talk's ground truth :math:`f(x) = \sin x + 0.5\cos 2x + 0.1x^2` (numpy or torch input)."""
    if isinstance(x, torch.Tensor):
        return torch.sin(x) + 0.5 * torch.cos(2 * x) + 0.1 * x**2
    x = np.asarray(x, dtype=float)
    return np.sin(x) + 0.5 * np.cos(2 * x) + 0.1 * x**2


def regression_data(n_points: int, *, noise: float = 0.3, x_range=(-4.0, 4.0), seed: int = 0):
    """``n_points`` inputs uniform on ``x_range`` and ``y = f(x) + ε``, ε ~ N(0, noise²) (float64 numpy)."""
    check_int("n_points", n_points, 1)
    check_range("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(x_range[0], x_range[1], n_points))
    return x, regression_truth(x) + noise * rng.standard_normal(n_points)


@dataclass
class RegressionResult:
    """Fitted curves of every seed with and without restarts, their spread and errors."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_grid: np.ndarray
    truth: np.ndarray
    curves: dict          # name -> (seeds, grid)
    train_loss: dict      # name -> (seeds, steps)
    restarts: dict        # name -> list of restart step lists (per seed)
    config: dict
    seconds: float

    def variance(self) -> dict:
        """name → variance over seeds of the fitted value, averaged over the grid."""
        return {n: float(c.var(axis=0, ddof=1).mean()) if c.shape[0] > 1 else 0.0 for n, c in self.curves.items()}

    def mse_to_truth(self) -> dict:
        """name → (mean, std) over seeds of the grid MSE between the fitted curve and f."""
        out = {}
        for n, c in self.curves.items():
            err = ((c - self.truth[None, :]) ** 2).mean(axis=1)
            out[n] = (float(err.mean()), float(err.std(ddof=1)) if len(err) > 1 else 0.0)
        return out

    def final_train_loss(self) -> dict:
        return {n: float(v[:, -1].mean()) for n, v in self.train_loss.items()}

    def table(self, digits: int = 4) -> list[dict]:
        var, mse, fin = self.variance(), self.mse_to_truth(), self.final_train_loss()
        return [{"Вариант": n, "Дисперсия кривой по зёрнам": f"{var[n]:.{digits}g}",
                 "MSE до f(x) (± std)": f"{mse[n][0]:.{digits}g} ± {mse[n][1]:.{digits}g}",
                 "Потеря на обучении (финал)": f"{fin[n]:.{digits}g}"} for n in self.curves]

    def markdown(self, digits: int = 4) -> str:
        return markdown_table(self.table(digits))

    def figure(self):
        """Two panels: every seed's fitted curve without and with restarts, the truth and the data."""
        from plotly.subplots import make_subplots

        names = list(self.curves)
        var = self.variance()
        fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True,
                            subplot_titles=[f"{n}: дисперсия {var[n]:.3g}" for n in names])
        for j, n in enumerate(names, 1):
            for k, c in enumerate(self.curves[n]):
                fig.add_scatter(x=self.x_grid, y=c, mode="lines", line=dict(width=1, color="rgba(31,119,180,0.45)"),
                                showlegend=(j == 1 and k == 0), name="подогнанные кривые (зёрна)", row=1, col=j)
            fig.add_scatter(x=self.x_grid, y=self.truth, mode="lines", line=dict(color="black", dash="dash"),
                            name="f(x) = sin x + 0.5 cos 2x + 0.1x²", showlegend=(j == 1), row=1, col=j)
            fig.add_scatter(x=self.x_train, y=self.y_train, mode="markers", marker=dict(color="#d62728", size=7),
                            name="данные", showlegend=(j == 1), row=1, col=j)
        fig.update_layout(title="Сверхпараметризованная регрессия: с рестартами и без", template="plotly_white")
        return fig


def _regression_net(width: int, depth: int):
    from torch import nn

    layers, a = [], 1
    for _ in range(depth):
        layers += [nn.Linear(a, width), nn.ReLU()]
        a = width
    layers.append(nn.Linear(a, 1))
    return nn.Sequential(*layers)


def regression_restarts_experiment(size: str = "cpu", *, noise: float = 0.3, lr: float = 1e-3,
                                   weight_decay: float = 0.0, x_range=(-4.0, 4.0), data_seed: int = 0,
                                   reset=("moments", "step"), **overrides) -> RegressionResult:
    """Fit an over-parameterised MLP (full batch, AdamW) with and without fixed-period restarts.

    The data (``n_points`` noisy samples of :func:`regression_truth`) are the same for every seed;
    seeds change the initialisation only, so the spread of the fitted curves is the spread the
    optimizer leaves. Keyword arguments override :data:`REGRESSION_SIZES` (``n_points``, ``width``,
    ``depth``, ``steps``, ``period`` (in steps), ``seeds``, ``grid``).
    """
    from ..optim import AdamW, FixedPeriod, Restarts

    cfg = resolve_size(REGRESSION_SIZES, size, overrides)
    t0 = time.perf_counter()
    x_np, y_np = regression_data(cfg["n_points"], noise=noise, x_range=x_range, seed=data_seed)
    grid = np.linspace(x_range[0], x_range[1], cfg["grid"])
    x = torch.tensor(x_np, dtype=torch.float32).reshape(-1, 1)
    y = torch.tensor(y_np, dtype=torch.float32).reshape(-1, 1)
    g = torch.tensor(grid, dtype=torch.float32).reshape(-1, 1)
    variants = {"AdamW": None, f"AdamW + рестарт каждые {cfg['period']} шагов": cfg["period"]}
    curves, losses, restarts = {}, {}, {}
    for name, period in variants.items():
        cs, ls, rs = [], [], []
        for seed in cfg["seeds"]:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                net = _regression_net(cfg["width"], cfg["depth"])
            opt = AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
            if period is not None:
                opt = Restarts(opt, FixedPeriod(period, unit="step"), reset=reset)
            hist = np.empty(cfg["steps"])
            for k in range(cfg["steps"]):
                opt.zero_grad()
                loss = torch.mean((net(x) - y) ** 2)
                loss.backward()
                opt.step()
                hist[k] = float(loss.detach())
            with torch.no_grad():
                cs.append(net(g).reshape(-1).double().numpy())
            ls.append(hist)
            rs.append(list(opt.restart_steps) if period is not None else [])
        curves[name], losses[name], restarts[name] = np.stack(cs), np.stack(ls), rs
    cfg.update(noise=noise, lr=lr, weight_decay=weight_decay, x_range=tuple(x_range), data_seed=data_seed,
               reset=tuple(reset), parameters=sum(p.numel() for p in _regression_net(cfg["width"], cfg["depth"]).parameters()))
    return RegressionResult(x_np, y_np, grid, regression_truth(grid), curves, losses, restarts, cfg,
                            time.perf_counter() - t0)
