"""Plain values between processes (JSON, never pickle) and their comparison with Russian messages.

:func:`encode` turns what a driver returned (numbers, NumPy arrays, torch tensors, lists, tuples,
dicts with string keys) into JSON-ready data; :func:`decode` turns that back into NumPy arrays and
Python numbers, validating every piece (it is fed by the untrusted child). :func:`compare` checks an
actual value against the expected one and explains the first difference in Russian.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import AnswerError

__all__ = ["encode", "decode", "normalise", "compare", "fmt"]

_MAX_DEPTH = 8
_MAX_ITEMS = 2_000_000


def encode(value, _depth: int = 0):
    """JSON-ready form of ``value`` (raises :class:`AnswerError` for anything that is not plain data)."""
    if _depth > _MAX_DEPTH:
        raise AnswerError("результат слишком глубоко вложен")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"__nd__": [], "dtype": "f", "data": [float(value)]}
    if isinstance(value, dict):
        return {"__map__": {str(k): encode(v, _depth + 1) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [encode(v, _depth + 1) for v in value]
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnswerError(f"значение типа {type(value).__name__} не является числом или массивом чисел") from None
    if arr.size > _MAX_ITEMS:
        raise AnswerError(f"результат слишком большой ({arr.size} чисел)")
    return {"__nd__": [int(s) for s in arr.shape], "dtype": "f", "data": [float(v) for v in arr.reshape(-1)]}


def decode(data, _depth: int = 0):
    """Inverse of :func:`encode`; validates the structure (``ValueError`` on anything malformed)."""
    if _depth > _MAX_DEPTH:
        raise ValueError("слишком глубокая вложенность")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, list):
        return [decode(v, _depth + 1) for v in data]
    if isinstance(data, dict):
        if "__map__" in data and isinstance(data["__map__"], dict):
            return {str(k): decode(v, _depth + 1) for k, v in data["__map__"].items()}
        shape, flat = data.get("__nd__"), data.get("data")
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ValueError("неверная форма массива")
        if not isinstance(flat, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise ValueError("неверные данные массива")
        if len(flat) != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("размер данных не совпадает с формой")
        arr = np.array(flat, dtype=np.float64).reshape(shape)
        return float(arr) if arr.ndim == 0 else arr
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    raise ValueError(f"неожиданный тип {type(data).__name__}")


def normalise(value):
    """The value as the parent sees it after the JSON round trip (same types for expected and actual)."""
    return decode(encode(value))


def fmt(value) -> str:
    """Short human form: 4 significant digits (``0.7016``, ``[0.7016, -1.2]``)."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return fmt(float(value))
        if value.size > 8:
            return f"массив формы {value.shape}"
        return "[" + ", ".join(fmt(v) for v in value.tolist()) + "]" if value.ndim == 1 else \
            "[" + ", ".join(fmt(np.asarray(v)) for v in value) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


def _error_text(a: np.ndarray, e: np.ndarray) -> str:
    """«относительная ошибка …», or «абсолютная ошибка …» where the expected values are zero."""
    a, e = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
    fa, fe = np.isfinite(a), np.isfinite(e)
    if (fa & ~fe).any():
        return "получено конечное число там, где ожидалась бесконечность или nan (провал, расходимость)"
    if (~fa & fe).any():
        return "получены nan/inf там, где ожидалось конечное число"
    with np.errstate(all="ignore"):
        diff = np.abs(a - e)
        nonzero = np.abs(e) > 1e-12
        rel = diff[nonzero] / np.abs(e[nonzero])
    rel, absolute = rel[np.isfinite(rel)], diff[~nonzero]
    absolute = absolute[np.isfinite(absolute)]
    if rel.size and rel.max() > 0:
        return f"относительная ошибка {float(rel.max()):.1e}"
    if absolute.size:
        return f"абсолютная ошибка {float(absolute.max()):.1e}"
    return "ошибка не определена: получены nan/inf"


def compare(expected, actual, *, rtol: float, atol: float, steps: bool = False, detail: bool = True,
            name: str = "") -> str | None:
    """``None`` when ``actual`` matches ``expected``; otherwise the first difference, in Russian.

    ``detail=False`` (hidden checks) never prints the expected values, only where they differ and by
    how much.
    """
    what = name or "результат"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{what}: ожидался набор значений, получено {type(actual).__name__}"
        for key, exp in expected.items():
            if key not in actual:
                return f"нет значения {key}"
            msg = compare(exp, actual[key], rtol=rtol, atol=atol, steps=steps, detail=detail, name=key)
            if msg:
                return msg
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{what}: ожидалась последовательность длины {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            msg = compare(e, a, rtol=rtol, atol=atol, steps=steps, detail=detail, name=f"{what}[{i}]")
            if msg:
                return msg
        return None
    if expected is None or isinstance(expected, (bool, str)):
        if actual != expected:
            return f"{what}: ожидалось {expected!r}, получено {actual!r}" if detail else f"{what}: неверное значение"
        return None
    e = np.asarray(expected, dtype=np.float64)
    if isinstance(actual, (dict, list, str)) or actual is None or isinstance(actual, bool):
        return f"{what}: ожидалось число или массив, получено значение типа {type(actual).__name__}"
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != e.shape:
        return f"{what}: ожидалась форма {e.shape}, получена {a.shape}"
    close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    if steps and e.ndim >= 1:
        k = int(np.argmax(~close.reshape(e.shape[0], -1).all(axis=1)))
        ek, ak = e[k], a[k]
        if detail:
            return f"шаг {k}: ожидалось {what} = {fmt(ek)}, получено {fmt(ak)}"
        return f"шаг {k} из {e.shape[0] - 1}: {what} не совпадает ({_error_text(ak, ek)})"
    if detail:
        return f"ожидалось {what} = {fmt(e if e.ndim else float(e))}, получено {fmt(a if a.ndim else float(a))}"
    if not np.isfinite(a).all() and np.isfinite(e).all():
        return f"{what}: получены nan/inf"
    return f"{what} не совпадает ({_error_text(a, e)})"
