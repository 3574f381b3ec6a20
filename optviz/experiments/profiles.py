r"""Performance profiles (Dolan & Moré, 2002) and the AlgoPerf benchmark score.

The input is a table of **times to target**: ``times[s, p]`` — how long method ``s`` needed to
reach the target on task ``p`` (steps, seconds, epochs — any positive unit), ``inf`` (or NaN) when it
never reached it. From it:

* the **performance ratio** :math:`r_{s,p} = t_{s,p} / \min_{s'} t_{s',p}` (1 for the fastest
  method of the task, ``inf`` for a failure; a task nobody solved gives ``inf`` to everybody);
* the **performance profile** of method ``s``

  .. math:: \rho_s(\tau) = \frac{1}{P}\,\bigl|\{p : r_{s,p} \le \tau\}\bigr|,

  the share of the ``P`` tasks that ``s`` solved within a factor :math:`\tau` of the best time — a
  right-continuous non-decreasing step function with :math:`\rho_s(1)` = the share of tasks where
  ``s`` is (one of) the fastest and :math:`\rho_s(\infty)` = the share it solved at all;
* the **AlgoPerf score** (Dahl et al. 2023, «Benchmarking Neural Network Training Algorithms») — the
  normalised area under the profile up to :math:`\tau_{\max}` (AlgoPerf uses 4):

  .. math:: B_s = \frac{1}{\tau_{\max} - 1}\int_1^{\tau_{\max}} \rho_s(\tau)\,d\tau
      = \frac{1}{P}\sum_{p:\ r_{s,p} \le \tau_{\max}} \frac{\tau_{\max} - r_{s,p}}{\tau_{\max} - 1},

  the closed form holding because each task adds a step of height :math:`1/P` at
  :math:`\tau = r_{s,p}`. :math:`B_s = 1` means «the fastest on every task», 0 means «never within
  :math:`\tau_{\max}` of the fastest».
* AlgoPerf's external-tuning aggregation, :func:`study_times`: a method is tuned in several
  independent *studies* of a few *trials* (hyperparameter points); a study's time is its fastest
  trial, the method's time on the task is the median over studies.

::

    times = np.array([[10, 40, np.inf], [20, 20, 30]])     # 2 methods × 3 tasks
    performance_ratios(times)          # [[1, 2, inf], [2, 1, 1]]
    performance_profile(times, [1, 2])  # [[1/3, 2/3], [2/3, 1]]
    profile_score(times, tau_max=4)     # [(1 + 2/3)/3, (2/3 + 1 + 1)/3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import check_int, check_range

__all__ = [
    "as_times", "performance_ratios", "performance_profile", "profile_score", "trapezoid_score",
    "profile_breakpoints", "study_times", "profile_table", "profile_figure", "ALGOPERF_TAU_MAX",
]

#: AlgoPerf integrates the profile up to τ = 4 (a method > 4× slower than the best gets nothing)
ALGOPERF_TAU_MAX = 4.0


def as_times(times) -> np.ndarray:
    """``times`` as a float array ``(S, P)``: NaN → ``inf`` (a failure); checked to be positive.

    Raises ``ValueError`` (in Russian) for a table that is not 2-D, is empty, or holds a time ≤ 0.
    """
    try:
        arr = np.array(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("Таблица времён должна состоять из чисел (inf или NaN — цель не достигнута).") from None
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"Таблица времён должна быть двумерной (методы × задачи) и непустой, получена форма "
                         f"{arr.shape}.")
    arr[np.isnan(arr)] = np.inf
    if (arr <= 0).any():
        raise ValueError("Время до цели должно быть положительным (шаги, секунды…); получено значение ≤ 0 — "
                         "если цель достигнута сразу, считайте это одним шагом.")
    return arr


def performance_ratios(times) -> np.ndarray:
    r""":math:`r_{s,p} = t_{s,p} / \min_{s'} t_{s',p}`, ``(S, P)``; ``inf`` where ``s`` failed or nobody solved ``p``."""
    t = as_times(times)
    best = t.min(axis=0, keepdims=True)
    solved = np.isfinite(best)
    with np.errstate(invalid="ignore"):
        r = np.where(solved & np.isfinite(t), t / np.where(solved, best, 1.0), np.inf)
    return r


def performance_profile(times, taus) -> np.ndarray:
    r""":math:`\rho_s(\tau)` for every method and every ``tau`` in ``taus``: an array ``(S, len(taus))``."""
    r = performance_ratios(times)
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    if np.isnan(taus).any():
        raise ValueError("Значения τ не должны содержать NaN.")
    hit = np.isfinite(r)[:, :, None] & (r[:, :, None] <= taus[None, None, :])   # a failure never counts, not even at τ = ∞
    return hit.mean(axis=1)


def profile_score(times, tau_max: float = ALGOPERF_TAU_MAX) -> np.ndarray:
    r"""The AlgoPerf score :math:`B_s`: the exact normalised area under :math:`\rho_s` on :math:`[1, \tau_{\max}]`, ``(S,)``."""
    tau_max = float(check_range("tau_max", tau_max, 1.0, low_open=True))
    r = performance_ratios(times)
    inside = r <= tau_max
    part = np.where(inside, (tau_max - np.where(inside, r, tau_max)) / (tau_max - 1.0), 0.0)
    return part.mean(axis=1)


def trapezoid_score(times, tau_max: float = ALGOPERF_TAU_MAX, points: int = 2001) -> np.ndarray:
    r"""The same area by the trapezoid rule on ``points`` equally spaced τ in :math:`[1, \tau_{\max}]`.

    The profile is a step function, so the rule is off by at most :math:`h/(2(\tau_{\max}-1))` with
    :math:`h = (\tau_{\max}-1)/(\text{points}-1)` (half a grid cell per jump, jumps adding up to 1).
    """
    tau_max = float(check_range("tau_max", tau_max, 1.0, low_open=True))
    points = check_int("points", points, 2)
    taus = np.linspace(1.0, tau_max, points)
    rho = performance_profile(times, taus)
    h = taus[1] - taus[0]
    area = h * (rho[:, 1:] + rho[:, :-1]).sum(axis=1) / 2
    return area / (tau_max - 1.0)


def profile_breakpoints(times, tau_max: float | None = None) -> np.ndarray:
    """The sorted distinct finite ratios (where some profile jumps), with 1 first; up to ``tau_max`` if given."""
    r = performance_ratios(times)
    pts = np.unique(np.concatenate([[1.0], r[np.isfinite(r)]]))
    if tau_max is not None:
        pts = pts[pts <= tau_max]
    return pts


def study_times(trial_times, *, trials_axis: int = -1, studies_axis: int = -2) -> np.ndarray:
    """AlgoPerf external tuning: min over the trials of a study, then the median over the studies.

    ``trial_times[..., study, trial]`` (``inf`` — that trial never reached the target). A median over
    an even number of studies averages the two middle values (two failures give ``inf``).
    """
    t = np.asarray(trial_times, dtype=np.float64)
    if t.ndim < 2:
        raise ValueError("Нужен массив времён с осями «исследование» и «попытка» (хотя бы двумерный).")
    t = np.where(np.isnan(t), np.inf, t)
    t = np.moveaxis(t, (studies_axis, trials_axis), (-2, -1))
    return np.median(t.min(axis=-1), axis=-1)


def profile_table(times, methods: Sequence[str], tau_max: float = ALGOPERF_TAU_MAX) -> list[dict]:
    """Rows (Russian keys) sorted by the score: place, method, score, ρ(1), share solved."""
    t = as_times(times)
    if len(methods) != t.shape[0]:
        raise ValueError(f"Названий методов {len(methods)}, а строк в таблице времён {t.shape[0]}.")
    score = profile_score(t, tau_max)
    rho1 = performance_profile(t, [1.0])[:, 0]
    solved = np.isfinite(t).mean(axis=1)
    order = sorted(range(len(methods)), key=lambda i: (-score[i], i))
    return [{"Место": k + 1, "Метод": methods[i], f"Балл (τ_max = {tau_max:g})": round(float(score[i]), 4),
             "ρ(1): доля побед": round(float(rho1[i]), 3), "доля решённых задач": round(float(solved[i]), 3)}
            for k, i in enumerate(order)]


def profile_figure(times, methods: Sequence[str], *, tau_max: float = ALGOPERF_TAU_MAX, title: str | None = None,
                   colors: Sequence[str] | None = None, shade: bool = False):
    r"""Step plot of :math:`\rho_s(\tau)` on :math:`[1, \tau_{\max}]`, one line per method (legend: score).

    ``shade`` fills the area under each profile (the score is that area divided by
    :math:`\tau_{\max} - 1`).
    """
    import plotly.graph_objects as go

    from ..viz._plotly import LAYOUT_DEFAULTS
    from ..viz._style import color_for

    t = as_times(times)
    if len(methods) != t.shape[0]:
        raise ValueError(f"Названий методов {len(methods)}, а строк в таблице времён {t.shape[0]}.")
    tau_max = float(check_range("tau_max", tau_max, 1.0, low_open=True))
    xs = profile_breakpoints(t, tau_max)
    xs = np.append(xs, tau_max) if xs[-1] < tau_max else xs
    rho = performance_profile(t, xs)
    score = profile_score(t, tau_max)
    fig = go.Figure()
    for i, name in enumerate(methods):
        c = colors[i] if colors is not None else color_for(name, i)
        fig.add_trace(go.Scatter(x=xs, y=rho[i], mode="lines", line=dict(shape="hv", color=c, width=2.5),
                                 name=f"{name}: {score[i]:.3f}", fill="tozeroy" if shade else None,
                                 hovertemplate="τ = %{x:.3g}: ρ = %{y:.2f}<extra>" + name + "</extra>"))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=title or f"Профили производительности (в легенде — балл при τ_max = {tau_max:g})"),
                      xaxis=dict(title=dict(text="τ — во сколько раз медленнее лучшего"), range=[1, tau_max]),
                      yaxis=dict(title=dict(text="ρ(τ) — доля задач"), range=[-0.02, 1.02]), height=430)
    return fig

