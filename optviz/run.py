r"""Drive any optimizer on any problem and record what the figures need: :func:`run` → :class:`Trace`.

::

    from optviz.optim.sgd import SGD
    from optviz.problems.toys import Rosenbrock
    from optviz.run import run, run_grid

    f = Rosenbrock()
    tr = run(f, SGD, f.start, 300, lr=1e-3, momentum=0.9)     # one trajectory
    tr.points.shape                                           # (301, 1, 2)
    grid = run_grid(f, SGD, f.start, 200, grid={"lr": np.logspace(-5, -2, 40),
                                                "momentum": np.linspace(0, 0.99, 40)})
    grid.rate()                                               # (40, 40) map of linear rates

Design
------
* **Float64** by default (``dtype=``): toy landscapes like Rosenbrock are explored far from the
  minimum and compared against closed forms; float64 keeps the pictures free of rounding artefacts.
* **Many runs are one tensor.** ``x0`` of shape ``(N, d)`` becomes *one* parameter of shape
  ``(N, d)`` with loss :math:`\sum_{rows} f(row)`, so each row receives exactly its own gradient.
  Hyperparameters given as arrays (one value per run) are placed in the param group as tensors of
  shape ``(N, 1)``; optviz's elementwise optimizers accept such tensors, so a whole 40×40
  (lr, momentum) map is one vectorised computation with the same update code as a single run.
  This is valid only for *elementwise* methods (each coordinate's update depends only on its own
  history): see :func:`is_elementwise`. Other methods (Shampoo, the (L0, L1) step whose norm is
  global, the DRO optimizers, unknown factories) are run one start at a time in a loop.
  ``torch.optim`` classes are elementwise but take only scalar hyperparameters: many starts with
  one setting are batched, a hyperparameter grid with them is looped.
* **Divergence never raises and never warns.** A run whose iterate leaves the box (the plotting
  window enlarged ``box_scale`` = 10⁶ times about its centre) or whose loss/gradient is not
  finite is marked in ``diverged_at`` (the first such step) and frozen at its last good point:
  from then on its gradient is zeroed before each step and its row is restored after it, so the
  optimizer's code is untouched and the NaNs of that row's state stay in that row (elementwise
  methods never mix rows). Other rows are unaffected.
* **DRO** (an optimizer with ``weighted_loss``): the loss is
  ``opt.weighted_loss(problem.losses(x), groups=problem.groups)`` and ``opt.pi`` is recorded each
  step; the recorded point is the base point :math:`\theta_t` (``opt.base_of``) when the method
  keeps an extrapolated one in the parameter.
* **Stochastic finite sums**: ``batches=`` (an index array of shape ``(steps, b)``, or an int batch
  size drawn with ``seed``) makes step k use ``problem.loss(x, batch=batches[k])``; the recorded
  ``loss`` is still the full objective.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import check_int, check_range
from ._threads import torch_threads

__all__ = ["Trace", "GridResult", "run", "run_grid", "is_elementwise", "ELEMENTWISE_TORCH", "ELEMENTWISE_OPTVIZ"]

#: torch.optim classes whose update is coordinate-wise (many starts may share one tensor).
ELEMENTWISE_TORCH = tuple(
    getattr(torch.optim, n)
    for n in ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adamax", "NAdam", "RAdam", "Adadelta")
    if hasattr(torch.optim, n)
)

#: optviz classes (module, name) known to be elementwise and to accept tensor hyperparameters.
#: A class attribute ``elementwise = True/False`` on an optimizer class overrides this list.
ELEMENTWISE_OPTVIZ = (
    ("optviz.optim.sgd", "SGD"),
    ("optviz.optim.adaptive", "Adagrad"),
    ("optviz.optim.adaptive", "RMSProp"),
    ("optviz.optim.adaptive", "Adam"),
    ("optviz.optim.adaptive", "AdamW"),
)


def _optviz_elementwise_classes() -> tuple[type, ...]:
    import importlib

    out = []
    for module, name in ELEMENTWISE_OPTVIZ:
        try:
            out.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(out)


def _unwrap(spec):
    """The optimizer class behind ``spec`` (a class or a ``functools.partial`` of one), else None."""
    while isinstance(spec, functools.partial):
        spec = spec.func
    return spec if isinstance(spec, type) else None


def is_elementwise(spec) -> bool:
    """Whether many runs of ``spec`` may share one ``(N, d)`` tensor.

    An explicit attribute ``elementwise`` (on the class or on a factory function) decides; otherwise
    the registries :data:`ELEMENTWISE_OPTVIZ` and :data:`ELEMENTWISE_TORCH`; anything unknown is
    treated as non-elementwise (run in a loop — always correct, only slower).
    """
    flag = getattr(spec, "elementwise", None)
    if isinstance(flag, bool):
        return flag
    cls = _unwrap(spec)
    if cls is None:
        return False
    flag = cls.__dict__.get("elementwise", None)
    if isinstance(flag, bool):
        return flag
    return cls in _optviz_elementwise_classes() or cls in ELEMENTWISE_TORCH


def _accepts_tensor_hyper(spec) -> bool:
    """optviz elementwise classes take tensor hyperparameters; torch.optim ones take numbers."""
    cls = _unwrap(spec)
    if cls is None:
        return bool(getattr(spec, "tensor_hyperparameters", False))
    flag = getattr(cls, "tensor_hyperparameters", None)
    if isinstance(flag, bool):
        return flag
    return cls in _optviz_elementwise_classes() or (
        cls.__module__.startswith("optviz.") and is_elementwise(cls)
    )


# ---------------------------------------------------------------------------------------------
# the trace
# ---------------------------------------------------------------------------------------------


@dataclass
class Trace:
    """Everything recorded by :func:`run`, as NumPy arrays (ready for figure builders).

    Shapes use ``K`` = number of steps, ``N`` = number of runs, ``d`` = dimension.

    Attributes
    ----------
    points : (K+1, N, d)
        Iterates :math:`x_0, \\dots, x_K` (frozen at the last good point after divergence).
    loss : (K+1, N)
        Objective at the iterates (the full objective for stochastic runs).
    grad_norm : (K+1, N)
        Norm of the gradient used at each step (a mini-batch gradient for stochastic runs, the
        weighted-loss gradient for DRO methods); the last entry is at :math:`x_K`.
    step_size : (K, N)
        Effective step :math:`\\|x_{k+1} - x_k\\| / \\|g_k\\|` (0 where :math:`g_k = 0` or frozen),
        or the optimizer's own ``last_step_size`` where it records one (the (L0, L1) step).
    diverged_at : (N,)
        First step index whose iterate left the box or had a non-finite loss/gradient; −1 if never.
    restarts : list
        Steps at which a restart wrapper restarted (``restart_steps``); one list per run when N > 1.
    pi : None, (K+1, G) or (K+1, N, G)
        Group weights :math:`\\pi_k` of a DRO optimizer (``(K+1, G)`` for a single run).
    method, hyper, problem, f_star, batches, seconds
        Metadata: optimizer name, hyperparameters (arrays hold one value per run), problem name,
        its minimum value, the mini-batch indices used, wall time of the run.
    """

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    step_size: np.ndarray
    diverged_at: np.ndarray
    restarts: list = field(default_factory=list)
    pi: np.ndarray | None = None
    method: str = ""
    hyper: dict = field(default_factory=dict)
    problem: str = ""
    f_star: float = float("nan")
    batches: np.ndarray | None = None
    seconds: float = 0.0

    # -- shapes -----------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return self.points.shape[0] - 1

    @property
    def n_runs(self) -> int:
        return self.points.shape[1]

    @property
    def dim(self) -> int:
        return self.points.shape[2]

    # -- summaries --------------------------------------------------------------------------
    @property
    def final(self) -> np.ndarray:
        """Last iterates, ``(N, d)``."""
        return self.points[-1]

    @property
    def final_loss(self) -> np.ndarray:
        return self.loss[-1]

    @property
    def best_loss(self) -> np.ndarray:
        """Smallest recorded loss of each run, ``(N,)``."""
        return np.nanmin(np.where(np.isfinite(self.loss), self.loss, np.inf), axis=0)

    @property
    def best_point(self) -> np.ndarray:
        """Iterate with the smallest loss of each run, ``(N, d)``."""
        k = np.argmin(np.where(np.isfinite(self.loss), self.loss, np.inf), axis=0)
        return self.points[k, np.arange(self.n_runs)]

    @property
    def diverged(self) -> np.ndarray:
        """``(N,)`` booleans."""
        return self.diverged_at >= 0

    @property
    def suboptimality(self) -> np.ndarray:
        """:math:`f(x_k) - f^*`, ``(K+1, N)`` (NaN when f* is unknown)."""
        return self.loss - self.f_star

    def path(self, i: int = 0) -> np.ndarray:
        """Trajectory of run ``i``: ``(K+1, d)``."""
        return self.points[:, i]

    def select(self, i) -> "Trace":
        """The sub-trace of run(s) ``i`` (an int or an index array)."""
        idx = np.atleast_1d(np.arange(self.n_runs)[i])
        hyper = {k: (v[idx] if isinstance(v, np.ndarray) and v.shape[:1] == (self.n_runs,) else v)
                 for k, v in self.hyper.items()}
        pi = self.pi
        if pi is not None and pi.ndim == 3:
            pi = pi[:, idx] if len(idx) > 1 else pi[:, idx[0]]
        restarts = self.restarts
        if self.n_runs > 1 and restarts and isinstance(restarts[0], list):
            restarts = [restarts[j] for j in idx] if len(idx) > 1 else restarts[idx[0]]
        return Trace(self.points[:, idx], self.loss[:, idx], self.grad_norm[:, idx], self.step_size[:, idx],
                     self.diverged_at[idx], restarts, pi, self.method, hyper, self.problem, self.f_star,
                     self.batches, self.seconds)

    def __repr__(self) -> str:
        return (f"Trace(method={self.method!r}, problem={self.problem!r}, steps={self.steps}, "
                f"runs={self.n_runs}, dim={self.dim}, diverged={int(self.diverged.sum())})")


# ---------------------------------------------------------------------------------------------
# input normalisation
# ---------------------------------------------------------------------------------------------


def _problem_dim(problem) -> int | None:
    d = getattr(problem, "dim", None)
    return int(d) if isinstance(d, (int, np.integer)) else None


def _as_starts(x0, dim) -> np.ndarray:
    a = np.asarray(x0.detach().cpu().numpy() if isinstance(x0, torch.Tensor) else x0, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(-1, 1) if (dim == 1 and a.size != 1) else a[None, :]
    elif a.ndim != 2:
        raise ValueError(f"Параметр x0 должен иметь форму (d,) или (N, d), получена форма {a.shape}.")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"Параметр x0: размерность точки {a.shape[1]}, а у задачи dim = {dim}.")
    if a.shape[0] == 0 or not np.isfinite(a).all():
        raise ValueError("Параметр x0 должен содержать хотя бы одну точку и только конечные числа.")
    return a


#: hyperparameters whose value is itself a vector (never a sweep over runs)
VECTOR_HYPER = frozenset({"prior", "pi_init", "betas"})


def _is_grid_value(v) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() > 1
    return isinstance(v, np.ndarray) and v.size > 1


def _split_hyper(hyper: dict):
    """Separate per-run arrays from ordinary values; fold ``beta1``/``beta2`` into ``betas``."""
    hyper = dict(hyper)
    if "beta1" in hyper or "beta2" in hyper:
        b1, b2 = hyper.pop("beta1", 0.9), hyper.pop("beta2", 0.999)
        if "betas" in hyper:
            raise ValueError("Задайте либо betas, либо beta1/beta2, но не то и другое сразу.")
        hyper["_betas"] = (b1, b2)
    arrays, scalars = {}, {}
    for k, v in hyper.items():
        if k == "_betas":
            continue
        if k in VECTOR_HYPER:
            scalars[k] = v
        elif _is_grid_value(v):
            arrays[k] = np.asarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v,
                                   dtype=np.float64).reshape(-1)
        else:
            scalars[k] = v.item() if isinstance(v, (torch.Tensor, np.ndarray)) else v
    if "_betas" in hyper:
        for name, v in zip(("beta1", "beta2"), hyper["_betas"]):
            if _is_grid_value(v):
                arrays[name] = np.asarray(v, dtype=np.float64).reshape(-1)
            else:
                scalars[name] = float(v)
    return arrays, scalars


def _hyper_for(arrays: dict, scalars: dict, row, dtype) -> dict:
    """Keyword arguments for one optimizer: per-run arrays become ``(N, 1)`` tensors (``row=None``)
    or the floats of run ``row``; ``beta1``/``beta2`` are folded into ``betas``."""
    vals = {k: (torch.as_tensor(a, dtype=dtype).reshape(-1, 1) if row is None else float(a[row]))
            for k, a in arrays.items()}
    kw = {k: v for k, v in scalars.items() if k not in ("beta1", "beta2")}
    if any(k in vals or k in scalars for k in ("beta1", "beta2")):
        b1 = vals.pop("beta1", scalars.get("beta1", 0.9))
        b2 = vals.pop("beta2", scalars.get("beta2", 0.999))
        kw["betas"] = (b1, b2)
    kw.update(vals)
    return kw


def _box(problem, starts: np.ndarray, box_scale: float):
    window = getattr(problem, "window", None)
    d = starts.shape[1]
    if window is not None and len(window) == d:
        w = np.asarray(window, dtype=np.float64)
        center, half = w.mean(1), 0.5 * (w[:, 1] - w[:, 0])
        half = np.full(d, half.max())
    else:
        center = np.zeros(d)
        half = np.full(d, max(1.0, float(np.abs(starts).max())))
    return center - box_scale * half, center + box_scale * half


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


def _build(spec, params, kwargs):
    return spec(params, **kwargs) if (kwargs or isinstance(spec, type)) else spec(params)


def _drive(problem, spec, starts: np.ndarray, steps: int, kwargs: dict, *, dtype, lo, hi, batches,
           scheduler):
    """One optimizer on one ``(N, d)`` parameter; returns raw NumPy arrays and the optimizer.

    Bookkeeping is done in NumPy on a view of the parameter (tiny arrays: NumPy's per-call cost is
    a fraction of torch's). Problems with a hand-derived gradient (the toys) are evaluated without
    autograd; the gradient is handed to the optimizer as ``x.grad``. A single run optimises a
    plain vector of shape ``(d,)`` (what matrix-aware methods such as Shampoo must see: a ``(1, d)``
    matrix would get Kronecker factors instead of full-matrix AdaGrad).
    """
    N, d = starts.shape
    vector = N == 1
    x = torch.tensor(starts[0] if vector else starts, dtype=dtype, requires_grad=True)
    xv = x.detach().numpy().reshape(N, d)   # a live view: optimizers update x in place
    opt = _build(spec, [x], kwargs)
    sched = scheduler(opt) if scheduler is not None else None
    dro = hasattr(opt, "weighted_loss")
    fast = (not dro and batches is None and getattr(problem, "has_analytic_grad", False)
            and hasattr(problem, "value_and_grad_np"))
    if dro:
        groups = problem.groups
        flat_losses = N == 1 and tuple(getattr(opt, "batch_shape", ())) == ()
        base_of = getattr(opt, "base_of", None)
    loss_fn = problem.loss if hasattr(problem, "loss") else problem
    full_np = getattr(problem, "value_np", None)
    own_step = hasattr(opt, "last_step_size")
    # a restart criterion that compares losses (O'Donoghue–Candès function scheme) reads the loss
    # the closure returns: hand it the value already computed at this point (no re-evaluation)
    wants_loss = bool(getattr(getattr(opt, "criterion", None), "needs_loss", False))

    points, losses_rec, gnorms, sizes = [], [], [], []
    pis = [torch.as_tensor(opt.pi).detach().clone()] if dro else None
    diverged_at = np.full(N, -1, dtype=np.int64)
    frozen = np.zeros(N, dtype=bool)
    any_frozen = False

    for k in range(steps + 1):
        stochastic = batches is not None and k < steps
        # -- value and gradient at the current parameter ------------------------------------
        if fast:  # the toy's own formula and hand-derived gradient, on the live NumPy view
            val, g = problem._formula(xv, np), problem._grad(xv, np)
            point = xv
        else:
            if dro:
                opt.zero_grad()
            else:
                x.grad = None
            with torch.enable_grad():
                xr = x.view(1, d) if vector else x
                if dro:
                    per_sample = problem.losses(xr)
                    obj = opt.weighted_loss(per_sample.reshape(-1) if flat_losses else per_sample, groups=groups)
                elif stochastic:
                    obj = problem.loss(xr, batch=batches[k]).sum()
                else:
                    rows_t = loss_fn(xr)
                    obj = rows_t.sum()
                obj.backward()
            g = x.grad.numpy().reshape(N, d) if x.grad is not None else np.zeros((N, d))
            point = xv
            if dro and base_of is not None:
                point = base_of(x).detach().numpy().reshape(N, d)
            if dro or stochastic:
                if full_np is not None:
                    val = np.asarray(full_np(point))
                else:
                    with torch.no_grad():
                        val = loss_fn(torch.from_numpy(np.ascontiguousarray(point))).detach().numpy()
            else:
                val = rows_t.detach().numpy()
            val = val.reshape(N)
        gnorm = np.sqrt((g * g).sum(-1))
        # -- divergence: out of the box, or a non-finite loss / gradient --------------------
        bad = ~(np.isfinite(val + gnorm) & ((point >= lo) & (point <= hi)).all(-1))
        if any_frozen:
            bad &= ~frozen
        if bad.any():
            diverged_at[bad] = k
            frozen |= bad
            any_frozen = True
            if k > 0:
                xv[bad] = points[-1][bad]
                point = point.copy()
                point[bad] = points[-1][bad]
                val = np.where(bad, losses_rec[-1], val)
                gnorm = np.where(bad, gnorms[-1], gnorm)
        points.append(point.copy())
        losses_rec.append(np.array(val, copy=True))
        gnorms.append(gnorm)
        if k == steps:
            break
        if any_frozen and frozen.all():
            rest = steps - k
            points.extend([points[-1]] * rest)
            losses_rec.extend([losses_rec[-1]] * rest)
            gnorms.extend([gnorms[-1]] * rest)
            sizes.extend([np.zeros(N)] * rest)
            if dro:
                pis.extend([pis[-1]] * rest)
            break
        # -- the optimizer's step (frozen rows: zero gradient, then restored) ---------------
        if any_frozen:
            g = np.where(frozen[:, None], 0.0, g) if fast else g
            if not fast:
                g[frozen] = 0.0               # x.grad's view
        if fast:
            x.grad = torch.from_numpy(np.ascontiguousarray(g, dtype=xv.dtype).reshape(x.shape))
        if wants_loss:
            current = torch.as_tensor(float(np.sum(val)), dtype=dtype)
            opt.step(lambda: current)
        else:
            opt.step()
        if sched is not None:
            sched.step()
        if any_frozen:
            xv[frozen] = points[-1][frozen]
        new_point = base_of(x).detach().numpy().reshape(N, d) if dro and base_of is not None else xv
        ls = getattr(opt, "last_step_size", None) if own_step else None
        if ls is not None:
            h = np.broadcast_to(np.asarray(ls.detach().cpu().numpy() if isinstance(ls, torch.Tensor) else ls,
                                           dtype=np.float64).reshape(-1), (N,)).copy()
        else:
            dx = np.sqrt(((new_point - points[-1]) ** 2).sum(-1))
            h = np.divide(dx, gnorm, out=np.zeros(N), where=gnorm > 0)
        if any_frozen:
            h[frozen] = 0.0
        sizes.append(h)
        if dro:
            pis.append(torch.as_tensor(opt.pi).detach().clone())

    pi = torch.stack(pis).reshape(steps + 1, N, -1).numpy() if dro else None
    return dict(points=np.stack(points), loss=np.stack(losses_rec), grad_norm=np.stack(gnorms),
                step_size=np.stack(sizes) if sizes else np.zeros((0, N)), diverged_at=diverged_at, pi=pi,
                restarts=list(getattr(opt, "restart_steps", []) or []), opt=opt)


def _method_name(spec, opt) -> str:
    cls = _unwrap(spec)
    if cls is not None:
        return cls.__name__
    name = getattr(opt, "name", None)
    if isinstance(name, str):
        return name
    inner = getattr(opt, "optimizer", None)
    if inner is not None and inner is not opt:
        return f"{type(opt).__name__}({type(inner).__name__})"
    return type(opt).__name__


def run(problem, optimizer, x0, steps: int, *, dtype=torch.float64, box_scale: float = 1e6,
        batches=None, seed: int = 0, scheduler=None, **hyper) -> Trace:
    r"""Run ``optimizer`` on ``problem`` for ``steps`` steps from ``x0``; return a :class:`Trace`.

    Parameters
    ----------
    problem
        Anything with ``loss(x)`` mapping ``(N, d) -> (N,)`` (optviz problems), or such a callable.
        DRO problems also provide ``losses(x)`` and ``groups``; finite sums ``loss(x, batch=...)``.
    optimizer
        An optimizer class (optviz or ``torch.optim``), a ``functools.partial`` of one, or a
        factory ``callable(params, **hyper) -> optimizer`` (e.g. one wrapping a method in restarts).
    x0
        A start ``(d,)`` or many starts ``(N, d)`` (for 1-D problems also a number or ``(N,)``).
    steps
        Number of optimizer steps K (the trace holds K + 1 points).
    dtype
        Torch dtype of the computation, float64 by default.
    box_scale
        Divergence box: the problem's window enlarged ``box_scale`` times about its centre.
    batches
        For finite sums: an int array ``(steps, b)`` of sample indices, or an int batch size ``b``
        (drawn by ``problem.sample_batches(steps, b, seed)``). All runs see the same batches.
    scheduler
        Optional ``callable(opt) -> lr scheduler``, stepped after every optimizer step.
    **hyper
        Hyperparameters for the optimizer. A NumPy array / tensor with one value per run makes a
        hyperparameter sweep (``beta1``/``beta2`` may be given separately and form ``betas``); with
        a single start the start is repeated for every value.

    Returns
    -------
    Trace
        See :class:`Trace`. Never raises on divergence; see the module docstring.
    """
    check_int("steps", steps, 0)
    check_range("box_scale", box_scale, 1.0)
    dim = _problem_dim(problem)
    starts = _as_starts(x0, dim)
    arrays, scalars = _split_hyper(hyper)
    sizes = {a.size for a in arrays.values()}
    if len(sizes) > 1:
        raise ValueError(
            "Все гиперпараметры-массивы должны иметь одинаковую длину (по значению на запуск), получены длины "
            f"{sorted(sizes)}. Для сетки «каждый с каждым» используйте run_grid."
        )
    n_hyper = sizes.pop() if sizes else 1
    if n_hyper > 1 and starts.shape[0] == 1:
        starts = np.repeat(starts, n_hyper, axis=0)
    elif n_hyper > 1 and starts.shape[0] != n_hyper:
        raise ValueError(
            f"Число стартовых точек ({starts.shape[0]}) не совпадает с длиной массивов гиперпараметров "
            f"({n_hyper}). Передайте одну точку или по точке на каждое значение; для сетки используйте run_grid."
        )

    if isinstance(batches, (int, np.integer)) and not isinstance(batches, bool):
        batches = problem.sample_batches(steps, int(batches), seed)
    if batches is not None:
        batches = np.asarray(batches)
        if batches.ndim != 2 or batches.shape[0] < steps:
            raise ValueError(f"Параметр batches должен иметь форму (steps, b) = ({steps}, b), получена {batches.shape}.")
    lo, hi = _box(problem, starts, float(box_scale))
    common = dict(dtype=dtype, lo=lo, hi=hi, batches=batches, scheduler=scheduler)

    t0 = time.perf_counter()
    # tiny tensors: extra intra-op threads only add overhead (×20 on a busy 2-core box)
    with torch_threads(1), np.errstate(all="ignore"):
        res, restarts, pi, name = _dispatch(problem, optimizer, starts, steps, arrays, scalars, common)
    seconds = time.perf_counter() - t0
    hyper_rec = dict(scalars)
    hyper_rec.update({k: v.copy() for k, v in arrays.items()})
    return Trace(points=res["points"], loss=res["loss"], grad_norm=res["grad_norm"], step_size=res["step_size"],
                 diverged_at=res["diverged_at"].astype(np.int64), restarts=restarts, pi=pi, method=name,
                 hyper=hyper_rec, problem=getattr(problem, "name", getattr(problem, "__name__", type(problem).__name__)),
                 f_star=float(getattr(problem, "f_star", float("nan"))),
                 batches=None if batches is None else batches[:steps], seconds=seconds)


def _dispatch(problem, optimizer, starts, steps, arrays, scalars, common):
    """Batched (one tensor) when the method is elementwise, else one run at a time."""
    N, dtype = starts.shape[0], common["dtype"]
    batched = N == 1 or (is_elementwise(optimizer) and (not arrays or _accepts_tensor_hyper(optimizer)))
    if batched:
        out = _drive(problem, optimizer, starts, steps, _hyper_for(arrays, scalars, None, dtype), **common)
        restarts = out["restarts"] if N == 1 else [out["restarts"]] * N
        name = _method_name(optimizer, out["opt"])
        res = out
        pi = None if out["pi"] is None else (out["pi"][:, 0] if N == 1 else out["pi"])
    else:
        outs = [_drive(problem, optimizer, starts[i:i + 1], steps, _hyper_for(arrays, scalars, i, dtype), **common)
                for i in range(N)]
        res = {key: np.concatenate([o[key] for o in outs], axis=1)
               for key in ("points", "loss", "grad_norm", "step_size")}
        res["diverged_at"] = np.concatenate([o["diverged_at"] for o in outs])
        restarts = [o["restarts"] for o in outs]
        pi = None if outs[0]["pi"] is None else np.concatenate([o["pi"] for o in outs], axis=1)
        if pi is not None and N == 1:
            pi = pi[:, 0]
        name = _method_name(optimizer, outs[0]["opt"])
    return res, restarts, pi, name


# ---------------------------------------------------------------------------------------------
# hyperparameter grids
# ---------------------------------------------------------------------------------------------


@dataclass
class GridResult:
    """A :func:`run_grid` result: one :class:`Trace` with a run per grid cell, plus the grid axes.

    ``axes`` maps each swept hyperparameter to its 1-D values (in the order given); maps returned by
    the methods have shape ``shape`` = ``tuple(len(v) for v in axes.values())`` (``indexing="ij"``).
    """

    trace: Trace
    axes: dict
    shape: tuple

    def reshape(self, per_run) -> np.ndarray:
        return np.asarray(per_run).reshape(self.shape)

    def final_loss(self) -> np.ndarray:
        return self.reshape(self.trace.final_loss)

    def diverged(self) -> np.ndarray:
        return self.reshape(self.trace.diverged)

    def rate(self, f_star: float | None = None) -> np.ndarray:
        r"""Average linear rate :math:`\rho = \big((f(x_K) - f^*)/(f(x_0) - f^*)\big)^{1/K}` per cell.

        ρ < 1: converging (smaller is faster); ρ ≥ 1: not converging; diverged runs get ``inf``.
        ``f_star`` defaults to the problem's minimum value, else the smallest loss seen.
        """
        tr = self.trace
        fs = tr.f_star if f_star is None else f_star
        if not math.isfinite(fs):
            fs = float(np.nanmin(np.where(np.isfinite(tr.loss), tr.loss, np.nan)))
        with np.errstate(all="ignore"):
            gap0 = tr.loss[0] - fs
            gapk = np.maximum(tr.loss[-1] - fs, 0.0)
            rho = (gapk / gap0) ** (1.0 / max(tr.steps, 1))
            rho = np.where(gap0 > 0, rho, 0.0)
        rho = np.where(tr.diverged | ~np.isfinite(rho), np.inf, rho)
        return self.reshape(rho)

    def steps_to(self, tol: float, f_star: float | None = None) -> np.ndarray:
        """First step with :math:`f(x_k) - f^* \\le` ``tol`` per cell (−1 if never)."""
        tr = self.trace
        fs = tr.f_star if f_star is None else f_star
        with np.errstate(invalid="ignore"):
            hit = (tr.loss - fs) <= tol
        first = np.where(hit.any(0), hit.argmax(0), -1)
        return self.reshape(first)


def run_grid(problem, optimizer, x0, steps: int, grid: dict, **fixed) -> GridResult:
    """Run every combination of the hyperparameter values in ``grid`` (an outer product).

    ``grid`` maps names to 1-D value arrays, e.g. ``{"lr": lrs, "momentum": moms}``; ``fixed`` holds
    the other hyperparameters and the options of :func:`run`. With elementwise optviz methods the
    whole grid is one vectorised run.
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError("Параметр grid должен быть непустым словарём {имя: массив значений}.")
    axes = {}
    for name, values in grid.items():
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError(f"Ось сетки {name} пуста.")
        axes[name] = v
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    shape = mesh[0].shape
    swept = {name: m.reshape(-1) for name, m in zip(axes, mesh)}
    if mesh[0].size == 1:  # a 1-cell grid: pass plain numbers
        swept = {k: float(v[0]) for k, v in swept.items()}
    starts = np.asarray(x0, dtype=np.float64)
    trace = run(problem, optimizer, starts, steps, **swept, **fixed)
    return GridResult(trace=trace, axes=axes, shape=shape)
