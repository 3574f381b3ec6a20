r"""Helpers of lecture 04 «Предобуславливание: Shampoo и Muon».

* :func:`rotation_explorer` — diagonal vs full-matrix preconditioning on a *rotated* ill-conditioned
  quadratic: sliders for the rotation angle and κ; the start rotates with the problem, so a
  rotation-equivariant method (full-matrix AdaGrad = Shampoo on a vector) draws the same curve at
  every angle;
* :func:`kronecker_statistics`, :func:`kronecker_figure`, :func:`memory_lines` — the full-matrix
  AdaGrad statistic :math:`H = \sum_s \operatorname{vec}(G_s)\operatorname{vec}(G_s)^\top` next to
  its Kronecker approximation built from :math:`L = \sum_s G_sG_s^\top`, :math:`R = \sum_s G_s^\top G_s`;
* :func:`polar_factor`, :func:`shampoo_first_step`, :func:`muon_first_step` — the step of Shampoo
  without accumulation is :math:`\eta\,UV^\top` (the theory check of the lecture), and torch's Muon
  approximates the same direction;
* :func:`newton_schulz`, :func:`newton_schulz_figure`, :func:`newton_schulz_explorer` — the quintic
  Newton–Schulz iteration of Muon, implemented here **for the picture only** (float64, no bfloat16):
  the optimizer itself is :class:`torch.optim.Muon`;
* :func:`matrix_race`, :func:`matrix_race_figure` — GD, Adam, Shampoo and Muon training one weight
  matrix (least squares with correlated inputs), each with its own tuned step;
* :func:`step_cost`, :func:`cost_lines` — wall-clock time of one optimizer step on a matrix parameter.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..optim.adaptive import Adam
from ..optim.sgd import SGD
from ..optim.shampoo import Shampoo
from ..problems.toys import Quadratic
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import color_for, fmt_num
from ..viz.trajectories import trajectory_figure
from ..widgets._base import Explorer, log_slider
from ..widgets.race import RACE_METHODS, run_method

__all__ = [
    "CUBIC_COEFFS",
    "METHODS_MD_G",
    "METHODS_MD_UVT",
    "MUON_COEFFS",
    "RotationExplorer",
    "cost_lines",
    "kronecker_figure",
    "kronecker_statistics",
    "matrix_race",
    "matrix_race_figure",
    "memory_lines",
    "muon_first_step",
    "newton_schulz",
    "newton_schulz_explorer",
    "newton_schulz_figure",
    "ns_test_matrix",
    "one_thread",
    "polar_factor",
    "rotated_start",
    "rotation_explorer",
    "shampoo_first_step",
    "step_cost",
    "uvt_check_lines",
]

#: the example of methods.md: G and its orthogonal polar factor U Vᵀ (six digits)
METHODS_MD_G = ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0))
METHODS_MD_UVT = ((-0.551003, 0.727825), (0.136159, 0.561065), (0.82332, 0.394306))
#: Muon's quintic Newton–Schulz coefficients (a, b, c): φ(σ) = aσ + bσ³ + cσ⁵
MUON_COEFFS = (3.4445, -4.7750, 2.0315)
#: the classic cubic Newton–Schulz iteration φ(σ) = (3σ − σ³)/2 (converges to exactly 1, slowly near 0)
CUBIC_COEFFS = (1.5, -0.5, 0.0)

_COEFFS = {"muon": MUON_COEFFS, "cubic": CUBIC_COEFFS}
_COEFF_LABELS = {"muon": "многочлен пятой степени из Muon (3.4445, −4.7750, 2.0315)", "cubic": "многочлен третьей степени Ньютона–Шульца (1.5, −0.5, 0)"}


@contextlib.contextmanager
def one_thread():
    """Run tiny tensor work on one intra-op thread (restored afterwards).

    On a busy 2-core machine (CI runs notebooks in parallel) torch's spinning worker threads make
    microsecond-sized operations tens of times slower; a 2-D toy or a 24×12 matrix gains nothing
    from a second thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# diagonal vs full-matrix preconditioning on a rotated quadratic
# ---------------------------------------------------------------------------------------------


def rotated_start(problem: Quadratic, local=(2.4, 1.2)) -> np.ndarray:
    """The start ``center + R_θ · local``: fixed in the problem's own eigenbasis (first axis = flat one).

    With it, rotating the problem rotates the whole picture, so a rotation-equivariant method has the
    same loss curve at every angle.
    """
    return problem.center + problem.rotation @ np.asarray(local, dtype=float)


_ROT_DEFAULT_LR = {"Shampoo": 0.5, "Adagrad": 0.5, "Adam": 0.1, "GD": None, "RMSProp": 0.05}


class RotationExplorer(Explorer):
    """A race on ``Quadratic(kappa, angle_deg)`` with sliders for the angle, κ and each method's step.

    The start is :func:`rotated_start` (it turns with the valleys). Runs are cached by
    :func:`optviz.widgets.race.run_method`. GD's step is fixed at the optimal ``2/(μ+L)`` (it is
    rotation-invariant anyway), the others have log-scale step sliders.
    """

    def __init__(self, methods: Sequence[str], kappa: float, angle_deg: float, steps: int, lrs: dict):
        unknown = [m for m in methods if m not in RACE_METHODS]
        if unknown or not methods:
            raise ValueError(f"Неизвестные методы {unknown}; доступны: {', '.join(RACE_METHODS)}.")
        self.methods = tuple(methods)
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["angle_deg"] = W.FloatSlider(value=float(angle_deg), min=0.0, max=90.0, step=5.0, description="угол поворота, °",
                                       style=wide, continuous_update=False)
        c["kappa"] = log_slider(float(kappa), 1.0, 1e3, "число обусловленности κ", readout_format=".0f", steps=30)
        c["kappa"].continuous_update = False
        c["steps"] = W.IntSlider(value=int(steps), min=20, max=500, step=20, description="шагов", style=wide,
                                 continuous_update=False)
        for m in self.methods:
            if m == "GD":
                continue
            lr = lrs.get(m, _ROT_DEFAULT_LR.get(m) or RACE_METHODS[m][1])
            c[f"lr_{m}"] = log_slider(float(lr), 1e-3, 10.0, f"η {RACE_METHODS[m][0]}", readout_format=".2g")
            c[f"lr_{m}"].continuous_update = False
        super().__init__(c, self._build, static_values={"angle_deg": [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0]})

    def problem_of(self, params=None) -> Quadratic:
        params = self.params if params is None else params
        return Quadratic(kappa=float(params["kappa"]), angle_deg=float(params["angle_deg"]))

    def traces(self, params=None) -> list:
        """The traces of every method for the current (or given) settings."""
        params = self.params if params is None else params
        q = self.problem_of(params)
        x0 = rotated_start(q)
        out = []
        with one_thread():
            for m in self.methods:
                lr = q.optimal_step if m == "GD" else float(params[f"lr_{m}"])
                out.append(run_method(q, m, x0, int(params["steps"]), lr))
        return out

    def _build(self, params):
        q = self.problem_of(params)
        traces = self.traces(params)
        finals = ", ".join(f"{RACE_METHODS[m][0]} {fmt_num(float(np.asarray(t.loss)[-1].max()), 2)}"
                           for m, t in zip(self.methods, traces))
        title = (f"{q.title}: старт повёрнут вместе с задачей<br><sup>f(x_K) − f* после {int(params['steps'])} "
                 f"шагов: {finals}</sup>")
        colors = [color_for(m, i) for i, m in enumerate(self.methods)]
        return trajectory_figure(q, traces, animate=bool(params.get("_animate", False)), colors=colors, title=title,
                                 validate=not self.live)


def rotation_explorer(methods=("Shampoo", "Adagrad", "Adam"), kappa: float = 100.0, angle_deg: float = 45.0,
                      steps: int = 200, **lrs) -> RotationExplorer:
    """Live race on a rotated quadratic: angle and κ sliders, one step slider per method.

    ``lrs`` gives starting steps by method name (``Adam=0.1``); defaults are tuned for κ = 100.
    """
    return RotationExplorer(methods, kappa, angle_deg, steps, lrs)


# ---------------------------------------------------------------------------------------------
# Kronecker factors
# ---------------------------------------------------------------------------------------------


def kronecker_statistics(m: int = 4, n: int = 3, steps: int = 200, seed: int = 0) -> dict:
    r"""Accumulate the statistics of ``steps`` random gradients :math:`G_s = A Z_s B` (``m×n``).

    :math:`Z_s` has i.i.d. normal entries and ``A``, ``B`` are fixed random mixing matrices, so the
    gradients are correlated across rows and across columns — the structure Kronecker factors can
    catch. Returns ``H`` (``mn×mn``, row-major ``vec``), ``L``, ``R``, the normalised Kronecker
    approximation ``kron = L ⊗ R / tr(H)`` (for :math:`G = AZB`, :math:`\mathbb E\,H = AA^\top \otimes
    B^\top B` and ``kron`` estimates exactly it), Shampoo's ``kron_sqrt = L^{1/2} ⊗ R^{1/2}`` scaled to
    the trace of ``H``, the diagonal of ``H`` and relative Frobenius errors of the three.
    """
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(m, m, generator=gen, dtype=torch.float64) + 1.5 * torch.eye(m, dtype=torch.float64)
    B = torch.randn(n, n, generator=gen, dtype=torch.float64) + 1.5 * torch.eye(n, dtype=torch.float64)
    Z = torch.randn(steps, m, n, generator=gen, dtype=torch.float64)
    G = A @ Z @ B
    vec = G.reshape(steps, m * n)
    H = vec.T @ vec
    L = (G @ G.transpose(1, 2)).sum(0)
    R = (G.transpose(1, 2) @ G).sum(0)
    kron = torch.kron(L, R) / torch.trace(H)
    Ls, Rs = _sym_power(L, 0.5), _sym_power(R, 0.5)
    kron_sqrt = torch.kron(Ls, Rs)
    kron_sqrt = kron_sqrt * (torch.trace(H) / torch.trace(kron_sqrt))
    diag = torch.diag(torch.diagonal(H))

    def rel(X):
        return float(torch.linalg.norm(X - H) / torch.linalg.norm(H))

    return dict(m=m, n=n, steps=steps, G=G, H=H, L=L, R=R, kron=kron, kron_sqrt=kron_sqrt, diag=diag,
                err_kron=rel(kron), err_kron_sqrt=rel(kron_sqrt), err_diag=rel(diag))


def _sym_power(a: torch.Tensor, p: float) -> torch.Tensor:
    w, Q = torch.linalg.eigh(a)
    return (Q * w.clamp_min(0).pow(p)) @ Q.T


def kronecker_figure(stats: dict | None = None, **kw) -> go.Figure:
    """Three heat maps: ``H``, its Kronecker approximation ``L ⊗ R / tr H``, and its diagonal."""
    s = stats if stats is not None else kronecker_statistics(**kw)
    m, n = s["m"], s["n"]
    panels = [("H = Σ vec(G)vec(G)ᵀ (полноматричный AdaGrad)", s["H"], None),
              ("L ⊗ R / tr H (Shampoo)", s["kron"], s["err_kron"]),
              ("diag H (Adagrad, Adam)", s["diag"], s["err_diag"])]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t + ("" if e is None else f"<br>ошибка {100 * e:.0f}%")
                                                        for t, _, e in panels], horizontal_spacing=0.06)
    vmax = float(s["H"].abs().max())
    for j, (_, M, _) in enumerate(panels):
        fig.add_trace(go.Heatmap(z=M.numpy()[::-1], zmin=-vmax, zmax=vmax, colorscale="RdBu_r", showscale=j == 2,
                                 hovertemplate="%{z:.3g}<extra></extra>"), row=1, col=j + 1)
        fig.update_xaxes(showticklabels=False, row=1, col=j + 1)
        fig.update_yaxes(showticklabels=False, scaleanchor=f"x{j + 1 if j else ''}", row=1, col=j + 1)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=430, margin=dict(l=20, r=20, t=120, b=20),
                      title=dict(text=(f"Статистика градиентов матрицы {m}×{n} за {s['steps']} шагов: "
                                       f"{(m * n) ** 2} чисел у H, {m * m + n * n} у пары (L, R), {m * n} у диагонали"),
                                 x=0.01, y=0.98, yanchor="top"))
    fig.update_annotations(font_size=12)
    return fig


def memory_lines(shapes=((768, 768), (4096, 1024), (4096, 4096))) -> str:
    """How many numbers each preconditioner stores for weight matrices of the given shapes (Russian text)."""
    rows = [f"{'слой':>12} | {'полная H, (mn)²':>16} | {'Shampoo, m²+n²':>15} | {'диагональ, mn':>14}"]
    for m, n in shapes:
        rows.append(f"{f'{m}×{n}':>12} | {(m * n) ** 2:>16.2e} | {m * m + n * n:>15.2e} | {m * n:>14.2e}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# Shampoo without accumulation = U Vᵀ; Muon
# ---------------------------------------------------------------------------------------------


def polar_factor(G) -> torch.Tensor:
    """:math:`UV^\\top` for :math:`G = U\\Sigma V^\\top` (thin SVD, float64)."""
    G = torch.as_tensor(G, dtype=torch.float64)
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


def shampoo_first_step(G, lr: float = 1.0) -> torch.Tensor:
    """The displacement :math:`W_0 - W_1` of one :class:`~optviz.optim.Shampoo` step with ``betas=(0, 0)``.

    The parameter starts at zero and receives the gradient ``G`` (float64); with β₂ = 0 the factors
    are :math:`GG^\\top`, :math:`G^\\top G` (plus what is left of ε·I: nothing), so theory predicts
    :math:`\\eta\\,UV^\\top`.
    """
    G = torch.as_tensor(G, dtype=torch.float64)
    W = torch.zeros_like(G, requires_grad=True)
    opt = Shampoo([W], lr=lr, betas=(0.0, 0.0))
    W.grad = G.clone()
    opt.step()
    return -W.detach()


def muon_first_step(G, lr: float = 1.0) -> dict:
    """One step of :class:`torch.optim.Muon` (no weight decay) from zero with gradient ``G``.

    Returns the displacement divided by Muon's effective step ``lr·√max(1, m/n)``
    (``adjust_lr_fn="original"``) — the direction Muon moves along — and that effective step.
    On the first step Muon's momentum buffer (a moving average, ``B = μB + (1 − μ)G``) is
    ``(1 − μ)G`` and the Nesterov blend ``(1 − μ)G + μB = (1 − μ²)G`` is proportional to ``G``; the
    Newton–Schulz iteration starts by normalising, so the direction is the orthogonalisation of
    ``G`` itself (computed by torch in bfloat16).
    """
    G = torch.as_tensor(G, dtype=torch.float32)
    W = torch.zeros_like(G, requires_grad=True)
    opt = torch.optim.Muon([W], lr=lr, weight_decay=0.0)
    W.grad = G.clone()
    opt.step()
    m, n = G.shape
    eff = lr * math.sqrt(max(1.0, m / n))
    return dict(direction=(-W.detach() / eff).to(torch.float64), effective_lr=eff)


def uvt_check_lines(step: torch.Tensor, lr: float, reference=METHODS_MD_UVT) -> str:
    """Side-by-side Russian text: Shampoo's step / η, U Vᵀ by SVD and the methods.md numbers."""
    uvt = polar_factor(METHODS_MD_G)
    ref = torch.tensor(reference, dtype=torch.float64)
    lines = [f"{'шаг Shampoo / η':>34} | {'U Vᵀ по SVD':>20} | {'methods.md':>20}"]
    for a, b, c in zip(step / lr, uvt, ref):
        lines.append(f"{_row(a):>34} | {_row(b):>20} | {_row(c):>20}")
    return "\n".join(lines)


def _row(v) -> str:
    return "[" + ", ".join(f"{float(x):+.6f}" for x in v) + "]"


# ---------------------------------------------------------------------------------------------
# Newton–Schulz (for the picture only; the optimizer is torch.optim.Muon)
# ---------------------------------------------------------------------------------------------


def newton_schulz(G, steps: int = 5, coeffs=MUON_COEFFS, eps: float = 1e-7) -> list[torch.Tensor]:
    r"""Iterates :math:`X_0, \dots, X_{steps}` of the odd-polynomial Newton–Schulz iteration, in float64.

    :math:`X_0 = G/\|G\|_F` (so every singular value is ≤ 1; a tall matrix is transposed first and
    back at the end, as in :class:`torch.optim.Muon`) and
    :math:`X_{k+1} = aX_k + b\,(X_kX_k^\top)X_k + c\,(X_kX_k^\top)^2X_k`, i.e. every singular value
    goes through :math:`\varphi(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` while the singular vectors
    stay: the iterates tend to (something close to) :math:`UV^\top`.
    """
    a, b, c = (float(x) for x in coeffs)
    X = torch.as_tensor(G, dtype=torch.float64).clone()
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = X / torch.linalg.norm(X).clamp_min(eps)
    out = [X]
    for _ in range(int(steps)):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
        out.append(X)
    return [x.T if tall else x for x in out]


def ns_test_matrix(m: int = 32, n: int = 16, cond: float = 100.0, seed: int = 0) -> torch.Tensor:
    """A random ``m×n`` matrix whose singular values are geometric from 1 down to ``1/cond``."""
    gen = torch.Generator().manual_seed(seed)
    k = min(m, n)
    U, _ = torch.linalg.qr(torch.randn(m, k, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))
    s = torch.logspace(0, -math.log10(cond), k, dtype=torch.float64)
    return (U * s) @ V.T


def newton_schulz_figure(G=None, steps: int = 5, coeffs="muon", *, cond: float = 100.0) -> go.Figure:
    """Left: singular values of the iterates vs iteration; right: φ and its ``steps``-fold composition.

    ``coeffs`` is ``"muon"``, ``"cubic"`` or a triple (a, b, c). ``G`` defaults to
    :func:`ns_test_matrix` with condition number ``cond``.
    """
    key = coeffs if isinstance(coeffs, str) else None
    if key is not None and key not in _COEFFS:
        raise ValueError(f"Неизвестные коэффициенты {coeffs!r}; доступны: {', '.join(_COEFFS)}.")
    abc = _COEFFS[key] if key else tuple(float(x) for x in coeffs)
    if len(abc) != 3:
        raise ValueError(f"Коэффициенты Ньютона–Шульца — три числа (a, b, c), получено {coeffs!r}.")
    G = ns_test_matrix(cond=cond) if G is None else torch.as_tensor(G, dtype=torch.float64)
    it = newton_schulz(G, steps, abc)
    sv = np.stack([torch.linalg.svdvals(x).numpy() for x in it])   # (steps+1, k)
    uvt = polar_factor(G)
    err = float(torch.linalg.norm(it[-1] - uvt) / torch.linalg.norm(uvt))
    label = _COEFF_LABELS.get(key, f"({', '.join(fmt_num(x, 4) for x in abc)})")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["сингулярные числа X_k по итерациям",
                                        f"φ(σ) = aσ + bσ³ + cσ⁵ и φ, применённая {int(steps)} раз"])
    k = sv.shape[1]
    for i in range(k):
        fig.add_trace(go.Scatter(x=np.arange(len(it)), y=sv[:, i], mode="lines+markers", showlegend=False,
                                 line=dict(width=1.2, color=_shade(i, k)), marker=dict(size=4),
                                 hovertemplate=f"σ_{i + 1}: " + "k = %{x}, σ = %{y:.3g}<extra></extra>"), 1, 1)
    fig.add_hrect(y0=0.7, y1=1.2, fillcolor="#2ca02c", opacity=0.08, line_width=0, row=1, col=1)
    fig.add_hline(y=1.0, line=dict(color="#333", dash="dot", width=1), row=1, col=1)
    x = np.linspace(0.0, 1.2, 400)
    phi = _poly(x, abc)
    comp = x.copy()
    for _ in range(int(steps)):
        comp = _poly(comp, abc)
    fig.add_trace(go.Scatter(x=x, y=phi, name="φ(σ)", line=dict(color="#1f77b4", width=2)), 1, 2)
    fig.add_trace(go.Scatter(x=x, y=comp, name=f"φ∘…∘φ ({int(steps)} раз)", line=dict(color="#d62728", width=2)),
                  1, 2)
    fig.add_trace(go.Scatter(x=x, y=np.ones_like(x), name="цель: 1", line=dict(color="#333", dash="dot", width=1)),
                  1, 2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(
        height=460, margin=dict(l=55, r=20, t=120, b=50),
        title=dict(text=(f"Ньютон–Шульц, {label}: {int(steps)} итераций<br><sup>σ(X_K) ∈ [{fmt_num(sv[-1].min(), 3)}, "
                         f"{fmt_num(sv[-1].max(), 3)}], ‖X_K − UVᵀ‖/‖UVᵀ‖ = {fmt_num(err, 3)}; "
                         f"у G σ_max/σ_min = {fmt_num(float(sv[0].max() / sv[0].min()), 3)}</sup>"),
                   x=0.01, y=0.97, yanchor="top"),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="right", x=1.0))
    fig.update_xaxes(title_text="итерация k", range=[-0.3, max(int(steps), 1) + 0.3], row=1, col=1)
    fig.update_yaxes(title_text="σ", type="log", range=[-5, 0.4], row=1, col=1)
    fig.update_xaxes(title_text="σ до итераций", range=[0, 1.2], row=1, col=2)
    fig.update_yaxes(title_text="σ после", range=[-0.1, 1.6], row=1, col=2)
    return fig


def _poly(x, abc):
    a, b, c = abc
    return a * x + b * x**3 + c * x**5


def _shade(i: int, k: int) -> str:
    t = i / max(k - 1, 1)
    r, g, b = (round(31 + t * (214 - 31)), round(119 + t * (39 - 119)), round(180 + t * (40 - 180)))
    return f"rgb({r},{g},{b})"


def newton_schulz_explorer(steps: int = 5, coeffs: str = "muon", cond: float = 100.0) -> Explorer:
    """Sliders: the number of iterations, the coefficients (Muon's quintic / the cubic), the condition of G."""
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["steps"] = W.IntSlider(value=int(steps), min=0, max=15, description="итераций", style=wide)
    c["coeffs"] = W.Dropdown(options=[(v, k) for k, v in _COEFF_LABELS.items()], value=coeffs,
                             description="коэффициенты", style=wide)
    c["cond"] = log_slider(float(cond), 1.0, 1e4, "σ_max/σ_min у G", readout_format=".0f", steps=40)
    return Explorer(c, lambda p: newton_schulz_figure(None, p["steps"], p["coeffs"], cond=p["cond"]),
                    static_values={"steps": [0, 1, 2, 3, 4, 5, 7, 10, 15]})


# ---------------------------------------------------------------------------------------------
# a matrix parameter: GD, Adam, Shampoo, Muon
# ---------------------------------------------------------------------------------------------


def _regression_data(m: int, n: int, samples: int, cond: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    scales = torch.logspace(0, -0.5 * math.log10(cond), m, dtype=torch.float64)  # feature covariance κ = cond
    X = torch.randn(samples, m, generator=gen, dtype=torch.float64) * scales @ Q.T
    W_true = torch.randn(m, n, generator=gen, dtype=torch.float64)
    Y = X @ W_true
    return X, Y


_MATRIX_METHODS = OrderedDict([
    ("GD", lambda p, lr: SGD([p], lr=lr)),
    ("Adam", lambda p, lr: Adam([p], lr=lr)),
    ("Shampoo", lambda p, lr: Shampoo([p], lr=lr)),
    ("Muon", lambda p, lr: torch.optim.Muon([p], lr=lr, weight_decay=0.0)),
])


def matrix_race(m: int = 24, n: int = 12, samples: int = 256, cond: float = 100.0, steps: int = 100,
                lrs: Sequence[float] = tuple(np.geomspace(1e-2, 30.0, 8)), seed: int = 0,
                methods: Sequence[str] = tuple(_MATRIX_METHODS), decay: bool = True) -> dict:
    """Least squares :math:`\\frac1N\\|XW - Y\\|_F^2` for one ``m×n`` weight matrix, inputs with
    covariance condition number ``cond``; every method gets its best step from ``lrs`` (smallest
    final loss). With ``decay`` the step decays linearly to zero over the run (``LambdaLR``), for
    every method alike; with a constant step Muon stalls, since its step has a fixed size.
    Returns ``{method: dict(lr=…, loss=array(steps+1), final=…)}`` (float32 parameter: Muon
    orthogonalises in bfloat16)."""
    X, Y = _regression_data(m, n, samples, cond, seed)
    X, Y = X.float(), Y.float()
    out = OrderedDict()
    with one_thread():
        for name in methods:
            out[name] = _best_run(name, X, Y, int(steps), lrs, decay)
    return out


def _best_run(name, X, Y, steps, lrs, decay) -> dict:
    """The run of method ``name`` with the smallest final loss over the step sizes ``lrs``."""
    samples, m = X.shape
    n = Y.shape[1]
    best = None
    for lr in lrs:
        W = torch.zeros(m, n, requires_grad=True)
        opt = _MATRIX_METHODS[name](W, float(lr))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / (steps + 1)) if decay else None
        losses = []
        for _ in range(steps + 1):
            opt.zero_grad()
            loss = ((X @ W - Y) ** 2).sum() / samples
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                break
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        losses = np.asarray(losses + [np.nan] * (steps + 1 - len(losses)))
        final = losses[-1] if np.isfinite(losses[-1]) else np.inf
        if best is None or final < best["final"]:
            best = dict(lr=float(lr), loss=losses, final=final)
    return best


def matrix_race_figure(results: dict, title: str | None = None) -> go.Figure:
    """Loss vs step of :func:`matrix_race` (log scale), legend with each method's chosen step."""
    fig = go.Figure()
    for i, (name, r) in enumerate(results.items()):
        fig.add_trace(go.Scatter(y=r["loss"], mode="lines", name=f"{name} (η = {fmt_num(r['lr'], 2)})",
                                 line=dict(color=color_for(name, i), width=2)))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=400, yaxis=dict(type="log", title="потеря (1/N)‖XW − Y‖²"),
                      xaxis=dict(title="шаг"), margin=dict(l=60, r=20, t=90, b=50),
                      title=dict(text=title or "Одна матрица весов: каждый метод со своим лучшим шагом из сетки",
                                 x=0.01, y=0.97, yanchor="top"))
    return fig


def step_cost(shape=(256, 256), steps: int = 10, device: str | None = None, seed: int = 0) -> dict:
    """Milliseconds per ``step()`` on one matrix parameter: the mean of ``steps`` steps after a warm-up one.

    Compared: ``torch.optim.Adam`` (foreach), optviz ``Adam``, ``Shampoo`` with roots every step and
    every 10 steps (``precondition_frequency=10``), ``torch.optim.Muon``. On the CPU the timing runs
    on one thread (:func:`one_thread`): stable numbers on a shared machine.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(seed)
    grad = torch.randn(*shape, generator=gen).to(device)
    makers = OrderedDict([
        ("torch Adam", lambda p: torch.optim.Adam([p], lr=1e-3)),
        ("optviz Adam", lambda p: Adam([p], lr=1e-3)),
        ("Shampoo, корни каждый шаг", lambda p: Shampoo([p], lr=1e-3)),
        ("Shampoo, корни раз в 10 шагов", lambda p: Shampoo([p], lr=1e-3, precondition_frequency=10)),
        ("torch Muon", lambda p: torch.optim.Muon([p], lr=1e-3)),
    ])
    out = OrderedDict()
    with (one_thread() if device == "cpu" else contextlib.nullcontext()):
        for name, make in makers.items():
            out[name] = _mean_step_ms(make, shape, grad, device, int(steps))
    return out


def _mean_step_ms(make, shape, grad, device: str, steps: int) -> float:
    """Mean wall time (ms) of ``steps`` calls of ``step()`` after one warm-up step (the mean, so a
    root refresh every F steps is amortised over them)."""
    cuda = device.startswith("cuda")
    p = torch.zeros(*shape, device=device, requires_grad=True)
    opt = make(p)
    p.grad = grad.clone()
    opt.step()
    times = []
    for _ in range(steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.mean(times))


def cost_lines(costs: dict, shape=None) -> str:
    """Russian text: ms per step and the ratio to torch Adam."""
    base = costs.get("torch Adam") or next(iter(costs.values()))
    head = f"матрица {shape[0]}×{shape[1]}: " if shape else ""
    lines = [f"{head}время одного шага (среднее), отношение к torch Adam"]
    for name, ms in costs.items():
        lines.append(f"  {name:<32} {ms:9.2f} мс   × {ms / base:6.1f}")
    return "\n".join(lines)
