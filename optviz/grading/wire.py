"""The wire format between the grader and the sandboxed student process: tagged JSON, never pickle.

Both directions carry *plain data* only, with its Python type kept (a driver may care whether it
passes a tuple or a list, an ``int64`` array or a float one):

==================  =======================================================
value               JSON
==================  =======================================================
None, bool, int,    the JSON value itself (floats may be ``NaN``/``Infinity``)
float, str
list                a JSON list
tuple               ``{"t": [...]}``
dict                ``{"m": [[key, value], ...]}`` (keys: str or int)
NumPy array         ``{"a": dtype, "s": shape, "d": flat list}``
NumPy scalar        ``{"n": dtype, "v": value}``
torch tensor        ``{"T": dtype, "s": shape, "d": flat list}``
callable            ``{"f": handle}`` (grader → student only: a callback)
==================  =======================================================

:func:`dump` is used on both sides; :func:`load` validates everything it reads (the student's side
is untrusted): allowed dtypes only, bounded depth and size, shapes consistent with the data.
Whatever the student's function returns is turned into such data *in the student's process*: an
object that lies (``__eq__``, ``__array__``, a subclass) can only lie about itself, and the grader
compares the plain numbers it receives.
"""

from __future__ import annotations

import json

import numpy as np

__all__ = ["WireError", "dump", "load", "to_plain", "MAX_ITEMS", "MAX_DEPTH", "MAX_LINE"]

MAX_DEPTH = 12
MAX_ITEMS = 4_000_000          # numbers in one message
MAX_LINE = 64 * 1024 * 1024    # bytes in one message

_DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
_TORCH_DTYPES = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"}


class WireError(ValueError):
    """A message that is not valid plain data (the text is Russian and names no value)."""


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def to_plain(value, callbacks: list | None = None, _depth: int = 0, _count: list | None = None):
    """``value`` as JSON-ready tagged data; ``callbacks`` collects callables (else they are refused)."""
    count = _count if _count is not None else [0]
    if _depth > MAX_DEPTH:
        raise WireError("значение слишком глубоко вложено")
    count[0] += 1
    if count[0] > MAX_ITEMS:
        raise WireError("значение слишком большое")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.ndarray):
        dt = _dtype_name(value.dtype)
        if dt not in _DTYPES:
            if np.issubdtype(value.dtype, np.floating):
                value, dt = value.astype(np.float64), "float64"
            elif np.issubdtype(value.dtype, np.integer):
                value, dt = value.astype(np.int64), "int64"
            else:
                raise WireError(f"массив с типом элементов {value.dtype} не поддерживается")
        return _array("a", dt, value.shape, np.asarray(value).reshape(-1).tolist, count)
    if isinstance(value, np.generic):
        dt = _dtype_name(value.dtype)
        if dt not in _DTYPES:
            raise WireError(f"число типа {value.dtype} не поддерживается")
        return {"n": dt, "v": value.item()}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, tuple):
        return {"t": [to_plain(v, callbacks, _depth + 1, count) for v in value]}
    if isinstance(value, list):
        return [to_plain(v, callbacks, _depth + 1, count) for v in value]
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if type(k) is not str and (type(k) is not int):
                if isinstance(k, str):
                    k = str(k)
                elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                    k = int(k)
                else:
                    raise WireError("ключи словаря должны быть строками или целыми числами")
            items.append([k, to_plain(v, callbacks, _depth + 1, count)])
        return {"m": items}
    if _is_tensor(value):
        t = value.detach().cpu()
        dt = _dtype_name(t.dtype)
        if dt not in _TORCH_DTYPES:
            raise WireError(f"тензор с типом элементов {t.dtype} не поддерживается")
        flat = t.reshape(-1)
        return _array("T", dt, t.shape, flat.float().tolist if dt == "bfloat16" else flat.tolist, count)
    if callable(value) and callbacks is not None:
        callbacks.append(value)
        return {"f": len(callbacks) - 1}
    raise WireError(f"значение типа {type(value).__name__} не является числом, массивом или их набором")


def _array(tag: str, dt: str, shape, flat_list, count: list) -> dict:
    """``{tag: dtype, "s": shape, "d": flat data}``; ``flat_list()`` is called only within the size limit."""
    size = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    if size + count[0] > MAX_ITEMS:
        raise WireError("массив слишком большой")
    count[0] += size
    return {tag: dt, "s": [int(n) for n in shape], "d": flat_list()}


def _is_tensor(value) -> bool:
    mod = type(value).__module__ or ""
    return mod.startswith("torch") and hasattr(value, "detach") and hasattr(value, "cpu")


def dump(value, callbacks: list | None = None) -> str:
    """One JSON line of ``value`` (see :func:`to_plain`)."""
    return json.dumps(to_plain(value, callbacks), allow_nan=True, separators=(",", ":"))


def _numbers(data, dt: str, n: int) -> list:
    if not isinstance(data, list) or len(data) != n:
        raise WireError("размер данных не совпадает с формой")
    if dt == "bool":
        if not all(type(v) is bool for v in data):
            raise WireError("неверные данные логического массива")
    elif dt.startswith(("int", "uint")):
        if not all(type(v) is int for v in data):
            raise WireError("неверные данные целочисленного массива")
    elif not all(type(v) in (int, float) for v in data):
        raise WireError("неверные данные массива")
    return data


def _shape(shape) -> tuple:
    if not isinstance(shape, list) or len(shape) > 32 or not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("неверная форма массива")
    return tuple(shape)


def from_plain(data, callback=None, _depth: int = 0, _count: list | None = None):
    """Inverse of :func:`to_plain` with validation; ``callback(handle)`` builds a callable for ``{"f": k}``
    (``None``: callables are refused)."""
    count = _count if _count is not None else [0]
    if _depth > MAX_DEPTH:
        raise WireError("слишком глубокая вложенность")
    count[0] += 1
    if count[0] > MAX_ITEMS:
        raise WireError("значение слишком большое")
    if data is None or type(data) in (bool, int, float, str):
        if type(data) is int and abs(data) > 2**63:
            raise WireError("слишком большое целое число")
        return data
    if isinstance(data, list):
        return [from_plain(v, callback, _depth + 1, count) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise WireError("неизвестный вид значения")
    if "t" in data and len(data) == 1 and isinstance(data["t"], list):
        return tuple(from_plain(v, callback, _depth + 1, count) for v in data["t"])
    if "m" in data and len(data) == 1 and isinstance(data["m"], list):
        out = {}
        for item in data["m"]:
            if not isinstance(item, list) or len(item) != 2 or type(item[0]) not in (str, int):
                raise WireError("неверная запись словаря")
            out[item[0]] = from_plain(item[1], callback, _depth + 1, count)
        return out
    if "a" in data or "T" in data:
        tag = "a" if "a" in data else "T"
        dt = data.get(tag)
        if set(data) != {tag, "s", "d"} or dt not in (_DTYPES if tag == "a" else _TORCH_DTYPES):
            raise WireError("неверное описание массива")
        shape = _shape(data["s"])
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if n + count[0] > MAX_ITEMS:
            raise WireError("массив слишком большой")
        count[0] += n
        flat = _numbers(data["d"], dt, n)
        if tag == "a":
            return np.array(flat, dtype=dt).reshape(shape)
        import torch

        t = torch.tensor(flat, dtype=torch.float32 if dt == "bfloat16" else getattr(torch, dt))
        return t.reshape(shape).to(getattr(torch, dt))
    if "n" in data:
        dt = data["n"]
        if set(data) != {"n", "v"} or dt not in _DTYPES:
            raise WireError("неверное описание числа")
        v = _numbers([data["v"]], dt, 1)[0]
        return np.array(v, dtype=dt)[()]
    if "f" in data and len(data) == 1 and type(data["f"]) is int:
        if callback is None:
            raise WireError("функции в ответе не допускаются")
        return callback(data["f"])
    raise WireError("неизвестный вид значения")


def load(line: str | bytes, callback=None):
    """The value of one JSON line written by :func:`dump` (validated; :class:`WireError` otherwise)."""
    if len(line) > MAX_LINE:
        raise WireError("сообщение слишком большое")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise WireError("сообщение не читается") from None
    return from_plain(data, callback)

