r"""Helpers of lecture 11 «Как сравнивать оптимизаторы на практике».

* :data:`METHODS` — the course's optimizers as benchmark entries (:class:`BenchMethod`): how to build
  one for a batch of independent runs, the search space that is tuned, the library defaults.
* :func:`make_tasks` — the task set (:class:`BenchTask`): 2-D / 1-D toys, ill-conditioned logistic
  regression and a small MLP on the digits, every one evaluated for ``N`` runs at once.
* :func:`run_rows` — ``N`` runs of one method on one task (one configuration and one start per row)
  as one batched computation; a diverging row is frozen and marked, never a crash.
* :func:`run_benchmark` → :class:`Benchmark` — AlgoPerf's external-tuning protocol on our table:
  every method gets ``studies`` studies of ``trials`` quasi-random configurations
  (:func:`optviz.experiments.harness.sample_configs`, one Sobol scramble per study), the study
  time is its fastest trial, the task time is the median over studies; plus the *untuned* run
  (library defaults, the budget × 3 — the self-tuning rules' budget). Times to target are read off
  the stored curves, so a different target costs nothing.
* :func:`fairness_scores` — the scores when one method is tuned and the others run with defaults.
* :func:`warmup_exponential` — linear warm-up then exponential decay with ``torch.optim.lr_scheduler``;
  :func:`scale_invariant_check` — for a scale-invariant loss, GD with weight decay equals GD with an
  exponentially *growing* step (Li & Arora 2019), measured.
* :func:`profile_explorer`, :func:`schedule_explorer` — the lecture's live explorers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..experiments.harness import LogUniform, Uniform, sample_configs
from ..experiments.profiles import performance_profile, profile_breakpoints, profile_score
from ..optim import SGD, Adagrad, Adam, AdamW, L0L1GD, RMSProp, Shampoo
from ..problems import Beale, ExpCosh, LogisticRegression, Quadratic, Rosenbrock
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num
from ..widgets._base import Explorer, log_slider

__all__ = [
    "BenchMethod", "BenchTask", "METHODS", "make_methods", "make_tasks", "run_rows", "Benchmark",
    "run_benchmark", "fairness_scores", "ranking", "warmup_exponential", "schedule_values", "schedule_runs",
    "scale_invariant_check", "scale_invariant_figure", "steps_to_target", "profile_panels", "schedule_figure",
    "profile_explorer", "schedule_explorer", "TARGETS",
]

#: the target levels of the lecture: reduce f − f* (the loss for the MLP) by this factor
TARGETS = (1e-2, 1e-3, 1e-4, 1e-6)


# ---------------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------------
def _shaped(value, p: torch.Tensor):
    """A per-run array ``(N,)`` as a tensor broadcastable to ``p`` of shape ``(N, ...)``; numbers stay."""
    if np.ndim(value) == 0:
        return float(value)
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=p.dtype, device=p.device).reshape(
        (-1,) + (1,) * (p.dim() - 1))


def _groups(params, hyper: dict, names: Sequence[str]) -> list[dict]:
    """One param group per tensor, with the per-run hyperparameters in ``names`` shaped for it."""
    return [{"params": [p], **{k: _shaped(hyper[k], p) for k in names if k in hyper}} for p in params]


@dataclass
class BenchMethod:
    r"""An optimizer in the benchmark.

    ``build(params, hyper)`` makes one optimizer for a list of tensors whose first dimension indexes
    ``N`` independent runs; ``hyper`` maps names to arrays ``(N,)`` (one value per run).
    ``space`` is what external tuning searches (:mod:`optviz.experiments.harness` dimensions), ``defaults``
    the untuned setting (the library's defaults), ``note`` a Russian one-liner.
    """

    name: str
    build: Callable[[list, dict], torch.optim.Optimizer]
    space: dict
    defaults: dict
    note: str = ""


def _sgd(params, h, nesterov=False):
    names = ("lr", "momentum") if "momentum" in h else ("lr",)
    return SGD(_groups(params, h, names), lr=1e-3, momentum=0.9 if nesterov else 0.0, nesterov=nesterov)


def _betas_groups(params, h):
    groups = _groups(params, h, ("lr", "weight_decay"))
    for g in groups:
        p = g["params"][0]
        b1 = _shaped(h.get("beta1", 0.9), p)
        g["betas"] = (b1, 0.999)
    return groups


def _shampoo(params, h):
    groups = _groups(params, h, ("lr",))
    return Shampoo(groups, betas=(0.9, 1.0), eps=1e-12, grafting="adagrad", precondition_frequency=10, batch_dims=1)


def _l0l1(params, h):
    kw = dict(dtype=params[0].dtype, device=params[0].device)
    L0 = torch.as_tensor(np.asarray(h["L0"], dtype=np.float64).reshape(-1), **kw)
    L1 = torch.as_tensor(np.asarray(h["L1"], dtype=np.float64).reshape(-1), **kw)
    return L0L1GD(params, L0=L0, L1=L1, batched=True)


def make_methods() -> dict:
    """The methods of the lecture's table (name → :class:`BenchMethod`), course names and colours."""
    lr = LogUniform(1e-4, 3.0)
    return OrderedDict(
        SGD=BenchMethod("SGD", _sgd, {"lr": lr}, {"lr": 1e-3}, "градиентный шаг, настраивается η"),
        Momentum=BenchMethod("Momentum", _sgd, {"lr": lr, "momentum": Uniform(0.5, 0.99)},
                             {"lr": 1e-3, "momentum": 0.9}, "тяжёлый шар: η и β"),
        Adagrad=BenchMethod("Adagrad", lambda p, h: Adagrad(_groups(p, h, ("lr",)), lr=1e-2),
                            {"lr": LogUniform(1e-3, 30.0)}, {"lr": 1e-2}, "η"),
        RMSProp=BenchMethod("RMSProp", lambda p, h: RMSProp(_groups(p, h, ("lr", "alpha")), lr=1e-2),
                            {"lr": lr, "alpha": Uniform(0.9, 0.999)}, {"lr": 1e-2, "alpha": 0.99}, "η и α"),
        Adam=BenchMethod("Adam", lambda p, h: Adam(_betas_groups(p, h), lr=1e-3),
                         {"lr": lr, "beta1": Uniform(0.5, 0.95)}, {"lr": 1e-3, "beta1": 0.9}, "η и β₁ (β₂ = 0.999)"),
        AdamW=BenchMethod("AdamW", lambda p, h: AdamW(_betas_groups(p, h), lr=1e-3),
                          {"lr": lr, "weight_decay": LogUniform(1e-5, 1e-1)}, {"lr": 1e-3, "weight_decay": 1e-2},
                          "η и λ (β = (0.9, 0.999))"),
        Shampoo=BenchMethod("Shampoo", _shampoo, {"lr": lr}, {"lr": 1e-2},
                            "η; β = (0.9, 1), графтинг Adagrad, корни раз в 10 шагов"),
        L0L1GD=BenchMethod("L0L1GD", _l0l1, {"L0": LogUniform(0.1, 1e4), "L1": LogUniform(1e-2, 1e2)},
                           {"L0": 1.0, "L1": 1.0}, "L₀ и L₁: шаг 1/(L₀ + L₁‖∇f‖)"),
    )


METHODS = make_methods()


# ---------------------------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------------------------
@dataclass
class BenchTask:
    r"""A task: ``loss(params) -> (N,)`` for a list of tensors with a leading run dimension.

    ``init(seed) -> list of tensors without the run dimension`` gives the start of one run;
    ``f_star`` is the minimum value (0 for the MLP: the target is measured on the loss itself);
    ``steps`` is the budget of the tuned runs; ``title`` Russian.
    """

    name: str
    title: str
    loss: Callable[[list], torch.Tensor]
    init: Callable[[int], list]
    f_star: float
    steps: int
    box: float = 1e6


def _toy_task(name, title, problem, start, spread, steps) -> BenchTask:
    start = np.asarray(start, dtype=np.float64)

    def init(seed):
        rng = np.random.default_rng(10_000 + seed)
        return [torch.as_tensor(start + spread * rng.standard_normal(start.shape), dtype=torch.float64)]

    return BenchTask(name, title, lambda ps: problem.loss(ps[0]), init, float(problem.f_star), steps)


def _logistic_task(steps) -> BenchTask:
    p = LogisticRegression.hard()
    start = np.asarray(p.starts[0], dtype=np.float64)

    def init(seed):
        rng = np.random.default_rng(20_000 + seed)
        return [torch.as_tensor(start + 0.3 * rng.standard_normal(start.shape), dtype=torch.float64)]

    return BenchTask("logistic", f"логистическая регрессия (κ ≈ {p.kappa:.0f})", lambda ps: p.loss(ps[0]), init,
                     float(p.f_star), steps)


def _digits_task(steps, hidden, n_train, device="cpu") -> BenchTask:
    from ..data import load_dataset

    data = load_dataset("digits", flatten=True, seed=0)
    pick = torch.randperm(len(data.train.y), generator=torch.Generator().manual_seed(0))[:n_train]
    X = data.train.x[pick].to(device=device, dtype=torch.float32)
    y = data.train.y[pick].to(device)
    d, c = X.shape[1], 10

    def init(seed):
        g = torch.Generator().manual_seed(30_000 + seed)
        W1 = torch.randn(d, hidden, generator=g) / math.sqrt(d)
        W2 = torch.randn(hidden, c, generator=g) / math.sqrt(hidden)
        return [t.to(device) for t in (W1, torch.zeros(hidden), W2, torch.zeros(c))]

    def loss(ps):
        W1, b1, W2, b2 = ps
        h = torch.tanh(torch.matmul(X, W1) + b1[:, None, :])
        logits = torch.matmul(h, W2) + b2[:, None, :]
        N, n = logits.shape[:2]
        ce = F.cross_entropy(logits.reshape(N * n, c), y.repeat(N), reduction="none")
        return ce.reshape(N, n).mean(1)

    return BenchTask("mlp", f"MLP 64→{hidden}→10 на digits ({len(y)} картинок)", loss, init, 0.0, steps)


def make_tasks(size: str = "cpu", device: str = "cpu") -> list[BenchTask]:
    """The lecture's task set: ``"cpu"`` (the lecture), ``"tiny"`` (tests: short budgets, a tiny MLP)
    or ``"full"`` (longer budgets and a wider MLP on all training digits). ``device`` is where the
    MLP trains (the toys and the logistic regression always run on the CPU)."""
    check_choice("size", size, ("tiny", "cpu", "full"))
    k = {"tiny": 0.25, "cpu": 1.0, "full": 3.0}[size]
    s = lambda n: max(10, int(n * k))  # noqa: E731
    hidden, n_train = {"tiny": (8, 100), "cpu": (16, 256), "full": (64, 10_000)}[size]
    return [
        _toy_task("quadratic", "квадратичная, κ = 100, поворот 30°", Quadratic(kappa=100, angle_deg=30),
                  [-2.0, 1.5], 0.3, s(200)),
        _toy_task("rosenbrock", "функция Розенброка", Rosenbrock(), [-1.5, 2.0], 0.1, s(500)),
        _toy_task("beale", "функция Била", Beale(), [1.0, 1.5], 0.1, s(300)),
        _toy_task("exp_cosh", "eˣ + e⁻ˣ из x₀ ≈ 5", ExpCosh(), [5.0], 0.3, s(300)),
        _logistic_task(s(300)),
        _digits_task(s(150), hidden, n_train, device),
    ]


# ---------------------------------------------------------------------------------------------
# many runs at once
# ---------------------------------------------------------------------------------------------
def run_rows(task: BenchTask, method: BenchMethod, configs: Sequence[dict], seeds: Sequence[int],
             steps: int | None = None) -> np.ndarray:
    r"""``N = len(configs)`` runs of ``method`` on ``task``, row ``j`` with ``configs[j]`` from ``init(seeds[j])``.

    All rows are one set of ``(N, ...)`` tensors and one optimizer; the loss of the sum of rows gives
    each row exactly its own gradient. Returns the losses ``(K+1, N)`` at :math:`x_0, \dots, x_K`.
    A row whose loss or gradient stops being finite, or whose parameters leave the box
    :math:`\|x\|_\infty \le` ``task.box``, is frozen at its last good point and gets ``inf`` from then
    on (it never reaches a target later).
    """
    N = len(configs)
    if N == 0 or len(seeds) != N:
        raise ValueError(f"Нужно по зерну на каждую конфигурацию: конфигураций {N}, зёрен {len(seeds)}.")
    K = check_int("steps", task.steps if steps is None else steps, 1)
    starts = [task.init(int(s)) for s in seeds]
    params = [torch.stack([st[i] for st in starts]).requires_grad_(True) for i in range(len(starts[0]))]
    names = sorted({k for c in configs for k in c})
    hyper = {k: np.array([float(c[k]) for c in configs]) for k in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = method.build(params, hyper)
        return _drive_rows(task, params, opt, K)
    finally:
        torch.set_num_threads(threads)


def _drive_rows(task, params, opt, K) -> np.ndarray:
    N = params[0].shape[0]
    out = np.full((K + 1, N), np.inf)
    frozen = torch.zeros(N, dtype=torch.bool, device=params[0].device)
    for k in range(K + 1):
        for p in params:
            p.grad = None
        with torch.enable_grad():
            vals = task.loss(params)
            vals.sum().backward()
        with torch.no_grad():
            bad = ~torch.isfinite(vals)
            for p in params:
                flat = p.reshape(N, -1)
                bad |= ~torch.isfinite(p.grad.reshape(N, -1)).all(1) | (flat.abs() > task.box).any(1)
            frozen |= bad
            v = vals.detach().cpu().numpy().astype(np.float64)
            v[frozen.cpu().numpy()] = np.inf
            out[k] = v
            if k == K or bool(frozen.all()):
                break
            keep = [p.detach().clone() for p in params] if frozen.any() else None
            if keep is not None:
                for p in params:
                    p.grad[frozen] = 0.0
            opt.step()
            if keep is not None:
                for p, old in zip(params, keep):
                    p[frozen] = old[frozen]
    return out


def steps_to_target(curves: np.ndarray, f_star: float, target: float) -> np.ndarray:
    r"""First step ``k ≥ 1`` with :math:`f(x_k) - f^* \le` ``target`` :math:`\cdot (f(x_0) - f^*)`, per run
    (``inf`` if never); ``curves`` is ``(K+1, ...)``."""
    gap = curves - f_star
    with np.errstate(invalid="ignore"):
        hit = gap[1:] <= target * gap[:1]
    first = np.argmax(hit, axis=0) + 1.0
    return np.where(hit.any(axis=0), first, np.inf)


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------
@dataclass
class Benchmark:
    """Curves of :func:`run_benchmark` and everything read off them.

    ``tuned[task][method]`` — losses ``(K+1, studies, trials)``; ``configs[task][method]`` — the
    ``studies × trials`` configurations (lists of dicts, identical across tasks); ``untuned[task][method]``
    — losses ``(3K+1, studies)`` of the default setting.
    """

    methods: list
    tasks: list
    tuned: dict
    untuned: dict
    configs: dict
    studies: int
    trials: int
    seconds: dict = field(default_factory=dict)

    @property
    def method_names(self) -> list[str]:
        return [m.name for m in self.methods]

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def trial_times(self, target: float = 1e-3) -> np.ndarray:
        """Steps to target ``(S, P, studies, trials)`` of every tuning trial."""
        return np.stack([np.stack([steps_to_target(self.tuned[t.name][m.name], t.f_star, target)
                                   for t in self.tasks]) for m in self.methods])

    def times(self, target: float = 1e-3, trials: int | None = None) -> np.ndarray:
        """AlgoPerf external tuning: ``(S, P)`` medians over studies of the best of the first ``trials`` trials."""
        tt = self.trial_times(target)
        n = self.trials if trials is None else check_int("trials", trials, 1, self.trials)
        return np.median(tt[..., :n].min(axis=-1), axis=-1)

    def untuned_times(self, target: float = 1e-3, budget: float = 3.0) -> np.ndarray:
        """Steps to target ``(S, P)`` of the defaults (median over the studies' starts) within ``budget``·K steps."""
        out = np.empty((len(self.methods), len(self.tasks)))
        for j, t in enumerate(self.tasks):
            K = int(round(budget * t.steps))
            for i, m in enumerate(self.methods):
                c = self.untuned[t.name][m.name][:K + 1]
                out[i, j] = np.median(steps_to_target(c, t.f_star, target))
        return out

    def study_scores(self, target: float = 1e-3, tau_max: float = 4.0) -> np.ndarray:
        """Scores ``(studies, S)`` as if each study alone were the whole tuning (one seed, ``trials`` trials)."""
        best = self.trial_times(target).min(axis=-1)          # (S, P, studies)
        return np.stack([profile_score(best[..., s], tau_max) for s in range(self.studies)])

    def best_config(self, task: str, method: str, target: float = 1e-3) -> dict:
        """The fastest trial's configuration of ``method`` on ``task`` (over all studies)."""
        t = next(x for x in self.tasks if x.name == task)
        st = steps_to_target(self.tuned[task][method], t.f_star, target).reshape(-1)
        return dict(self.configs[task][method][int(np.argmin(st))])

    def table(self, target: float = 1e-3) -> list[dict]:
        """Rows «method | steps on each task» (— where the target was not reached)."""
        T = self.times(target)
        rows = []
        for i, m in enumerate(self.method_names):
            row = {"Метод": m}
            for j, t in enumerate(self.tasks):
                row[t.name] = "—" if not np.isfinite(T[i, j]) else fmt_num(T[i, j])
            rows.append(row)
        return rows


def run_benchmark(tasks: Sequence[BenchTask] | None = None, methods: Sequence[BenchMethod] | None = None, *,
                  trials: int = 5, studies: int = 5, untuned_budget: float = 3.0, sampler_seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> Benchmark:
    r"""Every method on every task under AlgoPerf's external-tuning rules, plus the untuned defaults.

    Study ``s`` (``s = 0 … studies − 1``) draws ``trials`` configurations with
    ``sample_configs(space, trials, seed=sampler_seed + s)`` and starts every trial from
    ``task.init(s)``; all ``studies × trials`` runs of a (method, task) pair are one batched
    :func:`run_rows`. The default setting runs from the same ``studies`` starts for
    ``untuned_budget × steps`` steps.
    """
    import time

    tasks = list(make_tasks() if tasks is None else tasks)
    methods = list(METHODS.values() if methods is None else methods)
    trials = check_int("trials", trials, 1)
    studies = check_int("studies", studies, 1)
    check_range("untuned_budget", untuned_budget, 1.0)
    configs = {}
    for m in methods:
        configs[m.name] = [c for s in range(studies)
                           for c in sample_configs(m.space, trials, seed=sampler_seed + s)]
    seeds = [s for s in range(studies) for _ in range(trials)]
    n = len(seeds)
    tuned, untuned, seconds = {}, {}, {}
    for t in tasks:
        tuned[t.name], untuned[t.name] = {}, {}
        K, KU = t.steps, int(round(untuned_budget * t.steps))
        small = sum(x.numel() for x in t.init(0)) <= 64   # step overhead dominates: one batch for both
        for m in methods:
            t0 = time.perf_counter()
            defaults = [dict(m.defaults)] * studies
            if small:
                c = run_rows(t, m, configs[m.name] + defaults, seeds + list(range(studies)), KU)
                c, u = c[:K + 1, :n], c[:, n:]
            else:
                c = run_rows(t, m, configs[m.name], seeds, K)
                u = run_rows(t, m, defaults, list(range(studies)), KU)
            tuned[t.name][m.name] = c.reshape(K + 1, studies, trials)
            untuned[t.name][m.name] = u
            seconds[(t.name, m.name)] = time.perf_counter() - t0
            if progress is not None:
                progress(f"{t.name}: {m.name} — {seconds[(t.name, m.name)]:.1f} с")
    return Benchmark(methods, tasks, tuned, untuned, {t.name: configs for t in tasks}, studies, trials, seconds)


# ---------------------------------------------------------------------------------------------
# what an unfair comparison does
# ---------------------------------------------------------------------------------------------
def ranking(scores, names: Sequence[str]) -> list[str]:
    """Names from the best score to the worst (ties: the order given)."""
    scores = np.asarray(scores, dtype=float)
    return [names[i] for i in sorted(range(len(names)), key=lambda i: (-scores[i], i))]


def fairness_scores(bench: Benchmark, favoured: str, *, target: float = 1e-3,
                    tau_max: float = 4.0) -> dict:
    r"""AlgoPerf scores of three comparisons on the same measurements.

    ``"fair"`` — every method tuned with the same budget (external tuning); ``"unfair"`` — only
    ``favoured`` tuned, every other method with its library defaults and the same step budget
    (a typical «our tuned method vs untuned baselines» table); ``"defaults"`` — everybody with
    defaults (budget × 3, the self-tuning rules' budget). Values: arrays ``(S,)`` in
    ``bench.method_names`` order.
    """
    names = bench.method_names
    if favoured not in names:
        raise ValueError(f"Метода {favoured!r} нет в таблице; есть: {', '.join(names)}.")
    tuned = bench.times(target)
    same = bench.untuned_times(target, budget=1.0)
    unfair = same.copy()
    i = names.index(favoured)
    unfair[i] = tuned[i]
    return {"fair": profile_score(tuned, tau_max), "unfair": profile_score(unfair, tau_max),
            "defaults": profile_score(bench.untuned_times(target), tau_max)}


# ---------------------------------------------------------------------------------------------
# learning-rate schedules
# ---------------------------------------------------------------------------------------------
def warmup_exponential(opt: torch.optim.Optimizer, gamma: float, warmup: int = 0):
    r"""``torch.optim.lr_scheduler``: linear warm-up for ``warmup`` steps, then exponential decay.

    .. math:: \eta_k = \eta\,\frac{k+1}{W+1} \ (k < W), \qquad \eta_k = \eta\,\gamma^{\,k-W} \ (k \ge W)

    (``LinearLR(start_factor=1/(W+1), total_iters=W)`` followed by ``ExponentialLR(gamma)`` in a
    ``SequentialLR``; ``warmup = 0`` is ``ExponentialLR`` alone).
    """
    from torch.optim.lr_scheduler import ExponentialLR, LinearLR, SequentialLR

    gamma = float(check_range("gamma (γ)", gamma, 0.0, low_open=True))
    W = check_int("warmup", warmup, 0)
    if W == 0:
        return ExponentialLR(opt, gamma=gamma)
    lin = LinearLR(opt, start_factor=1.0 / (W + 1), end_factor=1.0, total_iters=W)
    return SequentialLR(opt, [lin, ExponentialLR(opt, gamma=gamma)], milestones=[W])


def schedule_values(lr: float, gamma: float, warmup: int, steps: int) -> np.ndarray:
    """The step sizes :math:`\\eta_0, \\dots, \\eta_{K-1}` that :func:`warmup_exponential` produces (read from torch)."""
    check_range("lr", lr, 0.0, low_open=True)
    steps = check_int("steps", steps, 1)
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=float(lr))
    sch = warmup_exponential(opt, gamma, warmup)
    out = np.empty(steps)
    for k in range(steps):
        out[k] = opt.param_groups[0]["lr"]
        opt.step()
        sch.step()
    return out


_CONSTANT_RUNS: LRUCache = LRUCache(64)


def schedule_runs(problem=None, *, lr: float = 0.3, gamma: float = 0.99, warmup: int = 0, steps: int = 300,
                  batch_size: int = 1, seeds: Sequence[int] = (0, 1, 2)) -> dict:
    r"""SGD on a finite sum with a constant step and with :func:`warmup_exponential`, the same batches.

    Returns ``{"constant": gaps, "schedule": gaps, "lrs": η_k}``; ``gaps`` are
    :math:`f(x_k) - f^*` of shape ``(K+1, len(seeds))`` (``inf`` after a divergence).
    """
    from ..optim import SGD as _SGD
    from ..problems import LinearRegression
    from ..run import run

    p = problem if problem is not None else LinearRegression()
    out = {"constant": [], "schedule": []}

    def gaps(b, sch):
        tr = run(p, _SGD, p.starts[0], steps, batches=b, lr=float(lr), scheduler=sch)
        gap = tr.loss[:, 0] - p.f_star
        if tr.diverged_at[0] >= 0:
            gap = gap.copy()
            gap[tr.diverged_at[0]:] = np.inf
        return gap

    for s in seeds:
        b = p.sample_batches(steps, batch_size, int(s))
        # the constant-step run does not depend on γ and W: moving those sliders reuses it
        key = (type(p).__name__, repr(p), float(lr), int(steps), int(batch_size), int(s))
        out["constant"].append(_CONSTANT_RUNS.get_or_compute(key, lambda: gaps(b, None)))
        out["schedule"].append(gaps(b, lambda o: warmup_exponential(o, gamma, warmup)))
    return {"constant": np.stack(out["constant"], 1), "schedule": np.stack(out["schedule"], 1),
            "lrs": schedule_values(lr, gamma, warmup, steps), "problem": p}


def scale_invariant_check(*, dim: int = 10, lr: float = 0.05, weight_decay: float = 0.1, steps: int = 150,
                          seed: int = 0) -> dict:
    r"""Weight decay on a scale-invariant loss is an exponentially growing step (Li & Arora 2019), measured.

    The loss is the Rayleigh quotient :math:`f(w) = w^\top A w / w^\top w` (:math:`f(cw) = f(w)`, so
    :math:`\nabla f(cw) = \nabla f(w)/c`). GD with weight decay,
    :math:`w_{t+1} = (1-\eta\lambda) w_t - \eta\nabla f(w_t)`, and GD without it with the step
    :math:`\tilde\eta_t = \eta(1-\eta\lambda)^{-2t-1}` (``ExponentialLR(gamma=(1-ηλ)^{-2})``) satisfy
    :math:`w_t = (1-\eta\lambda)^t \tilde w_t`, hence the same losses. Returns both loss curves, the
    plain GD curve (no decay, constant η), the norms and the largest differences.
    """
    check_range("weight_decay", weight_decay, 0.0, low_open=True)
    check_range("lr", lr, 0.0, low_open=True)
    if lr * weight_decay >= 1:
        raise ValueError(f"Нужно ηλ < 1 (иначе 1 − ηλ ≤ 0), получено η·λ = {lr * weight_decay:g}.")
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.linspace(1.0, 10.0, dim, dtype=torch.float64)) @ Q.T
    w0 = torch.randn(dim, generator=g, dtype=torch.float64)
    w0 = w0 / w0.norm()

    def f(w):
        return (w @ A @ w) / (w @ w)

    def gd(lr_, wd, gamma=None):
        w = w0.clone().requires_grad_(True)
        opt = SGD([w], lr=lr_, weight_decay=wd)
        sch = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma) if gamma is not None else None
        losses, norms, points = [], [], []
        for _ in range(steps + 1):
            opt.zero_grad()
            loss = f(w)
            loss.backward()
            losses.append(float(loss.detach()))
            norms.append(float(w.detach().norm()))
            points.append(w.detach().clone())
            opt.step()
            if sch is not None:
                sch.step()
        return np.array(losses), np.array(norms), torch.stack(points)

    c = 1.0 - lr * weight_decay
    wd_loss, wd_norm, wd_pts = gd(lr, weight_decay)
    ex_loss, ex_norm, ex_pts = gd(lr / c, 0.0, gamma=c ** -2)
    plain_loss, plain_norm, _ = gd(lr, 0.0)
    scale = torch.as_tensor(c ** np.arange(steps + 1), dtype=torch.float64)[:, None]
    f_star = float(torch.linalg.eigvalsh(A)[0])
    return dict(wd_loss=wd_loss, exp_loss=ex_loss, plain_loss=plain_loss, wd_norm=wd_norm, exp_norm=ex_norm,
                plain_norm=plain_norm, f_star=f_star, gamma=c ** -2, lr0=lr / c, last_lr=lr / c * c ** (-2 * (steps - 1)),
                max_loss_diff=float(np.abs(wd_loss - ex_loss).max()),
                max_point_diff=float(((wd_pts - scale * ex_pts).norm(dim=1) / wd_pts.norm(dim=1)).max()))


def scale_invariant_figure(res: dict) -> go.Figure:
    """Two panels: :math:`f - f^*` of the three runs (log) and :math:`\\|w_t\\|` (log)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("f(w_t) − f*", "норма ‖w_t‖"))
    k = np.arange(len(res["wd_loss"]))
    runs = (("wd", "GD + затухание весов λ", PALETTE[0], "solid", 5),
            ("exp", f"GD без затухания, η_t растёт в γ = {res['gamma']:.4f} раза за шаг", PALETTE[3], "dash", 2.5),
            ("plain", "GD без затухания, постоянный η", PALETTE[2], "solid", 2.5))
    for key, name, color, dash, width in runs:
        gap = np.maximum(res[f"{key}_loss"] - res["f_star"], 1e-16)
        fig.add_trace(go.Scatter(x=k, y=gap, name=name, legendgroup=key, line=dict(color=color, dash=dash, width=width)),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=k, y=res[f"{key}_norm"], name=name, legendgroup=key, showlegend=False,
                                 line=dict(color=color, dash=dash, width=width)), row=1, col=2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=f"Масштабно-инвариантная f: кривые с затуханием и с растущим шагом совпадают "
                                      f"(max |Δf| = {res['max_loss_diff']:.1e})"),
                      height=430, legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(b=120, t=80))
    fig.update_xaxes(title_text="шаг t")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    return fig


# ---------------------------------------------------------------------------------------------
# explorers
# ---------------------------------------------------------------------------------------------
def _target_label(target: float) -> str:
    exp = int(round(math.log10(target)))
    sup = str(exp).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"f − f* ≤ 10{sup}·(f₀ − f*)"


def profile_panels(times: np.ndarray, names: Sequence[str], *, tau_max: float, title: str) -> go.Figure:
    r"""Left: the profiles :math:`\rho_s(\tau)` on :math:`[1, \tau_{\max}]`; right: the scores, sorted."""
    from ..viz._style import color_for

    xs = profile_breakpoints(times, tau_max)
    xs = np.append(xs, tau_max) if xs[-1] < tau_max else xs
    rho = performance_profile(times, xs)
    score = profile_score(times, tau_max)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.64, 0.36], horizontal_spacing=0.14,
                        subplot_titles=("профиль ρ(τ)", f"балл: площадь до τ_max = {fmt_num(tau_max)}"))
    for i, name in enumerate(names):
        fig.add_trace(go.Scatter(x=xs, y=rho[i], mode="lines", name=name, legendgroup=name,
                                 line=dict(shape="hv", color=color_for(name, i), width=2.5),
                                 hovertemplate="τ = %{x:.3g}: ρ = %{y:.2f}<extra>" + name + "</extra>"), row=1, col=1)
    order = ranking(score, names)[::-1]
    fig.add_trace(go.Bar(x=[score[list(names).index(n)] for n in order], y=order, orientation="h", showlegend=False,
                         marker_color=[color_for(n, list(names).index(n)) for n in order],
                         text=[f"{score[list(names).index(n)]:.3f}" for n in order], textposition="auto"), row=1, col=2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=title), height=470, legend=dict(orientation="h", yanchor="top", y=-0.16, x=0),
                      margin=dict(b=110, t=90))
    fig.update_xaxes(title_text="τ — во сколько раз медленнее лучшего", range=[1, tau_max], row=1, col=1)
    fig.update_yaxes(title_text="доля задач", range=[-0.02, 1.02], row=1, col=1)
    fig.update_xaxes(title_text="балл", range=[0, 1], row=1, col=2)
    return fig


def profile_explorer(bench: Benchmark, *, target: float = 1e-3, tau_max: float = 4.0) -> Explorer:
    r"""Performance profiles of the measured table with controls: target, :math:`\tau_{\max}`, the
    tuning protocol (external tuning / defaults), the number of trials per study and the methods.

    Everything is read off the stored curves (no optimizer runs on a change). The title names the
    leader, its score and how many tasks at least one chosen method solved.
    """
    names = bench.method_names
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["target"] = W.Dropdown(options=[(_target_label(t), t) for t in TARGETS], value=target, description="цель",
                             style=wide)
    c["tau_max"] = W.FloatSlider(value=float(tau_max), min=1.5, max=10.0, step=0.5, description="τ_max",
                                 style=wide, continuous_update=False)
    c["protocol"] = W.Dropdown(options=[("внешняя настройка (AlgoPerf)", "tuned"),
                                        ("без настройки: умолчания, бюджет ×3", "untuned")],
                               value="tuned", description="правила", style=wide)
    c["trials"] = W.IntSlider(value=bench.trials, min=1, max=bench.trials, description="попыток в исследовании",
                              style=wide, continuous_update=False)
    c["methods"] = W.SelectMultiple(options=names, value=tuple(names), rows=min(len(names), 8), description="методы",
                                    style=wide)
    cache = LRUCache(64)

    def build(params):
        chosen = [n for n in names if n in tuple(params["methods"])]
        if not chosen:
            raise ValueError("Выберите хотя бы один метод.")
        tg, tau, proto, n = float(params["target"]), float(params["tau_max"]), params["protocol"], int(params["trials"])
        if tau <= 1:
            raise ValueError("τ_max должно быть больше 1.")
        key = (tg, proto, n)
        T = cache.get_or_compute(key, lambda: bench.times(tg, n) if proto == "tuned" else bench.untuned_times(tg))
        T = T[[names.index(m) for m in chosen]]
        score = profile_score(T, tau)
        lead = ranking(score, chosen)[0]
        solved = int(np.isfinite(T).any(axis=0).sum())
        how = f"{n} попыт{'ка' if n == 1 else 'ки' if n < 5 else 'ок'} × {bench.studies} исследований" \
            if proto == "tuned" else "умолчания, бюджет ×3"
        title = (f"{_target_label(tg)}; {how}. Лидер: {lead} (балл {score[chosen.index(lead)]:.3f}); "
                 f"хоть кем-то решено {solved} из {T.shape[1]} задач")
        return profile_panels(T, chosen, tau_max=tau, title=title)

    box = W.VBox([W.HBox([c["target"], c["protocol"]]), W.HBox([c["tau_max"], c["trials"]]), c["methods"]])
    return Explorer(c, build, controls_box=box, static_values={"target": list(TARGETS)})


def schedule_figure(res: dict, *, lr: float, gamma: float, warmup: int) -> go.Figure:
    """Left: the step :math:`\\eta_k` (constant and the schedule); right: mean :math:`f - f^*` over seeds."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("шаг η_k", "f(x_k) − f* (среднее по зёрнам)"))
    K = len(res["lrs"])
    k = np.arange(K + 1)
    fig.add_trace(go.Scatter(x=k[:-1], y=np.full(K, lr), name="постоянный шаг", legendgroup="c",
                             line=dict(color=PALETTE[0], width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=k[:-1], y=res["lrs"], name=f"разогрев {warmup} шагов, затем ×γ = {gamma:g} за шаг",
                             legendgroup="s", line=dict(color=PALETTE[3], width=2.5)), row=1, col=1)
    tails = {}
    for key, color, grp in (("constant", PALETTE[0], "c"), ("schedule", PALETTE[3], "s")):
        g = res[key]
        mean = np.where(np.isfinite(g).all(1), g.mean(1), np.nan)
        tails[key] = float(np.mean(g[-max(1, K // 10):])) if np.isfinite(g[-1]).all() else math.inf
        fig.add_trace(go.Scatter(x=k, y=np.where(mean > 0, mean, np.nan), showlegend=False, legendgroup=grp,
                                 line=dict(color=color, width=2.5)), row=1, col=2)
    total = float(np.sum(res["lrs"]))
    ratio = tails["schedule"] / tails["constant"] if math.isfinite(tails["constant"]) and tails["constant"] > 0 else math.nan
    def tail_text(v):  # noqa: E306
        return "расходится" if not math.isfinite(v) else f"{v:.2e}"
    title = (f"Конец пути (последние 10%): постоянный η = {fmt_num(lr)} → {tail_text(tails['constant'])}, "
             f"расписание → {tail_text(tails['schedule'])}"
             + (f" (в {1 / ratio:.1f} раза ниже)" if math.isfinite(ratio) and ratio < 1 else "")
             + f"<br>сумма шагов Ση_k = {total:.3g}, последний шаг η_K = {res['lrs'][-1]:.2e}")
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=450,
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(b=110, t=90))
    fig.update_xaxes(title_text="шаг k")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    return fig


def schedule_explorer(problem=None, *, lr: float = 0.05, gamma: float = 0.995, warmup: int = 0, steps: int = 300,
                      seeds: Sequence[int] = (0, 1, 2)) -> Explorer:
    r"""SGD (b = 1) with a constant step against warm-up + exponential decay (``torch.optim.lr_scheduler``).

    Controls: the step η (log), the factor γ, the warm-up length W. Both runs see the same batches.
    """
    from ..problems import LinearRegression

    p = problem if problem is not None else LinearRegression()
    steps = check_int("steps", steps, 10, 5000)
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["gamma"] = W.FloatSlider(value=float(gamma), min=0.85, max=1.0, step=0.005, readout_format=".3f",
                               description="γ (множитель за шаг)", style=wide, continuous_update=False)
    c["lr"] = log_slider(float(lr), 1e-2, 2.0, "шаг η", readout_format=".3g", steps=46)
    c["lr"].continuous_update = False     # each setting is 6 SGD runs: recompute when the slider is released
    c["warmup"] = W.IntSlider(value=int(warmup), min=0, max=150, step=10, description="разогрев W, шагов",
                              style=wide, continuous_update=False)
    ex: Explorer

    def build(params):
        lr_, g, w = float(params["lr"]), float(params["gamma"]), int(params["warmup"])
        res = ex.cached((round(lr_, 12), round(g, 6), w),
                        lambda: schedule_runs(p, lr=lr_, gamma=g, warmup=w, steps=steps, seeds=seeds))
        return schedule_figure(res, lr=lr_, gamma=g, warmup=w)

    ex = Explorer(c, build, static_values={"gamma": [1.0, 0.995, 0.99, 0.97, 0.95, 0.9]})
    return ex
