"""A small least-recently-used cache shared by the figure builders and the explorers.

``LRUCache(maxsize).get_or_compute(key, compute)`` returns the cached value of ``key`` (and marks it
as the most recently used) or calls ``compute()``, stores its result and drops the least recently
used entries beyond ``maxsize``. Cached values are shared between callers: treat them as read-only.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRUCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class LRUCache(Generic[K, V]):
    """At most ``maxsize`` values by key, evicting the least recently used one first.

    A hit moves the key to the most recent end; a miss calls ``compute()`` once, stores the result
    and evicts the oldest entries beyond ``maxsize`` (``maxsize = 0`` stores nothing). If
    ``compute`` raises, nothing is stored.
    """

    def __init__(self, maxsize: int):
        try:
            size = operator.index(maxsize)
        except TypeError:
            size = None
        if size is None or isinstance(maxsize, bool) or size < 0:
            raise ValueError(f"Размер кэша maxsize должен быть целым числом ≥ 0, получено {maxsize!r}.")
        self.maxsize = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value of ``key``: from the cache (a hit), else ``compute()``, stored (a miss)."""
        value = self._data.get(key, _MISSING)
        if value is not _MISSING:
            self._data.move_to_end(key)
            return value
        value = compute()
        self._data[key] = value
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        """Whether ``key`` is cached (does not count as a use)."""
        return key in self._data

    def keys(self) -> list:
        """The cached keys, from the least to the most recently used."""
        return list(self._data)

    def clear(self) -> None:
        """Drop every entry."""
        self._data.clear()

    def __repr__(self) -> str:
        return f"LRUCache(maxsize={self.maxsize}, size={len(self._data)})"
