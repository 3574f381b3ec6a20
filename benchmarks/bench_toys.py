"""Speed of :func:`optviz.run.run` on toys against bare NumPy loops doing the same arithmetic.

Two workloads a slider triggers: one 300-step trajectory on Rosenbrock for each of six methods, and
a 40×40 (lr × momentum) map of 200-step SGD runs. Each is timed as a median over repeats, the
optviz call and its NumPy twin interleaved in the same loop (same machine state). The NumPy loops
are written here, independently, and their final points are compared with the traces.

Run: ``python -m benchmarks.bench_toys`` (or ``make bench`` for all benchmarks).
"""

from __future__ import annotations

import importlib
import statistics
import time

import numpy as np
import torch

from optviz.optim.sgd import SGD
from optviz.problems.toys import Rosenbrock
from optviz.run import run, run_grid

STEPS, REPEATS = 300, 9
MAP_STEPS, MAP_SIZE, MAP_REPEATS = 200, 40, 5
F = Rosenbrock()
X0 = F.start


def _grad(x):
    """Rosenbrock gradient (a = 1, b = 100) for points of shape (..., 2)."""
    u, v = x[..., 0], x[..., 1]
    w = v - u * u
    return np.stack([-2 * (1 - u) - 400 * u * w, 200 * w], -1)


# -- NumPy twins of the six update rules (torch semantics) --------------------------------------

def np_sgd(x, steps, lr, momentum=0.0):
    x, b = x.copy(), None
    for _ in range(steps):
        g = _grad(x)
        if momentum:
            b = g.copy() if b is None else momentum * b + g
            g = b
        x = x - lr * g
    return x


def np_adagrad(x, steps, lr, eps=1e-10):
    x, s = x.copy(), np.zeros_like(x)
    for _ in range(steps):
        g = _grad(x)
        s = s + g * g
        x = x - lr * g / (np.sqrt(s) + eps)
    return x


def np_rmsprop(x, steps, lr, alpha=0.99, eps=1e-8):
    x, v = x.copy(), np.zeros_like(x)
    for _ in range(steps):
        g = _grad(x)
        v = alpha * v + (1 - alpha) * g * g
        x = x - lr * g / (np.sqrt(v) + eps)
    return x


def np_adam(x, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    x, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
    for t in range(1, steps + 1):
        g = _grad(x)
        if decoupled:
            x = x * (1 - lr * weight_decay)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - (lr / (1 - b1**t)) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    return x


def np_sgd_map(x, steps, lr, momentum, box=1e6 * 2.0, center=(0.0, 1.0)):
    """Vectorised heavy-ball SGD over a grid, rows leaving the box frozen (as run does)."""
    lr, momentum = lr[:, None], momentum[:, None]
    x = np.repeat(x[None], len(lr), 0)
    b = None
    alive = np.ones(len(x), dtype=bool)
    c = np.asarray(center)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            g = _grad(x)
            ok = np.isfinite(g).all(-1) & (np.abs(x - c) <= box).all(-1)
            alive &= ok
            g = np.where(alive[:, None], g, 0.0)
            b = g.copy() if b is None else momentum * b + g
            x = np.where(alive[:, None], x - lr * b, x)
    return x


def _optviz(name, fallback):
    try:
        return getattr(importlib.import_module("optviz.optim.adaptive"), name), ""
    except (ImportError, AttributeError):
        return fallback, f" (torch.optim.{fallback.__name__}: optviz class missing)"


def _median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> str:
    adagrad, n1 = _optviz("Adagrad", torch.optim.Adagrad)
    rmsprop, n2 = _optviz("RMSProp", torch.optim.RMSprop)
    adam, n3 = _optviz("Adam", torch.optim.Adam)
    adamw, n4 = _optviz("AdamW", torch.optim.AdamW)
    cases = [
        ("SGD", SGD, dict(lr=1e-3), lambda: np_sgd(X0, STEPS, 1e-3), ""),
        ("SGD + импульс 0.9", SGD, dict(lr=1e-3, momentum=0.9), lambda: np_sgd(X0, STEPS, 1e-3, 0.9), ""),
        ("Adagrad", adagrad, dict(lr=0.5), lambda: np_adagrad(X0, STEPS, 0.5), n1),
        ("RMSProp", rmsprop, dict(lr=1e-2), lambda: np_rmsprop(X0, STEPS, 1e-2), n2),
        ("Adam", adam, dict(lr=5e-2), lambda: np_adam(X0, STEPS, 5e-2), n3),
        ("AdamW", adamw, dict(lr=5e-2, weight_decay=1e-2),
         lambda: np_adam(X0, STEPS, 5e-2, weight_decay=1e-2, decoupled=True), n4),
    ]
    rows = []
    for label, cls, hyper, twin, note in cases:
        trace = run(F, cls, X0, STEPS, **hyper)          # warm-up and correctness check
        diff = float(np.abs(trace.final[0] - twin()).max())
        t_ours, t_np = [], []
        for _ in range(REPEATS):                           # interleaved: same machine state
            t_ours.append(_median_ms(lambda: run(F, cls, X0, STEPS, **hyper), 1))
            t_np.append(_median_ms(twin, 1))
        a, b = statistics.median(t_ours), statistics.median(t_np)
        rows.append(f"| {label}{note} | {a:.1f} | {b:.2f} | {a / b:.1f}× | {diff:.1e} |")

    lrs = np.logspace(-5, -2.5, MAP_SIZE)
    moms = np.linspace(0.0, 0.99, MAP_SIZE)
    L, M = np.meshgrid(lrs, moms, indexing="ij")
    grid = run_grid(F, SGD, X0, MAP_STEPS, grid={"lr": lrs, "momentum": moms})
    twin_final = np_sgd_map(X0, MAP_STEPS, L.ravel(), M.ravel())
    alive = ~grid.trace.diverged
    diff = float(np.abs(grid.trace.final[alive] - twin_final[alive]).max())
    t_ours, t_np = [], []
    for _ in range(MAP_REPEATS):
        t_ours.append(_median_ms(lambda: run_grid(F, SGD, X0, MAP_STEPS, grid={"lr": lrs, "momentum": moms}), 1))
        t_np.append(_median_ms(lambda: np_sgd_map(X0, MAP_STEPS, L.ravel(), M.ravel()), 1))
    a, b = statistics.median(t_ours), statistics.median(t_np)
    rows.append(f"| карта {MAP_SIZE}×{MAP_SIZE} (lr × импульс), SGD, {MAP_STEPS} шагов, "
                f"расходящихся: {int(grid.trace.diverged.sum())} | {a:.1f} | {b:.2f} | {a / b:.1f}× | {diff:.1e} |")

    lines = [
        "## Тестовые функции: `optviz.run` против голого цикла NumPy",
        "",
        f"Функция Розенброка, старт ({X0[0]:g}, {X0[1]:g}), float64, потоков torch: {torch.get_num_threads()}. "
        f"Траектории — {STEPS} шагов, медиана по {REPEATS} повторам; карта — медиана по {MAP_REPEATS}. "
        "Вызов optviz и его NumPy-двойник чередуются в одном цикле. Последний столбец — максимальное "
        "расхождение конечных точек (для карты — по нерасходящимся запускам).",
        "",
        "| задача | optviz `run`, мс | NumPy, мс | отношение | max abs(Δ x_K) |",
        "|---|---:|---:|---:|---:|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
