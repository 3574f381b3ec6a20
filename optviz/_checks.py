"""Validation of user input with Russian error messages.

Every public constructor validates its hyperparameters here, in one place, so that a bad value
raises ``ValueError`` naming the parameter and the allowed range instead of producing NaNs later.
Hyperparameters may be Python numbers or tensors (a tensor of learning rates drives a whole grid
of runs at once, see :func:`optviz.run.run`); a tensor is valid when every element is.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

__all__ = [
    "check_range",
    "check_choice",
    "check_int",
    "check_probability_vector",
    "check_betas",
    "interval_text",
    "NonFiniteGradientError",
]


class NonFiniteGradientError(FloatingPointError):
    """Raised when a gradient contains NaN or inf (the step would corrupt the state)."""


def _fmt(x: float) -> str:
    if x == math.inf:
        return "∞"
    if x == -math.inf:
        return "−∞"
    return f"{x:g}"


def interval_text(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """Human-readable interval such as ``[0, 1)`` or ``(0, ∞)``."""
    left = "(" if (low_open or low == -math.inf) else "["
    right = ")" if (high_open or high == math.inf) else "]"
    return f"{left}{_fmt(low)}, {_fmt(high)}{right}"


def _values(value) -> list[float] | None:
    """All elements of ``value`` as floats, or None when it is not numeric."""
    if isinstance(value, (bool, str, bytes)):
        return None
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            return None
        return [float(v) for v in value.detach().reshape(-1).cpu().tolist()]
    if isinstance(value, Real):
        return [float(value)]
    try:  # numpy arrays and scalars
        import numpy as np

        arr = np.asarray(value, dtype=float)
        return [float(v) for v in arr.reshape(-1)]
    except (TypeError, ValueError):
        return None


def check_range(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
):
    """Return ``value`` unchanged if every element is a finite-or-allowed number in the interval.

    Raises ``ValueError`` in Russian otherwise, e.g.
    «Параметр lr должен лежать в [0, ∞), получено -0.1».
    NaN is always rejected; ±inf only where the interval's closed end is infinite (never, in practice).
    """
    interval = interval_text(low, high, low_open, high_open)
    vals = _values(value)
    if vals is None:
        raise ValueError(
            f"Параметр {name} должен быть числом из {interval}, получено {value!r} "
            f"(тип {type(value).__name__})."
        )
    for v in vals:
        ok = not math.isnan(v)
        ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        ok = ok and not math.isinf(v)
        if not ok:
            shown = value if len(vals) == 1 else f"{v!r} (один из элементов тензора)"
            raise ValueError(f"Параметр {name} должен лежать в {interval}, получено {shown}.")
    return value


def check_int(name: str, value, low: int = 0, high: float = math.inf):
    """Integer in ``[low, high]``; bools and floats are rejected."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"Параметр {name} должен быть целым числом из {interval_text(low, high, False, False)}, "
            f"получено {value!r}."
        )
    return check_range(name, value, low, high)


def check_choice(name: str, value, choices):
    """``value`` must be one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Параметр {name} должен быть одним из: {allowed}; получено {value!r}.")
    return value


def check_probability_vector(name: str, value, n: int | None = None, *, strict: bool = False) -> torch.Tensor:
    """A 1-D vector of non-negative entries summing to 1 (``strict``: all entries > 0).

    Returns it as a float64 tensor.
    """
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"Параметр {name} должен быть вектором вероятностей, получено {value!r}.") from None
    if t.dim() != 1:
        raise ValueError(
            f"Параметр {name} должен быть одномерным вектором вероятностей, получена форма {tuple(t.shape)}."
        )
    if n is not None and t.numel() != n:
        raise ValueError(f"Параметр {name} должен иметь длину {n} (число групп), получена длина {t.numel()}.")
    if not torch.isfinite(t).all():
        raise ValueError(f"Параметр {name} содержит NaN или inf.")
    if strict and (t <= 0).any():
        raise ValueError(f"Все элементы параметра {name} должны быть строго положительны.")
    if (t < 0).any():
        raise ValueError(f"Элементы параметра {name} должны быть неотрицательны, получено {t.tolist()}.")
    if abs(float(t.sum()) - 1.0) > 1e-6:
        raise ValueError(
            f"Элементы параметра {name} должны в сумме давать 1, получено {float(t.sum()):.6g}."
        )
    return t


def check_betas(betas, *, beta2_closed: bool = False) -> tuple:
    """A pair ``(beta1, beta2)`` with β₁ ∈ [0, 1) and β₂ ∈ [0, 1) (``beta2_closed``: [0, 1]).

    Errors name ``betas[0]`` / ``betas[1]``; returns the pair as a tuple (numbers or tensors kept).
    """
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"Параметр betas должен быть парой чисел (beta1, beta2), получено {betas!r}.")
    check_range("betas[0]", betas[0], 0.0, 1.0, high_open=True)
    check_range("betas[1]", betas[1], 0.0, 1.0, high_open=not beta2_closed)
    return tuple(betas)
