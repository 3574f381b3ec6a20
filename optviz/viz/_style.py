"""Shared look of every optviz figure: colours, Russian labels, number formatting, captions.

Titles and captions are *computed* from the parameters that produced a figure (never static text
that could contradict a slider): :func:`describe` turns a method name and its hyperparameters into
«Adam (η = 0.01, β₁ = 0.9)».
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "METHOD_COLORS", "PALETTE", "PARAM_SYMBOLS", "DIVERGED_TEXT", "color_for", "fmt_num", "describe",
    "log_levels", "method_label",
]

#: the course's colours per method: the same method has the same colour in every lecture
METHOD_COLORS = {
    "GD": "#1f77b4", "SGD": "#1f77b4", "Momentum": "#ff7f0e", "Nesterov": "#d62728",
    "Adagrad": "#2ca02c", "RMSProp": "#9467bd", "Adam": "#8c564b", "AdamW": "#e377c2",
    "Shampoo": "#17becf", "Muon": "#bcbd22", "L0L1GD": "#7f7f7f", "ALSO": "#d62728",
    "OptimisticMirrorProx": "#ff7f0e", "ERM": "#1f77b4",
}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]

#: how a hyperparameter is written in captions (Unicode, readable in plotly titles)
PARAM_SYMBOLS = {
    "lr": "η", "momentum": "β", "beta1": "β₁", "beta2": "β₂", "eps": "ε", "alpha": "α",
    "weight_decay": "λ", "L0": "L₀", "L1": "L₁", "pi_lr": "η_π", "pi_decay": "τ",
    "pi_temperature": "T", "dampening": "δ", "lr_decay": "δ", "period": "P", "batch_size": "b",
}

#: the label a diverging run gets on a plot
DIVERGED_TEXT = "расходится"

_RU_METHOD = {"GD": "GD", "SGD": "SGD", "L0L1GD": "(L₀, L₁)-GD", "OptimisticMirrorProx": "Mirror-Prox"}


def color_for(name: str, index: int = 0) -> str:
    """The course colour of a method (by class name), else the ``index``-th palette colour."""
    return METHOD_COLORS.get(name, PALETTE[index % len(PALETTE)])


def fmt_num(x, digits: int = 3) -> str:
    """Compact number for captions: 0.01, 0.9, 1e-08, 2.5e+03, 12, ∞."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "да" if x else "нет"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if v == int(v) and abs(v) < 1e5:
        return str(int(v))
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}g}"
    return f"{v:.{max(digits - 1, 1)}e}".replace("e-0", "e-").replace("e+0", "e+")


def method_label(name: str) -> str:
    return _RU_METHOD.get(name, name)


def describe(method: str, hyper: dict | None = None, keys=None) -> str:
    """«Adam (η = 0.01, β₁ = 0.9)» from a method name and its (scalar) hyperparameters.

    ``keys`` selects and orders the hyperparameters shown (default: all scalar ones). ``betas``
    is shown as β₁, β₂; array-valued entries (grids) are skipped.
    """
    hyper = dict(hyper or {})
    if "betas" in hyper and np.ndim(hyper["betas"]) == 1 and len(hyper["betas"]) == 2:
        hyper["beta1"], hyper["beta2"] = hyper.pop("betas")
    parts = []
    for k in (keys if keys is not None else list(hyper)):
        if k not in hyper or np.ndim(hyper[k]) > 0:
            continue
        v = hyper[k]
        if isinstance(v, (bool, np.bool_)):
            if v:
                parts.append(k)
            continue
        if not isinstance(v, (int, float, np.number)):
            continue
        parts.append(f"{PARAM_SYMBOLS.get(k, k)} = {fmt_num(v)}")
    label = method_label(method)
    return f"{label} ({', '.join(parts)})" if parts else label


def log_levels(z, n: int = 20, floor: float | None = None) -> np.ndarray:
    """``n`` log-spaced contour levels between the smallest positive and the largest finite value.

    For functions with negative values the levels are log-spaced in ``z − min(z)``, then shifted back.
    """
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if z.size == 0:
        return np.linspace(0.0, 1.0, n)
    lo, hi = float(z.min()), float(z.max())
    shift = 0.0 if lo > 0 else lo
    span_hi = hi - shift
    span_lo = floor if floor is not None else max(span_hi * 1e-6, np.finfo(float).tiny)
    pos = (z - shift)[(z - shift) > 0]
    if pos.size:
        span_lo = max(span_lo, float(pos.min()))
    if span_hi <= span_lo:
        return np.linspace(lo, hi if hi > lo else lo + 1.0, n)
    return shift + np.geomspace(span_lo, span_hi, n)
