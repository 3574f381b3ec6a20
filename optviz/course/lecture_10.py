r"""Helpers of lecture 10 «Гетерогенные данные и федеративное обучение».

The seeds' study (``heterogeneous-data-also-abstract-ru.txt``): two clients with different data,
the second joining late, then training alternates between them; ALSO against six baselines with
an equal tuning budget. This module holds everything the lecture draws and checks:

* :func:`client_data`, :func:`step_clients` — the two-client data of :func:`optviz.data.two_clients`
  (groups = clients) and the client of every training step of the schedule
  :class:`~optviz.data.TwoClientSchedule` (exactly the batches :func:`optviz.train.train` takes);
* :func:`train_clients` → :class:`ClientsRun` — one run of ALSO over the two clients (π lives on
  the simplex of the clients) or of the same Adam with π frozen (``pi_lr = 0``), split-learning
  model (shared MLP encoder, one head per client), cached by its settings;
* :func:`pi_from_losses` — the KL mirror step of ALSO replayed from the recorded step losses,
  :math:`\pi_{t+1}\propto\exp\big((\log(\pi_t+\varepsilon)+\eta_\pi\tau\log\hat\pi-\eta_\pi h_t)/(1+\eta_\pi\tau)\big)`
  with :math:`h_t = -s\sum_{i\in B_t}\ell_i` on the active client (0 on the absent one);
  :func:`kl_worst_case` — :math:`\arg\max_{\pi\in\Delta}\sum_c\pi_c\ell_c-\tau\,\mathrm{KL}(\pi\|\hat\pi)
  = \hat\pi_c e^{\ell_c/\tau}/\sum_k\hat\pi_k e^{\ell_k/\tau}`; :func:`alternating_equilibrium` — the
  exact fixed point of the two-step cycle of the mirror step for constant losses; :func:`pi_check`;
* :func:`clients_figure`, :func:`pi_animation` — the schedule, π over clients and the per-client
  validation accuracy over the steps (a plotly animation for the static page as well);
* :func:`comparison` (the seeds' comparison at a lecture / cpu / full size), :func:`budget_rows`,
  :func:`equal_budget`, :func:`agreement` — our table against the seeds' one;
* :func:`join_explorer`, :func:`pi_strength_explorer` — the lecture's two live explorers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..viz._plotly import LAYOUT_DEFAULTS, animate
from ..viz._style import PALETTE, fmt_num
from ..widgets._base import Explorer, log_slider

__all__ = [
    "CLIENT_NAMES", "CLIENT_COLORS", "DEFAULTS", "COMPARISON_SIZES", "ClientsRun", "client_data", "step_clients",
    "split_model", "train_clients", "pi_from_losses", "kl_worst_case", "alternating_equilibrium", "pi_check",
    "clients_figure", "pi_animation", "comparison", "budget_rows", "equal_budget", "agreement", "agreement_text",
    "join_explorer", "pi_strength_explorer",
]

CLIENT_NAMES = ("клиент 1", "клиент 2")
CLIENT_COLORS = (PALETTE[0], PALETTE[3])
ALTERNATE_TEXT = {"batch": "батчи чередуются 1, 2, 1, 2, …", "epoch": "эпохи чередуются: 2, 1, 2, …"}
#: ALSO's ε (float32 machine epsilon): the same ε sits in log(π + ε) of the mirror step
EPS = float(torch.finfo(torch.float32).eps)

#: the settings of the lecture's runs (ALSO over the two clients, π̂ uniform)
DEFAULTS = dict(delay=2, alternate="batch", epochs=10, batch_size=64, lr=5e-3, weight_decay=1e-4, pi_lr=0.05,
                pi_decay=0.3, hidden=32, noise_std=1.0, seed=0)

#: sizes of the seeds' comparison (:func:`comparison`): keyword arguments of ``clients_experiment``
COMPARISON_SIZES = {
    "lecture": dict(size="cpu", trials=4, epochs=10, seeds=(1, 2, 3)),   # ≈ 25 s on one CPU core
    "cpu": dict(size="cpu"),                                             # 10 configurations × 10 epochs, ≈ 70 s
    "full": dict(size="full"),                                           # Food-101 + Flowers-102, ResNet-18, GPU
}

_DATA: LRUCache = LRUCache(8)
_RUNS: LRUCache = LRUCache(64)


# ---------------------------------------------------------------------------------------------
# data and the schedule
# ---------------------------------------------------------------------------------------------
def client_data(delay: int = 2, alternate: str = "batch", *, noise_std: float = 1.0, seed: int = 0):
    """Two clients of :func:`optviz.data.two_clients` on the embedded digits, groups = clients.

    Client 1: digits 0–4 as they are; client 2: digits 5–9 turned by 90°, inverted, with Gaussian
    noise ``noise_std`` (1.0: the hard domain of the CPU experiment). Flattened inputs (8×8 → 64),
    cached by the settings (treat the result as read-only).
    """
    check_int("delay", delay, 0, 20)
    check_choice("alternate", alternate, tuple(ALTERNATE_TEXT))
    check_range("noise_std", noise_std, 0.0)
    check_int("seed", seed, 0)

    def build():
        from ..data import two_clients

        return two_clients(delay, groups="clients", alternate=alternate, noise_std=float(noise_std), seed=seed,
                           flatten=True)

    return _DATA.get_or_compute((delay, alternate, float(noise_std), seed), build)


def step_clients(data, epochs: int, batch_size: int, seed: int = 0) -> np.ndarray:
    """Client id (0 or 1) of every training step of ``epochs`` epochs, in the trainer's order.

    Trainer epoch e (1-based) takes the batches of schedule epoch e − 1
    (:meth:`TwoClientSchedule.plan`), so the client joins after ``delay`` whole epochs.
    """
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    schedule = getattr(data, "schedule", None)
    if schedule is None or not callable(getattr(schedule, "plan", None)):
        raise ValueError("У данных нет расписания двух клиентов (data.schedule.plan): "
                         "постройте их через optviz.data.two_clients или client_data().")
    out = [c for e in range(epochs) for c, _ in schedule.plan(data.train, e, batch_size, seed)]
    return np.asarray(out, dtype=np.int64)


def split_model(data, hidden: int = 32, seed: int = 0):
    """Split learning: shared encoder ``d → hidden → hidden`` (ReLU) and a linear head per client.

    The same architecture as the CPU size of :func:`optviz.experiments.clients_experiment`; the
    initialisation depends only on ``seed``.
    """
    from torch import nn

    from ..models import SplitModel

    check_int("hidden", hidden, 1)
    classes = data.info["client_classes"]
    d = int(data.train.x[0].numel())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        heads = [nn.Linear(hidden, len(c)) for c in classes]
        return SplitModel(encoder, heads, classes=classes)


# ---------------------------------------------------------------------------------------------
# one run
# ---------------------------------------------------------------------------------------------
@dataclass
class ClientsRun:
    r"""One training run on the two clients.

    ``result`` is the :class:`~optviz.train.TrainResult`; ``clients`` ``(S,)`` the client of every
    step; ``epoch_end`` ``(E+1,)`` the number of steps done after each epoch (0 first);
    ``config`` the settings; ``prior`` :math:`\hat\pi` (uniform over the clients).
    """

    result: object
    clients: np.ndarray
    epoch_end: np.ndarray
    config: dict
    prior: np.ndarray = field(default_factory=lambda: np.full(2, 0.5))

    @property
    def pi(self) -> np.ndarray:
        """``(S+1, 2)`` — π after every step (π₀ first); π̂ repeated when π is frozen."""
        p = self.result.pi_steps
        return np.asarray(p, dtype=float) if p is not None else np.tile(self.prior, (len(self.clients) + 1, 1))

    @property
    def step_loss(self) -> np.ndarray:
        """``(S,)`` — mean loss of the step's batch (one client per batch) where the gradient was taken."""
        return np.asarray(self.result.step_loss, dtype=float)

    @property
    def join_step(self) -> int:
        """Index of the first step on client 2 (−1 if it never trains)."""
        idx = np.flatnonzero(self.clients == 1)
        return int(idx[0]) if idx.size else -1

    def val_acc(self, split: str = "val") -> np.ndarray:
        """``(E+1, 2)`` — accuracy of each client after every epoch (row 0: before training)."""
        return np.asarray(self.result.metrics[split]["group_acc"], dtype=float)

    def client_losses(self, epoch: int = -1) -> np.ndarray:
        """Mean step loss of each client over the steps of ``epoch`` (1-based; −1: the last one)."""
        E = len(self.epoch_end) - 1
        e = E if epoch == -1 else check_int("epoch", epoch, 1, E)
        a, b = int(self.epoch_end[e - 1]), int(self.epoch_end[e])
        loss, cl = self.step_loss[a:b], self.clients[a:b]
        return np.array([loss[cl == c].mean() if (cl == c).any() else math.nan for c in (0, 1)])

    @property
    def label(self) -> str:
        c = self.config
        if c["pi_lr"] == 0:
            return "ALSO с замороженным π (η_π = 0, равные веса)"
        return f"ALSO (η_π = {fmt_num(c['pi_lr'])}, τ = {fmt_num(c['pi_decay'])})"


def train_clients(delay: int = DEFAULTS["delay"], alternate: str = DEFAULTS["alternate"], *,
                  epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"],
                  lr: float = DEFAULTS["lr"], weight_decay: float = DEFAULTS["weight_decay"],
                  pi_lr: float = DEFAULTS["pi_lr"], pi_decay: float = DEFAULTS["pi_decay"],
                  hidden: int = DEFAULTS["hidden"], noise_std: float = DEFAULTS["noise_std"],
                  seed: int = DEFAULTS["seed"], device=None) -> ClientsRun:
    r"""Train the split model on the two clients with ALSO, π over the clients (π̂ = π₀ uniform).

    ALSO's iteration (:class:`optviz.optim.ALSO`): an Adam step on θ with the gradient of
    :math:`\sum_i\pi_{t+1/2}[c_i]\,s\,\ell_i` and the KL mirror step on π with the group signal
    :math:`h_c = -s\sum_{i\in c}\ell_i` (:math:`s = 2/B`). ``pi_lr = 0`` freezes π at π̂ = (½, ½):
    the same iteration (Adam with the optimistic extrapolation, coupled L2 ``weight_decay``) on the
    plain mean loss, equal client weights — the baseline that isolates what the moving π adds.
    Evaluated on validation and test after every epoch; cached by the settings.
    """
    from ..optim import ALSO
    from ..train import train

    check_range("lr", lr, 0.0, low_open=True)
    check_range("weight_decay", weight_decay, 0.0)
    check_range("pi_lr", pi_lr, 0.0)
    check_range("pi_decay", pi_decay, 0.0)
    check_int("epochs", epochs, 1, 200)
    if pi_lr == 0:
        pi_decay = 0.0     # π frozen: τ has no effect, one cached run for every τ
    config = dict(delay=delay, alternate=alternate, epochs=epochs, batch_size=batch_size, lr=float(lr),
                  weight_decay=float(weight_decay), pi_lr=float(pi_lr), pi_decay=float(pi_decay), hidden=hidden,
                  noise_std=float(noise_std), seed=seed)
    dev = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")

    def compute():
        data = client_data(delay, alternate, noise_std=noise_std, seed=0)
        clients = step_clients(data, epochs, batch_size, seed)
        model = split_model(data, hidden, seed)
        factory = (lambda p: ALSO(p, n_groups=2, lr=lr, weight_decay=weight_decay, pi_lr=pi_lr,
                                  pi_decay=pi_decay, prior="uniform"))
        res = train(model, factory, data, epochs=epochs, batch_size=batch_size, seed=seed, device=dev,
                    progress=False, record_pi_steps=True)
        if len(res.step_loss) != len(clients):
            raise RuntimeError("Число шагов обучения не совпало с расписанием клиентов.")
        sizes = [data.n_train_batches(e, batch_size) for e in range(epochs)]
        return ClientsRun(res, clients, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), config)

    return _RUNS.get_or_compute(tuple(sorted(config.items())) + (dev,), compute)


# ---------------------------------------------------------------------------------------------
# π from theory
# ---------------------------------------------------------------------------------------------
def pi_from_losses(step_loss, clients, *, pi_lr: float, pi_decay: float, prior=None, pi0=None,
                   n_clients: int = 2, scale: float | None = None, eps: float = EPS) -> np.ndarray:
    r"""Replay ALSO's mirror step on π from the losses of a one-client-per-step schedule.

    Step t trains client :math:`c_t` on a batch with mean loss :math:`\bar\ell_t`; the signal is
    :math:`h_{t,c_t} = -s\,B\,\bar\ell_t = -n\,\bar\ell_t` (``scale`` :math:`= sB`, default the number
    of clients :math:`n`, ALSO's :math:`s = n/B`) and :math:`h_{t,c} = 0` for the absent client; then

    .. math::
        \pi_{t+1} = \mathrm{softmax}\Big(\frac{\log(\pi_t + \varepsilon) + \eta_\pi\tau\log\hat\pi
        - \eta_\pi h_t}{1 + \eta_\pi\tau}\Big).

    Returns ``(S+1, n_clients)``, π₀ first (default π₀ = π̂ = uniform). Plain numpy, float64.
    """
    loss = np.asarray(step_loss, dtype=float).reshape(-1)
    cl = np.asarray(clients).reshape(-1)
    if loss.shape != cl.shape:
        raise ValueError(f"Потерь шагов ({loss.size}) и номеров клиентов ({cl.size}) должно быть поровну.")
    check_int("n_clients", n_clients, 1)
    if cl.size and (cl.min() < 0 or cl.max() >= n_clients or not np.issubdtype(cl.dtype, np.integer)):
        raise ValueError(f"Номера клиентов должны быть целыми от 0 до {n_clients - 1}.")
    if not np.isfinite(loss).all():
        raise ValueError("Потери шагов должны быть конечными числами.")
    check_range("pi_lr", pi_lr, 0.0)
    check_range("pi_decay", pi_decay, 0.0)
    prior = np.full(n_clients, 1.0 / n_clients) if prior is None else _simplex("prior", prior, n_clients)
    pi = prior.copy() if pi0 is None else _simplex("pi0", pi0, n_clients)
    s = float(n_clients if scale is None else scale)
    out = np.empty((loss.size + 1, n_clients))
    out[0] = pi
    a = pi_lr * pi_decay
    for t in range(loss.size):
        h = np.zeros(n_clients)
        h[cl[t]] = -s * loss[t]
        z = (np.log(pi + eps) + a * np.log(prior) - pi_lr * h) / (1.0 + a)
        z = np.exp(z - z.max())
        pi = z / z.sum()
        out[t + 1] = pi
    return out


def _simplex(name: str, v, n: int) -> np.ndarray:
    arr = np.asarray(v, dtype=float).reshape(-1)
    if arr.size != n or (arr <= 0).any() or not np.isfinite(arr).all() or abs(arr.sum() - 1) > 1e-6:
        raise ValueError(f"Параметр {name} должен быть вектором из {n} положительных чисел с суммой 1, "
                         f"получено {np.asarray(v).tolist()!r}.")
    return arr / arr.sum()


def kl_worst_case(losses, tau: float, prior=None) -> np.ndarray:
    r"""The KL-regularised worst case over the simplex:

    .. math::
        \pi^\star = \arg\max_{\pi\in\Delta}\ \sum_c \pi_c\ell_c - \tau\,\mathrm{KL}(\pi\,\|\,\hat\pi),
        \qquad \pi^\star_c = \frac{\hat\pi_c\, e^{\ell_c/\tau}}{\sum_k \hat\pi_k\, e^{\ell_k/\tau}}.

    ``tau → ∞`` gives π̂ (ERM with the prior's weights), ``tau → 0`` all weight on the worst client.
    """
    ell = np.asarray(losses, dtype=float).reshape(-1)
    check_range("tau", tau, 0.0, low_open=True)
    if not np.isfinite(ell).all():
        raise ValueError("Потери клиентов должны быть конечными числами.")
    prior = np.full(ell.size, 1.0 / ell.size) if prior is None else _simplex("prior", prior, ell.size)
    z = np.log(prior) + ell / tau
    z = np.exp(z - z.max())
    return z / z.sum()


def alternating_equilibrium(l1: float, l2: float, *, pi_lr: float, pi_decay: float, prior=None) -> dict:
    r"""Fixed point of ALSO's mirror step when steps alternate 1, 2, 1, 2, … with constant losses.

    With :math:`r = 1/(1+\eta\tau)` and :math:`d = \log(\pi_2/\pi_1)` (ε neglected) a step on client 1
    gives :math:`d \mapsto r d + (1-r)\Delta - 2r\eta\ell_1`, a step on client 2
    :math:`d \mapsto r d + (1-r)\Delta + 2r\eta\ell_2` (:math:`\Delta = \log(\hat\pi_2/\hat\pi_1)`, the
    signal :math:`h = -2\bar\ell`). The two-step cycle has the fixed points

    .. math::
        d^\star_{\text{после 2}} = \Delta + \frac{2r\eta(\ell_2 - r\ell_1)}{1 - r^2},\qquad
        d^\star_{\text{после 1}} = \Delta + \frac{2r\eta(r\ell_2 - \ell_1)}{1 - r^2},

    whose mean tends to :math:`\Delta + (\ell_2-\ell_1)/\tau` as :math:`\eta\tau\to 0` — the
    KL-regularised worst case :func:`kl_worst_case`. Returns ``pi2_after_2``, ``pi2_after_1``
    (π of client 2 on the cycle) and ``pi2_worst_case``.
    """
    check_range("pi_lr", pi_lr, 0.0, low_open=True)
    check_range("pi_decay", pi_decay, 0.0, low_open=True)
    prior = np.full(2, 0.5) if prior is None else _simplex("prior", prior, 2)
    delta = math.log(prior[1] / prior[0])
    r = 1.0 / (1.0 + pi_lr * pi_decay)
    d2 = delta + 2 * r * pi_lr * (l2 - r * l1) / (1 - r * r)
    d1 = delta + 2 * r * pi_lr * (r * l2 - l1) / (1 - r * r)
    sig = lambda d: 1.0 / (1.0 + math.exp(-d))
    return dict(pi2_after_2=sig(d2), pi2_after_1=sig(d1),
                pi2_worst_case=float(kl_worst_case([l1, l2], pi_decay, prior)[1]))


def pi_check(run: ClientsRun) -> dict:
    r"""Theory against the run: π replayed by :func:`pi_from_losses` from the recorded losses and the
    recorded π; π of client 2 at the join, at its lowest before that and at the end; the KL worst
    case of the last epoch's mean client losses.

    Keys: ``max_err`` (max |π_replayed − π_recorded|), ``pi2_start``, ``pi2_join`` (just before the
    first step on client 2), ``pi2_end``, ``pi2_max_after`` (max after the join), ``losses_last``
    (mean client losses of the last epoch), ``pi2_worst_case``, ``pi2_last_epoch`` (mean π₂ over
    the last epoch).
    """
    c = run.config
    replay = pi_from_losses(run.step_loss, run.clients, pi_lr=c["pi_lr"], pi_decay=c["pi_decay"], prior=run.prior)
    pi = run.pi
    j = run.join_step
    last = run.client_losses(-1)
    a = int(run.epoch_end[-2])
    out = dict(max_err=float(np.abs(replay - pi).max()), pi2_start=float(pi[0, 1]),
               pi2_join=float(pi[j, 1]) if j >= 0 else math.nan, pi2_end=float(pi[-1, 1]),
               pi2_max_after=float(pi[j:, 1].max()) if j >= 0 else math.nan, losses_last=last,
               pi2_last_epoch=float(pi[a + 1:, 1].mean()))
    out["pi2_worst_case"] = (float(kl_worst_case(last, c["pi_decay"], run.prior)[1])
                             if c["pi_decay"] > 0 and np.isfinite(last).all() else math.nan)
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def _schedule_caption(cfg: dict) -> str:
    d = cfg["delay"]
    alone = ("без задержки" if d == 0 else
             f"{d} {'эпоха' if d == 1 else 'эпохи' if 2 <= d <= 4 else 'эпох'} только клиент 1")
    return f"{alone}, затем {ALTERNATE_TEXT[cfg['alternate']]}"


def clients_figure(run: ClientsRun, *, baseline: ClientsRun | None = None, title: str | None = None) -> go.Figure:
    """Three rows over the training steps: which client each step used; π of both clients (the
    join marked, π̂ dotted); validation accuracy of each client after every epoch (``baseline``
    dashed, e.g. the frozen-π run). The title is computed from the run."""
    from plotly.subplots import make_subplots

    S = len(run.clients)
    steps = np.arange(S + 1)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.14, 0.43, 0.43], vertical_spacing=0.06,
                        subplot_titles=("какой клиент обучается на шаге", "веса π клиентов (ALSO)",
                                        "точность каждого клиента на валидации"))
    for c in (0, 1):
        idx = np.flatnonzero(run.clients == c)
        fig.add_trace(go.Scatter(x=idx + 1, y=[CLIENT_NAMES[c]] * idx.size, mode="markers", name=CLIENT_NAMES[c],
                                 legendgroup=f"c{c}", showlegend=False,
                                 marker=dict(symbol="line-ns-open", size=10, color=CLIENT_COLORS[c]),
                                 hovertemplate="шаг %{x}: " + CLIENT_NAMES[c] + "<extra></extra>"), row=1, col=1)
    pi = run.pi
    for c in (0, 1):
        fig.add_trace(go.Scatter(x=steps, y=pi[:, c], mode="lines", name=f"π: {CLIENT_NAMES[c]}",
                                 legendgroup=f"c{c}", line=dict(color=CLIENT_COLORS[c], width=2.5)), row=2, col=1)
    fig.add_trace(go.Scatter(x=[0, S], y=[run.prior[1]] * 2, mode="lines", name="π̂ (априорные веса)",
                             line=dict(color="gray", dash="dot", width=1)), row=2, col=1)
    ends = run.epoch_end
    acc = run.val_acc()
    for c in (0, 1):
        fig.add_trace(go.Scatter(x=ends, y=acc[:, c], mode="lines+markers", name=f"точность: {CLIENT_NAMES[c]}",
                                 legendgroup=f"c{c}", line=dict(color=CLIENT_COLORS[c], width=2.5),
                                 hovertemplate="после %{text}: %{y:.3f}<extra>" + CLIENT_NAMES[c] + "</extra>",
                                 text=[f"эпохи {e}" for e in range(len(ends))]), row=3, col=1)
    if baseline is not None:
        bacc = baseline.val_acc()
        for c in (0, 1):
            fig.add_trace(go.Scatter(x=baseline.epoch_end, y=bacc[:, c], mode="lines",
                                     name=f"{CLIENT_NAMES[c]}: π заморожен", legendgroup=f"c{c}",
                                     line=dict(color=CLIENT_COLORS[c], dash="dash", width=1.5)), row=3, col=1)
    j = run.join_step
    for row in (2, 3):   # a trace, not a layout shape: the static slider swaps traces, not shapes
        fig.add_trace(go.Scatter(x=[j + 0.5, j + 0.5] if j >= 0 else [], y=[0, 1] if j >= 0 else [], mode="lines",
                                 name="подключение клиента 2", legendgroup="join", showlegend=row == 2,
                                 line=dict(color="black", dash="dash", width=1), hoverinfo="skip"), row=row, col=1)
    fig.update_layout(**LAYOUT_DEFAULTS)
    chk = pi_check(run)
    if title is None:
        head = f"{run.label}: {_schedule_caption(run.config)}"
        if j >= 0:
            tail = (f"клиент 2 подключается на шаге {j + 1}; π₂: {chk['pi2_join']:.2f} перед подключением → "
                    f"{chk['pi2_end']:.2f} в конце; точность клиента 2: {acc[-1, 1]:.2f}")
        else:
            tail = "клиент 2 ни разу не обучался"
        title = f"{head}<br><sup>{tail}</sup>"
    fig.update_layout(title=dict(text=title), height=660, margin=dict(t=110, b=120),
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    fig.update_yaxes(range=[-0.02, 1.02], row=2, col=1, title_text="π")
    fig.update_yaxes(range=[-0.02, 1.02], row=3, col=1, title_text="точность")
    fig.update_xaxes(title_text="шаг обучения", row=3, col=1)
    return fig


def pi_animation(run: ClientsRun, *, max_frames: int = 40, duration: int = 120) -> go.Figure:
    """Plotly animation of π over the clients: bars of π₁, π₂ at step t (left) and the path of π₂
    up to t (right); the frame title names the client trained at that step. Plays in static HTML."""
    from plotly.subplots import make_subplots

    check_int("max_frames", max_frames, 2)
    pi, S = run.pi, len(run.clients)
    ts = np.unique(np.linspace(0, S, min(max_frames, S + 1)).round().astype(int))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.3, 0.7], horizontal_spacing=0.1,
                        subplot_titles=("π на шаге t", "π клиента 2 по шагам 0…t"))

    def traces(t):
        bars = go.Bar(x=list(CLIENT_NAMES), y=pi[t], marker_color=list(CLIENT_COLORS), showlegend=False,
                      text=[f"{v:.2f}" for v in pi[t]], textposition="outside")
        path = go.Scatter(x=np.arange(t + 1), y=pi[:t + 1, 1], mode="lines", line=dict(color=CLIENT_COLORS[1]),
                          showlegend=False)
        return [bars, path]

    def caption(t):
        if t == 0:
            return "шаг 0: π₀ = π̂"
        c = CLIENT_NAMES[run.clients[t - 1]]
        return f"шаг {t}: обучался {c}, π = ({pi[t, 0]:.2f}, {pi[t, 1]:.2f})"

    for tr, col in zip(traces(0), (1, 2)):
        fig.add_trace(tr, row=1, col=col)
    frames = [go.Frame(data=traces(int(t)), traces=[0, 1], name=f"s{t}",
                       layout=dict(title=dict(text=f"{run.label}<br><sup>{caption(int(t))}</sup>"))) for t in ts]
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=f"{run.label}<br><sup>{caption(0)}</sup>"), height=440,
                      margin=dict(t=90, b=120))
    fig.update_yaxes(range=[0, 1.1], row=1, col=1, title_text="π")
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_xaxes(range=[0, S], row=1, col=2)
    if run.join_step >= 0:
        fig.add_vline(x=run.join_step + 0.5, line=dict(color="black", dash="dash", width=1), row=1, col=2)
    return animate(fig, frames, duration=duration, label="шаг", slider_labels=[str(int(t)) for t in ts])


# ---------------------------------------------------------------------------------------------
# the seeds' comparison
# ---------------------------------------------------------------------------------------------
def comparison(size: str = "lecture", *, device=None, **overrides):
    """The seeds' comparison (:func:`optviz.experiments.clients_experiment`) at a named size.

    ``"lecture"``: the CPU data and model with 4 configurations × 10 epochs + 3 seeds per method
    (fits the lecture's time budget); ``"cpu"``: the library's CPU preset (10 configurations);
    ``"full"``: Food-101 + Flowers-102 and ResNet-18 (torchvision, network and a GPU). ``overrides``
    go to ``clients_experiment`` on top of the size (e.g. ``epochs=20``).
    """
    from ..experiments import clients_experiment

    check_choice("size", size, tuple(COMPARISON_SIZES))
    kw = dict(COMPARISON_SIZES[size])
    kw.update(overrides)
    return clients_experiment(kw.pop("size"), device=device, **kw)


def budget_rows(result) -> list[dict]:
    """Per method: configurations, seeds, runs, epochs per run and total epochs actually trained
    (read from the run histories, not from the settings)."""
    rows = []
    for name, r in result.comparison.methods.items():
        runs = r.trials + r.seed_runs
        rows.append({"Метод": name, "Конфигураций": len(r.trials), "Зёрен": len(r.seed_runs), "Прогонов": len(runs),
                     "Эпох в прогоне": sorted({x.history.epochs for x in runs}),
                     "Всего эпох": int(sum(x.history.epochs for x in runs))})
    return rows


def equal_budget(result) -> bool:
    """True if every method trained the same number of runs, each for the same number of epochs."""
    rows = budget_rows(result)
    keys = {(r["Прогонов"], tuple(r["Эпох в прогоне"]), r["Всего эпох"]) for r in rows}
    return len(keys) == 1 and len(rows[0]["Эпох в прогоне"]) == 1


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks (1 = largest), ties share the mean rank."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(-v, kind="stable")
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def agreement(result) -> dict:
    r"""How our table agrees with the seeds' one, as numbers the lecture's discussion quotes.

    Keys: ``spearman`` (rank correlation of the seeds' numbers and our test means over the seven
    methods), ``also_place`` / ``also_place_seeds``, ``spread`` / ``spread_seeds`` (best − worst mean),
    ``median_std`` (median std over seeds of our means), ``also_minus_adamw`` / its seeds' value,
    ``best`` (our first method), ``within_noise`` (methods whose mean is within one std of the best,
    the std being the larger of the two).
    """
    from ..experiments.clients import SEEDS_TABLE

    cmp = result.comparison
    names = [n for n in SEEDS_TABLE if n in cmp.methods]
    if len(names) < 2:
        raise ValueError("Для сравнения с таблицей статьи нужны хотя бы два метода из неё.")
    ours = np.array([cmp.methods[n].summary["mean_acc"][0] for n in names])
    stds = np.array([cmp.methods[n].summary["mean_acc"][1] for n in names])
    seeds = np.array([SEEDS_TABLE[n] for n in names])
    ro, rs = _ranks(ours), _ranks(seeds)
    rho = float(np.corrcoef(ro, rs)[0, 1]) if ro.std() > 0 and rs.std() > 0 else math.nan
    best = names[int(np.argmax(ours))]
    b = names.index(best)
    within = [n for i, n in enumerate(names) if ours[b] - ours[i] <= max(stds[b], stds[i])]
    out = dict(spearman=rho, spread=float(ours.max() - ours.min()), spread_seeds=float(seeds.max() - seeds.min()),
               median_std=float(np.median(stds)), best=best, within_noise=within)
    if "ALSO" in names:
        i = names.index("ALSO")
        out["also_place"] = int(round(ro[i]))
        out["also_place_seeds"] = int(round(rs[i]))
        if "AdamW" in names:
            k = names.index("AdamW")
            out["also_minus_adamw"] = float(ours[i] - ours[k])
            out["also_minus_adamw_seeds"] = float(seeds[i] - seeds[k])
    return out


def agreement_text(result) -> str:
    """:func:`agreement` as Russian sentences (every number computed from ``result``)."""
    a = agreement(result)
    lines = []
    rho = a["spearman"]
    verdict = ("порядок почти тот же" if rho >= 0.7 else "порядок совпадает лишь отчасти" if rho >= 0.3
               else "порядок статьи не воспроизвёлся")
    lines.append(f"Ранговая корреляция Спирмена между таблицей статьи и нашей: {rho:+.2f} — {verdict}.")
    if "also_place" in a:
        lines.append(f"ALSO: место {a['also_place']} из 7 у нас, место {a['also_place_seeds']} в статье.")
    if "also_minus_adamw" in a:
        lines.append(f"ALSO − AdamW: {a['also_minus_adamw']:+.4f} у нас, {a['also_minus_adamw_seeds']:+.4f} в статье.")
    lines.append(f"Разброс средних (лучший − худший): {a['spread']:.4f} у нас против {a['spread_seeds']:.4f} в статье; "
                 f"типичный std по зёрнам у нас {a['median_std']:.4f}.")
    lines.append(f"В пределах одного std от лучшего ({a['best']}): {', '.join(a['within_noise'])}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# explorers
# ---------------------------------------------------------------------------------------------
_WIDE = {"description_width": "initial"}


def join_explorer(*, delay: int = DEFAULTS["delay"], alternate: str = DEFAULTS["alternate"],
                  epochs: int = DEFAULTS["epochs"], pi_lr: float = DEFAULTS["pi_lr"],
                  pi_decay: float = DEFAULTS["pi_decay"], seed: int = DEFAULTS["seed"]) -> Explorer:
    """The schedule of the two clients and π over them: sliders for the delay (epochs of client 1
    alone) and the alternation (batches or whole epochs); the figure is :func:`clients_figure` of
    ALSO with the frozen-π run dashed for comparison."""
    check_int("epochs", epochs, 1, 60)
    c = OrderedDict()
    c["delay"] = W.IntSlider(value=int(delay), min=0, max=max(1, epochs - 1), description="задержка клиента 2, эпох",
                             style=_WIDE, continuous_update=False)
    c["alternate"] = W.Dropdown(options=[("по батчам", "batch"), ("по эпохам", "epoch")], value=alternate,
                                description="чередование", style=_WIDE)

    def build(params):
        d = int(params["delay"])
        check_int("delay (задержка)", d, 0, epochs - 1)
        kw = dict(epochs=epochs, seed=seed)
        run = train_clients(d, params["alternate"], pi_lr=pi_lr, pi_decay=pi_decay, **kw)
        base = train_clients(d, params["alternate"], pi_lr=0.0, pi_decay=pi_decay, **kw)
        return clients_figure(run, baseline=base)

    return Explorer(c, build, static_values={"delay": [0, 1, 2, 3, 4]})


def _strength_figure(run: ClientsRun, base: ClientsRun) -> go.Figure:
    from plotly.subplots import make_subplots

    chk = pi_check(run)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("точность клиента 2 на валидации", "π клиента 2 по шагам"))
    for r, dash, name in ((run, "solid", run.label), (base, "dash", base.label)):
        acc = r.val_acc()
        fig.add_trace(go.Scatter(x=np.arange(len(acc)), y=acc[:, 1], mode="lines+markers", name=name,
                                 line=dict(color=CLIENT_COLORS[1] if dash == "solid" else "gray", dash=dash)),
                      row=1, col=1)
    pi = run.pi
    fig.add_trace(go.Scatter(x=np.arange(len(pi)), y=pi[:, 1], mode="lines", name="π₂ (ALSO)",
                             line=dict(color=CLIENT_COLORS[1]), showlegend=False), row=1, col=2)
    S = len(run.clients)
    if math.isfinite(chk["pi2_worst_case"]):
        fig.add_trace(go.Scatter(x=[run.epoch_end[-2], S], y=[chk["pi2_worst_case"]] * 2, mode="lines",
                                 name="π̂₂e^{ℓ₂/τ}/Σ по потерям последней эпохи",
                                 line=dict(color="black", dash="dot", width=2)), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0, S], y=[run.prior[1]] * 2, mode="lines", name="π̂₂",
                             line=dict(color="gray", dash="dot", width=1)), row=1, col=2)
    a, b = run.val_acc()[:, 1], base.val_acc()[:, 1]
    ell = chk["losses_last"]
    title = (f"{run.label}: точность клиента 2 в конце {a[-1]:.3f} против {b[-1]:.3f} при замороженном π "
             f"(разница {a[-1] - b[-1]:+.3f}; лучшая по эпохам {np.nanmax(a[1:]):.3f} против {np.nanmax(b[1:]):.3f})"
             f"<br><sup>последняя эпоха: потери клиентов ℓ = ({ell[0]:.2f}, {ell[1]:.2f}); π₂ в среднем "
             f"{chk['pi2_last_epoch']:.2f}, KL-наихудший случай π̂₂e^(ℓ₂/τ)/Σ = {fmt_num(chk['pi2_worst_case'])}</sup>")
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=480, margin=dict(t=110, b=120),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    fig.update_yaxes(range=[-0.02, 1.02], row=1, col=1, title_text="точность")
    fig.update_yaxes(range=[-0.02, 1.02], row=1, col=2, title_text="π₂")
    fig.update_xaxes(title_text="эпоха", row=1, col=1)
    fig.update_xaxes(title_text="шаг обучения", row=1, col=2)
    return fig


def pi_strength_explorer(*, pi_lr: float = DEFAULTS["pi_lr"], pi_decay: float = DEFAULTS["pi_decay"],
                         delay: int = DEFAULTS["delay"], epochs: int = DEFAULTS["epochs"],
                         seed: int = DEFAULTS["seed"]) -> Explorer:
    r"""How hard ALSO leans towards the late client: sliders for η_π (step of the mirror step) and
    τ (KL pull towards π̂). Left: client 2's validation accuracy against the same Adam with π frozen;
    right: π₂ over the steps and the KL worst case :math:`\hat\pi_2e^{\ell_2/\tau}/\sum_k\hat\pi_ke^{\ell_k/\tau}`
    of the last epoch's client losses."""
    check_int("epochs", epochs, 1, 60)
    c = OrderedDict()
    c["pi_lr"] = log_slider(float(pi_lr), 1e-3, 1.0, "шаг по π, η_π", readout_format=".3g", steps=30)
    c["pi_decay"] = log_slider(float(pi_decay), 1e-2, 10.0, "притяжение к π̂, τ", readout_format=".3g", steps=30)

    def build(params):
        lr_pi, tau = float(params["pi_lr"]), float(params["pi_decay"])
        check_range("pi_lr (η_π)", lr_pi, 0.0, low_open=True)
        check_range("pi_decay (τ)", tau, 0.0, low_open=True)
        run = train_clients(delay, "batch", epochs=epochs, pi_lr=lr_pi, pi_decay=tau, seed=seed)
        base = train_clients(delay, "batch", epochs=epochs, pi_lr=0.0, pi_decay=tau, seed=seed)
        return _strength_figure(run, base)

    return Explorer(c, build, static_values={"pi_lr": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]})
