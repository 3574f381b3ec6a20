r"""Helpers of lecture 07 «Рестарты».

* :func:`ripple_check` — the period of Nesterov's ripple measured on a quadratic against
  :math:`\pi\sqrt\kappa` (Nesterov = ``SGD(lr=1/L, nesterov=True)`` with :math:`\mu_j=(j-1)/(j+2)`,
  the run of :func:`optviz.widgets.restarts.nesterov_run`).
* :func:`period_sweep` / :func:`period_figure` / :func:`period_explorer` — fixed-period restarts:
  the number of steps after which :math:`f - f^* \le \varepsilon\,(f(x_0) - f^*)` holds for good as a function of the
  period P, next to the adaptive function and gradient schemes and the bound-optimal period
  :math:`P^* = 2e\sqrt\kappa` (from :math:`f(x_P) - f^* \le 4\kappa\,(f(x_0) - f^*)/P^2`).
* :func:`network_restarts` — AdamW and AdamW + :class:`~optviz.optim.Restarts` with the talk's three
  criteria on an over-parameterised network, with the validation signals, the restart epochs and
  the parameters after every epoch; :func:`criteria_figure`, :func:`network_table`,
  :func:`criteria_consistency`, :func:`trajectory_pca` / :func:`pca_figure`.
* :func:`regression_fits` — the over-parameterised regression of the talk for many seeds at once
  (stacked weights, batched matmuls; AdamW is element-wise, so it is exactly one run per seed),
  returned as :class:`optviz.experiments.restarts.RegressionResult`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..experiments.restarts import (
    REGRESSION_SIZES,
    RegressionResult,
    _regression_net,
    overparameterised_cnn,
    regression_data,
    regression_truth,
)
from ..optim import AdamW, FixedPeriod, GradNormRatio, Restarts, ValLossIncrease
from ..problems.toys import Quadratic
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num
from ..viz.phases import measured_ripple_period, plural, ripple_period
from ..widgets._base import Explorer, log_slider
from ..widgets.restarts import auto_steps, nesterov_run

__all__ = [
    "ripple_check", "bound_optimal_period", "steps_to_tolerance", "PeriodSweep", "period_sweep",
    "period_figure", "PeriodExplorer", "period_explorer", "NET_SIZES", "CRITERION_LABELS", "NetRun",
    "network_restarts", "criteria_consistency", "network_table", "criteria_figure", "TrajectoryPCA",
    "trajectory_pca", "pca_figure", "REG_SIZES", "regression_fits",
]


# ---------------------------------------------------------------------------------------------
# 1. the ripple
# ---------------------------------------------------------------------------------------------
def ripple_check(kappas: Iterable[float] = (30, 100, 300, 1000), *, angle_deg: float = 30.0) -> list[dict]:
    r"""Measured ripple period of Nesterov without restarts against :math:`\pi\sqrt\kappa`.

    For each κ: Nesterov (η = 1/L, :math:`\mu_j = (j-1)/(j+2)`) on ``Quadratic(kappa, angle_deg)``
    for six periods; the measured period is the mean distance between the local maxima of
    :math:`f(x_k) - f^*`. Rows: ``kappa``, ``theory`` (:math:`\pi\sqrt\kappa`), ``measured``,
    ``ratio`` (measured / theory), ``steps``.
    """
    rows = []
    for kappa in kappas:
        q = Quadratic(kappa=float(check_range("kappa (κ)", kappa, 1.0, low_open=True)), angle_deg=angle_deg)
        steps = auto_steps(q)
        tr = nesterov_run(q, "none", steps)
        measured = measured_ripple_period(tr.loss[:, 0] - q.f_star)
        theory = ripple_period(q)
        rows.append(dict(kappa=float(kappa), theory=theory, measured=measured, ratio=measured / theory,
                         steps=steps))
    return rows


# ---------------------------------------------------------------------------------------------
# 2. fixed-period restarts
# ---------------------------------------------------------------------------------------------
def bound_optimal_period(kappa: float) -> float:
    r"""The period minimising the bound per step: :math:`(4\kappa/P^2)^{1/P}` is smallest at
    :math:`P^* = 2e\sqrt\kappa` (Nesterov's :math:`f(x_P)-f^* \le 2L\|x_0-x^*\|^2/P^2` and
    :math:`\|x_0-x^*\|^2 \le 2(f(x_0)-f^*)/\mu`)."""
    check_range("kappa (κ)", kappa, 1.0)
    return 2.0 * math.e * math.sqrt(kappa)


def steps_to_tolerance(gap, tol: float) -> int | None:
    r"""First k from which the gap *stays* below the tolerance:
    :math:`\max_{j \ge k} \mathrm{gap}_j \le \mathrm{tol}\cdot\mathrm{gap}_0` (None if the last
    value is above it). A ripple that dips below ε and comes back does not count."""
    check_range("tol", tol, 0.0, 1.0, low_open=True)
    g = np.asarray(gap, dtype=float)
    if g.ndim != 1 or g.size == 0:
        raise ValueError("gap должен быть одномерным непустым массивом значений f(x_k) − f*.")
    bad = ~(np.isfinite(g) & (g <= tol * g[0]))
    if bad[-1]:
        return None
    above = np.nonzero(bad)[0]
    return int(above[-1] + 1) if above.size else 0


@dataclass
class PeriodSweep:
    """Steps to tolerance of fixed-period restarts over a grid of periods, and of the adaptive schemes."""

    kappa: float
    periods: np.ndarray          # (m,) int
    steps: np.ndarray            # (m,) float, NaN where the tolerance was not reached
    adaptive: dict               # "none" / "function" / "gradient" -> steps (NaN if not reached)
    adaptive_restarts: dict      # same keys -> number of restarts
    tol: float
    horizon: int                 # steps of every run
    problem: Quadratic = field(repr=False)

    @property
    def best_period(self) -> int | None:
        if not np.isfinite(self.steps).any():
            return None
        return int(self.periods[int(np.nanargmin(self.steps))])

    @property
    def best_steps(self) -> float:
        return float(np.nanmin(self.steps)) if np.isfinite(self.steps).any() else float("nan")


def _nan_or(v):
    return float("nan") if v is None else float(v)


def period_sweep(kappa: float = 300.0, periods: Sequence[int] | None = None, *, tol: float = 1e-10,
                 horizon: float = 15.0, angle_deg: float = 30.0) -> PeriodSweep:
    r"""Nesterov with a restart every P steps, for every P in ``periods`` (default: 16 values from
    :math:`0.5\sqrt\kappa` to :math:`12\sqrt\kappa`), plus no restart and the two adaptive schemes.

    Every run makes ``horizon``·π√κ steps; the measured quantity is the first k with
    :math:`f(x_k) - f^* \le` ``tol``·:math:`(f(x_0) - f^*)`.
    """
    kappa = float(check_range("kappa (κ)", kappa, 1.0, low_open=True))
    check_range("horizon", horizon, 1.0)
    q = Quadratic(kappa=kappa, angle_deg=angle_deg)
    n_steps = int(math.ceil(horizon * ripple_period(q)))
    if periods is None:
        periods = np.unique(np.round(np.geomspace(0.5, 12.0, 16) * math.sqrt(kappa)).astype(int))
    periods = np.asarray([check_int("period (P)", int(p), 1) for p in periods], dtype=int)
    steps = np.array([_nan_or(steps_to_tolerance(nesterov_run(q, "period", n_steps, int(p)).loss[:, 0] - q.f_star, tol))
                      for p in periods])
    adaptive, counts = {}, {}
    for kind in ("none", "function", "gradient"):
        tr = nesterov_run(q, kind, n_steps)
        adaptive[kind] = _nan_or(steps_to_tolerance(tr.loss[:, 0] - q.f_star, tol))
        counts[kind] = len(tr.restarts or [])
    return PeriodSweep(kappa, periods, steps, adaptive, counts, float(tol), n_steps, q)


_KIND_RU = OrderedDict([("none", "без рестартов"), ("function", "функциональная схема"),
                        ("gradient", "градиентная схема")])
_KIND_COLOR = {"none": "#7f7f7f", "function": "#2ca02c", "gradient": "#d62728", "period": "#1f77b4"}


_STEP_FORMS = ("шаг", "шага", "шагов")


def _steps_text(v) -> str:
    return "не достигнута" if not np.isfinite(v) else plural(int(v), _STEP_FORMS)


def period_figure(sweep: PeriodSweep, period: int, *, validate: bool = True) -> go.Figure:
    """Left: steps to tolerance against P (log axis), the adaptive schemes as horizontal lines,
    π√κ and 2e√κ as vertical lines. Right: f − f* of the chosen P, the gradient scheme and no restart."""
    period = check_int("period (P)", period, 1)
    q, kappa = sweep.problem, sweep.kappa
    T, Pstar = ripple_period(q), bound_optimal_period(kappa)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.1,
                        subplot_titles=["шагов до точности ε при рестарте каждые P шагов",
                                        "f(x_k) − f* (| — рестарт)"])
    reached = np.isfinite(sweep.steps)
    fig.add_scatter(x=sweep.periods[reached], y=sweep.steps[reached], mode="lines+markers",
                    line=dict(color=_KIND_COLOR["period"]), name="фиксированный период P", row=1, col=1)
    if (~reached).any():
        fig.add_scatter(x=sweep.periods[~reached], y=np.full((~reached).sum(), sweep.horizon), mode="markers",
                        marker=dict(symbol="triangle-up", size=10, color=_KIND_COLOR["period"]),
                        name=f"не достиг ε за {sweep.horizon} шагов", row=1, col=1)
    xs = [float(sweep.periods.min()) * 0.9, float(sweep.periods.max()) * 1.1]
    for kind, label in _KIND_RU.items():
        v = sweep.adaptive[kind]
        if np.isfinite(v):
            fig.add_scatter(x=xs, y=[v, v], mode="lines", line=dict(color=_KIND_COLOR[kind], dash="dash"),
                            name=label, row=1, col=1)
    top = float(np.nanmax(np.r_[sweep.steps[reached], [v for v in sweep.adaptive.values() if np.isfinite(v)],
                                 [sweep.horizon]]))
    for x, text, dash in ((T, "π√κ", "dot"), (Pstar, "2e√κ", "dashdot")):
        fig.add_scatter(x=[x, x], y=[0, top], mode="lines", line=dict(color="black", dash=dash, width=1),
                        name=f"{text} ≈ {x:.0f}", row=1, col=1)
    fig.add_scatter(x=[period], y=[sweep.horizon if np.isnan(_steps_for(sweep, period)) else _steps_for(sweep, period)],
                    mode="markers", marker=dict(size=14, symbol="circle-open", line=dict(width=3, color="black")),
                    name=f"выбранный P = {period}", row=1, col=1)

    runs = [("none", nesterov_run(q, "none", sweep.horizon)), ("gradient", nesterov_run(q, "gradient", sweep.horizon)),
            ("period", nesterov_run(q, "period", sweep.horizon, period))]
    chosen_steps = float("nan")
    for kind, tr in runs:
        gap = np.maximum(tr.loss[:, 0] - q.f_star, 1e-300)
        label = f"период P = {period}" if kind == "period" else _KIND_RU[kind]
        fig.add_scatter(x=np.arange(tr.steps + 1), y=gap, mode="lines", line=dict(color=_KIND_COLOR[kind], width=2),
                        name=label, showlegend=False, row=1, col=2)
        ks = [int(k) for k in (tr.restarts or []) if 0 <= k <= tr.steps]
        fig.add_scatter(x=ks, y=gap[ks] if ks else [], mode="markers", showlegend=False, name=f"рестарты: {label}",
                        marker=dict(symbol="line-ns-open", size=12, line=dict(width=2, color=_KIND_COLOR[kind])),
                        row=1, col=2)
        if kind == "period":
            chosen_steps = _nan_or(steps_to_tolerance(tr.loss[:, 0] - q.f_star, sweep.tol))
    eps_line = sweep.tol * float(runs[0][1].loss[0, 0] - q.f_star)
    fig.add_scatter(x=[0, sweep.horizon], y=[eps_line, eps_line], mode="lines", showlegend=False,
                    line=dict(color="black", dash="dot", width=1), name="ε·(f(x₀) − f*)", row=1, col=2)

    best = sweep.best_period
    lines = [
        f"κ = {fmt_num(kappa)}, ε = {fmt_num(sweep.tol)}: P = {period} (≈ {period / math.sqrt(kappa):.1f}√κ) — "
        f"{_steps_text(chosen_steps)}; градиентная схема — {_steps_text(sweep.adaptive['gradient'])} "
        f"({plural(sweep.adaptive_restarts['gradient'], ('рестарт', 'рестарта', 'рестартов'))}), функциональная — {_steps_text(sweep.adaptive['function'])}, "
        f"без рестартов — {_steps_text(sweep.adaptive['none'])}",
        (f"лучший период на сетке: P = {best} (≈ {best / math.sqrt(kappa):.1f}√κ, {_steps_text(sweep.best_steps)}); "
         if best is not None else "ни один период сетки не достиг ε; ")
        + f"оценка 2e√κ ≈ {Pstar:.0f}, период ряби π√κ ≈ {T:.0f}",
    ]
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=f"Рестарт Нестерова каждые P шагов, κ = {fmt_num(kappa)}", y=0.97, yanchor="top"),
        height=540, margin=dict(l=60, r=20, t=120, b=130),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="left", x=0),
    )
    fig.update_layout(**layout)
    fig.add_annotation(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=-0.2, xanchor="left",
                       yanchor="top", showarrow=False, align="left", font=dict(size=12))
    fig.update_xaxes(type="log", title_text="период P (шагов)", row=1, col=1)
    fig.update_yaxes(title_text="шагов до f − f* ≤ ε·(f(x₀) − f*)", row=1, col=1)
    fig.update_xaxes(title_text="шаг k", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", title_text="f(x_k) − f*", row=1, col=2)
    fig.layout.meta = dict(best_period=best, chosen_steps=chosen_steps)
    return fig


def _steps_for(sweep: PeriodSweep, period: int) -> float:
    hit = np.nonzero(sweep.periods == period)[0]
    if hit.size:
        return float(sweep.steps[hit[0]])
    tr = nesterov_run(sweep.problem, "period", sweep.horizon, period)
    return _nan_or(steps_to_tolerance(tr.loss[:, 0] - sweep.problem.f_star, sweep.tol))


_SWEEPS: LRUCache[tuple, PeriodSweep] = LRUCache(16)


def _cached_sweep(kappa: float, tol: float) -> PeriodSweep:
    return _SWEEPS.get_or_compute((round(float(kappa), 9), float(tol)), lambda: period_sweep(kappa, tol=tol))


class PeriodExplorer(Explorer):
    """κ and the period (as a multiple c of √κ, P = round(c√κ)) → :func:`period_figure`."""

    def __init__(self, kappa: float, c: float, tol: float):
        self.tol = float(check_range("tol", tol, 0.0, 1.0, low_open=True))
        wide = {"description_width": "initial"}
        controls = OrderedDict()
        controls["kappa"] = log_slider(float(kappa), 10.0, 3000.0, "число обусловленности κ", readout_format=".3g",
                                       steps=50)
        controls["kappa"].continuous_update = False
        controls["c"] = log_slider(float(c), 0.5, 12.0, "период P = c·√κ, c", readout_format=".2f", steps=40)
        controls["c"].continuous_update = False
        controls["c"].style = wide
        super().__init__(controls, self._build, static_values={"kappa": [30.0, 100.0, 300.0, 1000.0]})

    def period_of(self, params: dict | None = None) -> int:
        p = self.params if params is None else params
        kappa = float(check_range("kappa (κ)", p["kappa"], 1.0, low_open=True))
        c = float(check_range("c (P = c·√κ)", p["c"], 0.0, low_open=True))
        return max(1, int(round(c * math.sqrt(kappa))))

    def _build(self, params: dict) -> go.Figure:
        sweep = _cached_sweep(float(params["kappa"]), self.tol)
        return period_figure(sweep, self.period_of(params), validate=not self.live)


def period_explorer(kappa: float = 300.0, c: float = 4.0, *, tol: float = 1e-10) -> PeriodExplorer:
    """Live view of fixed-period restarts; the period is P = round(c·√κ)."""
    return PeriodExplorer(kappa, c, tol)


# ---------------------------------------------------------------------------------------------
# 3. restarts of AdamW on an over-parameterised network
# ---------------------------------------------------------------------------------------------
NET_SIZES = {
    "tiny": dict(dataset="digits", model="cnn", per_class=10, epochs=4, batch_size=32, period=2, lr=1e-3,
                 weight_decay=1e-2, max_snapshot=None),
    "cpu": dict(dataset="digits", model="cnn", per_class=30, epochs=24, batch_size=32, period=6, lr=1e-3,
                weight_decay=1e-2, max_snapshot=None),
    # the talk's setting: ResNet-18 + head 512→1024→1024→10 on CIFAR-10 (needs torchvision and the data set
    # on disk; a GPU is advisable); snapshots keep a fixed random subset of 200 000 coordinates
    "full": dict(dataset="cifar10", model="resnet_fc_head", per_class=None, epochs=100, batch_size=128, period=15,
                 lr=1e-3, weight_decay=1e-2, max_snapshot=200_000),
}

#: criterion key → label (None: plain AdamW)
CRITERION_LABELS = OrderedDict([
    (None, "AdamW"),
    ("period", "рестарт каждые P эпох"),
    ("grad_norm_ratio", "рестарт: ‖∇L_val(x_k)‖ > 2‖∇L_val(x_{k−1})‖"),
    ("val_loss", "рестарт: L_val(x_k) > L_val(x_{k−1})"),
])


@dataclass
class NetRun:
    """One training run: per-epoch curves (index 0 = before training), restart epochs, snapshots."""

    criterion: str | None
    label: str
    train_loss: np.ndarray      # (E+1,) loss on the whole training set, in eval mode
    train_acc: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    val_grad_norm: np.ndarray
    test_acc: np.ndarray
    restart_epochs: list
    snapshots: np.ndarray | None   # (E+1, d') float32: parameters after every epoch

    @property
    def epochs(self) -> int:
        return len(self.val_loss) - 1


def _criterion(key, period):
    if key is None:
        return None
    return {"period": lambda: FixedPeriod(period, unit="observe"),
            "grad_norm_ratio": lambda: GradNormRatio(lag=1, threshold=2.0),
            "val_loss": lambda: ValLossIncrease(lag=1)}[key]()


def _flat(model, idx):
    v = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).float().cpu()
    return (v if idx is None else v[idx]).numpy().copy()


def _preset(presets: dict, size: str, overrides: dict) -> dict:
    """A copy of ``presets[size]`` with ``overrides`` on top (None is a value here: e.g. no snapshot cap)."""
    check_choice("size", size, tuple(presets))
    cfg = dict(presets[size])
    for k, v in overrides.items():
        if k not in cfg:
            raise ValueError(f"Неизвестный параметр {k!r}; можно: {', '.join(cfg)}.")
        cfg[k] = v
    return cfg


def network_restarts(size: str = "cpu", *, seed: int = 1, data_seed: int = 0, device=None,
                     criteria: Sequence = (None, "period", "grad_norm_ratio", "val_loss"),
                     reset=("moments", "step"), snapshots: bool = True, **overrides) -> dict:
    r"""Train the same initialisation with AdamW and with AdamW + restarts under each criterion.

    After every epoch e = 1…E the validation loss :math:`L_{val}` and the norm of the full
    validation gradient :math:`\|\nabla L_{val}\|` (:func:`optviz.train.validation_gradient_norm`)
    are computed and fed to ``opt.observe(val_loss=..., val_grad_norm=...)``; the criterion compares
    epoch e with epoch e − 1 (``FixedPeriod(P, unit="observe")`` counts epochs). A restart resets
    ``reset`` (default: Adam's moments and step counter). The batch order depends only on
    (``seed``, epoch), so every variant sees the same batches. Returns ``{label: NetRun}``.
    ``size`` picks :data:`NET_SIZES` (keyword arguments override its entries).
    """
    from ..data import load_dataset
    from ..models import resnet_fc_head
    from ..train import evaluate, validation_gradient_norm

    cfg = _preset(NET_SIZES, size, overrides)
    epochs = check_int("epochs", cfg["epochs"], 1)
    bs = check_int("batch_size", cfg["batch_size"], 1)
    period = check_int("period", cfg["period"], 1)
    for key in criteria:
        if key not in CRITERION_LABELS:
            raise ValueError(f"Неизвестный критерий {key!r}; есть: {', '.join(map(repr, CRITERION_LABELS))}.")
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_dataset(cfg["dataset"], seed=data_seed, max_per_class=cfg["per_class"])
    xtr, ytr = data.train.x.to(device), data.train.y.to(device)
    n, n_classes = xtr.shape[0], data.train.n_classes
    channels, side = int(xtr.shape[1]), int(xtr.shape[-1])

    def make_model():
        if cfg["model"] == "cnn":
            return overparameterised_cnn(n_classes, in_channels=channels, image_size=side, seed=seed)
        return resnet_fc_head(n_classes, in_channels=channels, seed=seed)

    out = OrderedDict()
    for key in criteria:
        model = make_model().to(device)
        d = sum(p.numel() for p in model.parameters())
        idx = None
        if cfg["max_snapshot"] is not None and d > cfg["max_snapshot"]:
            idx = torch.randperm(d, generator=torch.Generator().manual_seed(seed))[: cfg["max_snapshot"]]
        inner = AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        crit = _criterion(key, period)
        opt = inner if crit is None else Restarts(inner, crit, reset=reset)
        rec = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "val_grad_norm", "test_acc")}
        snaps, restarts = [], []

        def record():
            tr, va, te = (evaluate(model, s, device=device) for s in (data.train, data.val, data.test))
            rec["train_loss"].append(tr["loss"])
            rec["train_acc"].append(tr["accuracy"])
            rec["val_loss"].append(va["loss"])
            rec["val_acc"].append(va["accuracy"])
            rec["test_acc"].append(te["accuracy"])
            rec["val_grad_norm"].append(validation_gradient_norm(model, data.val, device=device))
            if snapshots:
                snaps.append(_flat(model, idx))

        record()
        for epoch in range(1, epochs + 1):
            model.train()
            gen = torch.Generator().manual_seed(1_000_003 * seed + epoch)
            perm = torch.randperm(n, generator=gen).to(device)
            for start in range(0, n, bs):
                b = perm[start:start + bs]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xtr[b]), ytr[b])
                loss.backward()
                opt.step()
            record()
            if crit is not None and opt.observe(val_loss=rec["val_loss"][-1], val_grad_norm=rec["val_grad_norm"][-1]):
                restarts.append(epoch)
        label = CRITERION_LABELS[key].replace("P", str(period)) if key == "period" else CRITERION_LABELS[key]
        out[label] = NetRun(key, label, *(np.asarray(rec[k], dtype=float) for k in
                                          ("train_loss", "train_acc", "val_loss", "val_acc", "val_grad_norm",
                                           "test_acc")),
                            restarts, np.stack(snaps) if snapshots else None)
    return out


def criteria_consistency(run: NetRun, period: int | None = None) -> tuple[list, list]:
    r"""(restart epochs recorded, restart epochs recomputed from the logged signals by the formulas).

    Period: epochs P, 2P, …; gradient ratio: e ≥ 2 with :math:`g_e > 2 g_{e-1}`; validation loss:
    e ≥ 2 with :math:`L_e > L_{e-1}` (the first comparison is epoch 2 against epoch 1).
    """
    E = run.epochs
    if run.criterion is None:
        expected = []
    elif run.criterion == "period":
        P = check_int("period", period, 1)
        expected = list(range(P, E + 1, P))
    elif run.criterion == "grad_norm_ratio":
        g = run.val_grad_norm
        expected = [e for e in range(2, E + 1) if g[e] > 2.0 * g[e - 1]]
    else:
        L = run.val_loss
        expected = [e for e in range(2, E + 1) if L[e] > L[e - 1]]
    return list(run.restart_epochs), expected


def network_table(runs: dict) -> list[dict]:
    """One row per variant: final test accuracy, best validation accuracy, train − test gap, restarts."""
    rows = []
    for label, r in runs.items():
        rows.append({"Вариант": label, "Точность test (финал)": f"{r.test_acc[-1]:.3f}",
                     "Лучшая точность val": f"{np.max(r.val_acc[1:]):.3f}",
                     "Потери val (финал)": f"{r.val_loss[-1]:.3f}",
                     "Разрыв train − test": f"{r.train_acc[-1] - r.test_acc[-1]:+.3f}",
                     "Рестарты (эпохи)": ", ".join(map(str, r.restart_epochs)) or "—"})
    return rows


def criteria_figure(runs: dict, period: int) -> go.Figure:
    """Top row: validation (solid) and training (dotted) loss of each restarted variant next to plain
    AdamW (grey), restart epochs as vertical lines. Bottom row: the signal each criterion tests."""
    check_int("period", period, 1)
    base = next((r for r in runs.values() if r.criterion is None), None)
    variants = [r for r in runs.values() if r.criterion is not None]
    if not variants:
        raise ValueError("Нет ни одного варианта с рестартами: передайте прогоны network_restarts.")
    m = len(variants)
    titles = [r.label for r in variants] + [
        {"period": "эпох с последнего рестарта", "grad_norm_ratio": "‖∇L_val(x_k)‖ / ‖∇L_val(x_{k−1})‖",
         "val_loss": "L_val(x_k) − L_val(x_{k−1})"}[r.criterion] for r in variants]
    fig = make_subplots(rows=2, cols=m, subplot_titles=titles, vertical_spacing=0.16, horizontal_spacing=0.07,
                        row_heights=[0.6, 0.4])
    for j, r in enumerate(variants, 1):
        color = PALETTE[j % len(PALETTE)]
        ep = np.arange(r.epochs + 1)
        first = j == 1
        if base is not None:
            fig.add_scatter(x=ep, y=base.val_loss, mode="lines", line=dict(color="#999"), name="AdamW: val",
                            showlegend=first, legendgroup="base", row=1, col=j)
            fig.add_scatter(x=ep, y=base.train_loss, mode="lines", line=dict(color="#999", dash="dot"),
                            name="AdamW: train", showlegend=first, legendgroup="base_tr", row=1, col=j)
        fig.add_scatter(x=ep, y=r.val_loss, mode="lines", line=dict(color=color, width=2.5),
                        name=f"{r.label}: val", row=1, col=j)
        fig.add_scatter(x=ep, y=r.train_loss, mode="lines", line=dict(color=color, dash="dot"),
                        name=f"{r.label}: train", showlegend=False, row=1, col=j)
        fig.add_scatter(x=r.restart_epochs, y=r.val_loss[r.restart_epochs] if r.restart_epochs else [],
                        mode="markers", marker=dict(symbol="x", size=10, color="black"),
                        name="рестарт", showlegend=first, legendgroup="restart", row=1, col=j)
        for e in r.restart_epochs:
            for row in (1, 2):
                fig.add_vline(x=e, line=dict(color=color, width=1, dash="dash"), opacity=0.5, row=row, col=j)
        if r.criterion == "period":
            since, c = [], 0
            for e in range(1, r.epochs + 1):
                c += 1
                since.append(c)
                if e in r.restart_epochs:
                    c = 0
            sig, thr, x = np.array(since, float), float(period), ep[1:]
        elif r.criterion == "grad_norm_ratio":
            sig, thr, x = r.val_grad_norm[2:] / r.val_grad_norm[1:-1], 2.0, ep[2:]
        else:
            sig, thr, x = np.diff(r.val_loss[1:]), 0.0, ep[2:]
        fig.add_scatter(x=x, y=sig, mode="lines+markers", line=dict(color=color), marker=dict(size=5),
                        showlegend=False, name="сигнал критерия", row=2, col=j)
        fig.add_scatter(x=[0, r.epochs], y=[thr, thr], mode="lines", line=dict(color="black", dash="dot", width=1),
                        name="порог критерия", showlegend=first, legendgroup="thr", row=2, col=j)
        fig.update_xaxes(title_text="эпоха", row=2, col=j)
    fig.update_yaxes(title_text="потери", row=1, col=1)
    fig.update_yaxes(title_text="сигнал", row=2, col=1)
    counts = ", ".join(str(len(r.restart_epochs)) for r in variants)
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(title=dict(text=f"Критерии рестарта в действии: потери (вверху) и сигнал критерия (внизу); "
                                  f"рестартов: {counts}",
                             font=dict(size=14), y=0.98, yanchor="top"),
                  height=640, margin=dict(l=60, r=20, t=130, b=60),
                  legend=dict(orientation="h", yanchor="bottom", y=1.07, xanchor="left", x=0))
    fig.update_layout(**layout)
    return fig


@dataclass
class TrajectoryPCA:
    """2-D PCA coordinates of every run's parameter snapshots (pooled and centred together)."""

    coords: dict                 # label -> (E+1, 2)
    explained: np.ndarray        # (2,) explained-variance ratios of the two components
    restart_epochs: dict         # label -> list


def trajectory_pca(runs: dict) -> TrajectoryPCA:
    r"""PCA of the pooled snapshots :math:`X` (rows = (run, epoch)): centre by the mean row, take the
    top two right singular vectors :math:`v_1, v_2` of :math:`X - \bar x` and project every run on
    them; the explained ratio is :math:`\sigma_i^2/\sum_j\sigma_j^2`."""
    labels = [k for k, r in runs.items() if r.snapshots is not None]
    if not labels:
        raise ValueError("У прогонов нет снимков параметров: запустите network_restarts(snapshots=True).")
    X = torch.from_numpy(np.concatenate([runs[k].snapshots for k in labels]).astype(np.float64))
    if X.shape[0] < 3:
        raise ValueError("Для PCA нужно хотя бы три снимка параметров.")
    Xc = X - X.mean(0, keepdim=True)
    U, S, Vh = torch.linalg.svd(Xc, full_matrices=False)
    sign = torch.sign(Vh[:2].sum(1, keepdim=True))    # fix the sign of each component (deterministic)
    sign[sign == 0] = 1
    Z = (Xc @ (Vh[:2] * sign).T).numpy()
    var = (S**2).numpy()
    coords, i = {}, 0
    for k in labels:
        n = runs[k].snapshots.shape[0]
        coords[k] = Z[i:i + n]
        i += n
    return TrajectoryPCA(coords, var[:2] / var.sum(), {k: list(runs[k].restart_epochs) for k in labels})


def pca_figure(pca: TrajectoryPCA) -> go.Figure:
    """Trajectories on the plane of the first two principal components; ○ start, ◆ end, × restarts."""
    fig = go.Figure()
    for i, (label, z) in enumerate(pca.coords.items()):
        color = "#7f7f7f" if i == 0 else PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=z[:, 0], y=z[:, 1], mode="lines+markers", line=dict(color=color, width=2),
                        marker=dict(size=4), name=label)
        fig.add_scatter(x=[z[-1, 0]], y=[z[-1, 1]], mode="markers", showlegend=False, name=f"{label}: конец",
                        marker=dict(symbol="diamond", size=11, color=color, line=dict(color="black", width=1)))
        ks = pca.restart_epochs[label]
        if ks:
            fig.add_scatter(x=z[ks, 0], y=z[ks, 1], mode="markers", showlegend=False, name=f"{label}: рестарты",
                            marker=dict(symbol="x", size=10, color=color, line=dict(color="black", width=1)))
    z0 = next(iter(pca.coords.values()))[0]
    fig.add_scatter(x=[z0[0]], y=[z0[1]], mode="markers", name="общий старт",
                    marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=2)))
    e1, e2 = pca.explained
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=f"Траектории параметров в плоскости PCA (объяснено {100 * e1:.0f}% + {100 * e2:.0f}% "
                            "дисперсии); × — рестарты, ◆ — конец", height=560,
                      xaxis_title="PC1", yaxis_title="PC2",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0))
    return fig


# ---------------------------------------------------------------------------------------------
# 4. over-parameterised regression, all seeds at once
# ---------------------------------------------------------------------------------------------
#: presets of :func:`regression_fits`: "tiny" and "full" are those of
#: :data:`optviz.experiments.restarts.REGRESSION_SIZES`; "cpu" is narrower than the experiment's "cpu"
#: (width 128 instead of 256, 2000 steps) so that the lecture runs in about 20 s on one core.
REG_SIZES = {
    "tiny": dict(REGRESSION_SIZES["tiny"]),
    "cpu": dict(n_points=20, width=128, depth=3, steps=2000, period=400, seeds=tuple(range(8)), grid=200),
    "full": dict(REGRESSION_SIZES["full"]),
}


def _stacked_nets(width: int, depth: int, seeds: Sequence[int]):
    """Weights (S, out, in) and biases (S, out) of ``_regression_net`` built with each seed."""
    nets = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(s))
            nets.append(_regression_net(width, depth))
    layers = [m for m in nets[0] if isinstance(m, torch.nn.Linear)]
    params = []
    for li in range(len(layers)):
        lins = [[m for m in net if isinstance(m, torch.nn.Linear)][li] for net in nets]
        params.append(torch.stack([lin.weight.detach() for lin in lins]).clone().requires_grad_(True))
        params.append(torch.stack([lin.bias.detach() for lin in lins]).clone().requires_grad_(True))
    return params


def _stacked_forward(params, x):
    """x (n, 1) → (S, n, 1) through the stacked MLP (ReLU between layers)."""
    S = params[0].shape[0]
    h = x.unsqueeze(0).expand(S, -1, -1)
    n_layers = len(params) // 2
    for i in range(n_layers):
        W_, b_ = params[2 * i], params[2 * i + 1]
        h = torch.baddbmm(b_.unsqueeze(1), h, W_.transpose(1, 2))
        if i < n_layers - 1:
            h = torch.relu(h)
    return h


def regression_fits(size: str = "cpu", *, noise: float = 0.3, lr: float = 1e-3, weight_decay: float = 0.0,
                    x_range=(-4.0, 4.0), data_seed: int = 0, reset=("moments", "step"), **overrides) -> RegressionResult:
    r"""The over-parameterised regression :math:`y = \sin x + 0.5\cos 2x + 0.1x^2 + \varepsilon` with
    and without fixed-period restarts, every seed trained at once.

    Same data, networks (initialised with each seed exactly as
    :func:`optviz.experiments.restarts.regression_restarts_experiment` does) and AdamW; the weights of
    all seeds are stacked into tensors with a leading seed axis and the loss is the sum over seeds
    of each seed's mean squared error, so each slice gets its own gradient and — AdamW being
    element-wise — its own independent run. ``size`` picks :data:`REG_SIZES` (``n_points``,
    ``width``, ``depth``, ``steps``, ``period`` in steps, ``seeds``, ``grid``; overridable).
    """
    cfg = _preset(REG_SIZES, size, overrides)
    steps = check_int("steps", cfg["steps"], 1)
    period = check_int("period", cfg["period"], 1)
    seeds = tuple(int(s) for s in cfg["seeds"])
    if not seeds:
        raise ValueError("Параметр seeds должен содержать хотя бы одно зерно.")
    import time

    t0 = time.perf_counter()
    x_np, y_np = regression_data(cfg["n_points"], noise=noise, x_range=x_range, seed=data_seed)
    grid = np.linspace(x_range[0], x_range[1], cfg["grid"])
    x = torch.tensor(x_np, dtype=torch.float32).reshape(-1, 1)
    y = torch.tensor(y_np, dtype=torch.float32).reshape(1, -1, 1)
    g = torch.tensor(grid, dtype=torch.float32).reshape(-1, 1)
    variants = {"AdamW": None, f"AdamW + рестарт каждые {period} шагов": period}
    curves, losses, restarts = {}, {}, {}
    for name, per in variants.items():
        params = _stacked_nets(cfg["width"], cfg["depth"], seeds)
        opt = AdamW(params, lr=lr, weight_decay=weight_decay)
        if per is not None:
            opt = Restarts(opt, FixedPeriod(per, unit="step"), reset=reset)
        hist = np.empty((len(seeds), steps))
        for k in range(steps):
            opt.zero_grad()
            per_seed = ((_stacked_forward(params, x) - y) ** 2).mean(dim=(1, 2))
            per_seed.sum().backward()
            opt.step()
            hist[:, k] = per_seed.detach().double().numpy()
        with torch.no_grad():
            curves[name] = _stacked_forward(params, g)[..., 0].double().numpy()
        losses[name] = hist
        restarts[name] = [list(opt.restart_steps) if per is not None else [] for _ in seeds]
    n_par = sum(p[0].numel() for p in _stacked_nets(cfg["width"], cfg["depth"], seeds[:1]))
    cfg.update(noise=noise, lr=lr, weight_decay=weight_decay, x_range=tuple(x_range), data_seed=data_seed,
               reset=tuple(reset), parameters=n_par)
    return RegressionResult(x_np, y_np, grid, regression_truth(grid), curves, losses, restarts, cfg,
                            time.perf_counter() - t0)
