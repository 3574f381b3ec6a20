"""LRUCache: hits, misses, eviction of the least recently used entry, one compute per key."""

import pytest

from optviz._cache import LRUCache


class Counter:
    """``compute`` callables that record how often each key was computed."""

    def __init__(self):
        self.calls = []

    def __call__(self, key):
        def compute():
            self.calls.append(key)
            return f"value of {key}"

        return compute


def test_miss_computes_and_hit_returns_the_stored_object():
    cache = LRUCache(4)
    count = Counter()
    first = cache.get_or_compute("a", count("a"))
    assert first == "value of a" and count.calls == ["a"]
    assert "a" in cache and "b" not in cache and len(cache) == 1
    again = cache.get_or_compute("a", count("a"))
    assert again is first and count.calls == ["a"]          # a hit: compute not called again


def test_compute_called_once_per_key():
    cache = LRUCache(8)
    count = Counter()
    for key in ["a", "b", "a", "c", "b", "a", "c", "c"]:
        assert cache.get_or_compute(key, count(key)) == f"value of {key}"
    assert count.calls == ["a", "b", "c"]
    assert len(cache) == 3


def test_evicts_the_oldest_beyond_maxsize():
    cache = LRUCache(2)
    count = Counter()
    for key in ["a", "b", "c"]:
        cache.get_or_compute(key, count(key))
    assert len(cache) == 2 and "a" not in cache and cache.keys() == ["b", "c"]
    cache.get_or_compute("a", count("a"))                     # evicted: computed again
    assert count.calls == ["a", "b", "c", "a"] and cache.keys() == ["c", "a"]


def test_hit_makes_the_key_most_recent():
    cache = LRUCache(2)
    count = Counter()
    cache.get_or_compute("a", count("a"))
    cache.get_or_compute("b", count("b"))
    cache.get_or_compute("a", count("a"))                     # a hit: "a" is now the most recent
    assert cache.keys() == ["b", "a"]
    cache.get_or_compute("c", count("c"))                     # evicts "b", the least recently used
    assert cache.keys() == ["a", "c"] and "b" not in cache
    assert count.calls == ["a", "b", "c"]


def test_contains_does_not_count_as_a_use():
    cache = LRUCache(2)
    count = Counter()
    cache.get_or_compute("a", count("a"))
    cache.get_or_compute("b", count("b"))
    assert "a" in cache
    cache.get_or_compute("c", count("c"))
    assert cache.keys() == ["b", "c"]


def test_falsy_and_none_values_are_cached():
    cache = LRUCache(2)
    calls = []
    for _ in range(3):
        assert cache.get_or_compute("none", lambda: calls.append(1)) is None
    assert calls == [1]


def test_failed_compute_stores_nothing():
    cache = LRUCache(2)

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        cache.get_or_compute("a", boom)
    assert "a" not in cache and len(cache) == 0
    assert cache.get_or_compute("a", lambda: 1) == 1


def test_maxsize_zero_computes_every_time():
    cache = LRUCache(0)
    calls = []
    for _ in range(3):
        assert cache.get_or_compute("a", lambda: calls.append(1) or 7) == 7
    assert calls == [1, 1, 1] and len(cache) == 0


def test_clear():
    cache = LRUCache(3)
    for key in "abc":
        cache.get_or_compute(key, lambda: 0)
    cache.clear()
    assert len(cache) == 0 and cache.keys() == []


@pytest.mark.parametrize("size", [-1, 1.5, "3", None, True])
def test_rejects_bad_maxsize(size):
    with pytest.raises(ValueError, match="maxsize"):
        LRUCache(size)


def test_module_caches_keep_their_sizes():
    from optviz.viz import regime as viz_regime
    from optviz.viz import trajectories
    from optviz.widgets import l0l1, race, regime, restarts

    sizes = {
        trajectories._GRID_CACHE: 16, trajectories._CONTOUR_CACHE: 16, trajectories._LINES_CACHE: 16,
        viz_regime._HOVER_CACHE: 8, l0l1._GD_CACHE: 16, race._RUN_CACHE: 128, regime._GRID_CACHE: 12,
        restarts._CACHE: 32,
    }
    for cache, size in sizes.items():
        assert isinstance(cache, LRUCache) and cache.maxsize == size


def test_contour_grid_is_cached_and_read_only():
    from optviz.problems.toys import Quadratic
    from optviz.viz.trajectories import _GRID_CACHE, contour_grid

    q = Quadratic(kappa=7.0, angle_deg=13.0)
    first = contour_grid(q, 21)
    assert contour_grid(Quadratic(kappa=7.0, angle_deg=13.0), 21) is first    # same key: the stored tuple
    assert len(_GRID_CACHE) <= 16
    for a in first:
        assert not a.flags.writeable
