"""Batched loss-plane evaluation against the naive loop (load weights, evaluate) on a 41×41 grid.

The model is a ReLU MLP 64 → 32 → 10 on scikit-learn's digits (all 1797 samples), the plane is
spanned by two filter-normalised directions with α, β ∈ [−1, 1]. The naive reference loads the
weights :math:`w_0 + α d_1 + β d_2` into the model with ``load_state_dict`` and runs a forward
pass for every grid point — what one writes first. ``optviz.landscape.loss_plane`` forms a chunk
of grid points as a batch of weight tensors and evaluates it with ``torch.func.functional_call``
under ``torch.vmap``.

Both run in turn inside every repetition (the order alternates), and the reported times are
medians over repetitions, the ratio the median of the per-repetition ratios, so that slow drifts
of a shared machine cancel. Nothing here is asserted in tests.

Usage: ``python -m benchmarks.bench_landscape`` (prints a Markdown section).
"""

from __future__ import annotations

import copy
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from optviz.landscape import digits_data, digits_mlp, loss_plane, random_directions

SIDE = 41
HIDDEN = (32,)
REPEATS = int(os.environ.get("OPTVIZ_BENCH_LANDSCAPE_REPEATS", "3"))
# One thread, as in bench_train_step: several OpenMP threads on a small shared machine make the
# timings swing whenever another process runs (override: OPTVIZ_BENCH_THREADS).
THREADS = int(os.environ.get("OPTVIZ_BENCH_THREADS", "1"))
TARGET = 10.0
SUBSET = 128  # the overhead-dominated regime: a fixed random subset of the samples


def naive_plane(model, x, y, directions, alphas, betas) -> np.ndarray:
    """``loss[j, i]`` by loading the weights of every grid point into a copy of the model."""
    net = copy.deepcopy(model).eval()
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    d1, d2 = directions[0].tensors, directions[1].tensors
    out = np.empty((len(betas), len(alphas)))
    with torch.no_grad():
        for j, b in enumerate(betas):
            for i, a in enumerate(alphas):
                net.load_state_dict({n: w0[n] + float(a) * d1[n] + float(b) * d2[n] for n in w0})
                out[j, i] = F.cross_entropy(net(x), y).item()
    return out


def measure(n_samples: int | None = None, repeats: int = REPEATS) -> dict:
    """Interleaved timings of both methods on the 41×41 grid (``n_samples``: a fixed random subset)."""
    x, y = digits_data()
    subset = None
    if n_samples is not None:
        subset = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:n_samples].sort().values
        x, y = x[subset], y[subset]
    model = digits_mlp(HIDDEN, seed=0)
    directions = random_directions(model, 2, seed=0)
    grid = np.linspace(-1.0, 1.0, SIDE)

    def run_naive():
        start = time.perf_counter()
        loss = naive_plane(model, x, y, directions, grid, grid)
        return time.perf_counter() - start, loss

    def run_batched(vectorize):
        start = time.perf_counter()
        res = loss_plane(model, (x, y), directions, alphas=grid, betas=grid, progress=False, max_seconds=None,
                         vectorize=vectorize)
        return time.perf_counter() - start, res

    methods = {"naive": run_naive, "auto": lambda: run_batched("auto"), "vmap": lambda: run_batched(True)}
    run_batched(True)  # warm-up (first vmap call, allocator)
    times = {k: [] for k in methods}
    ratios = {k: [] for k in methods}
    diff, infos = 0.0, {}
    keys = list(methods)
    for rep in range(repeats):
        shift = rep % len(keys)
        results = {k: methods[k]() for k in keys[shift:] + keys[:shift]}  # rotate the order
        naive_loss = results["naive"][1]
        for k, (t, res) in results.items():
            times[k].append(t)
            ratios[k].append(results["naive"][0] / t)
            if k != "naive":
                diff = max(diff, float(np.max(np.abs(naive_loss - res.loss))))
                infos[k] = res.info
    return {
        "times": {k: statistics.median(v) for k, v in times.items()},
        "ratio": {k: statistics.median(v) for k, v in ratios.items()},
        "ratio_range": {k: (min(v), max(v)) for k, v in ratios.items()},
        "max_abs_diff": diff,
        "infos": infos,
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_samples": int(x.shape[0]),
    }


def main() -> str:
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        rows = [("все примеры", measure(None)), (f"подвыборка {SUBSET}", measure(SUBSET))]
    finally:
        torch.set_num_threads(threads)
    n = SIDE * SIDE
    full = rows[0][1]
    lines = [
        "## Ландшафт функции потерь: сетка батчами против наивного цикла",
        "",
        f"MLP 64 → {' → '.join(map(str, HIDDEN))} → 10 ({full['n_params']} параметров) на digits, сетка "
        f"{SIDE}×{SIDE} = {n} точек, два фильтр-нормированных направления, α, β ∈ [−1, 1], float32, "
        f"потоков torch: {THREADS}. Наивный цикл: `load_state_dict` и прямой проход для каждой точки. "
        "`loss_plane` — по умолчанию (`vectorize=\"auto\"`: vmap или цикл `functional_call`, что быстрее "
        "на двух пробных кусках) и с `vectorize=True` (всегда `torch.vmap` по кускам сетки). "
        f"Медианы по {REPEATS} повторам, порядок по кругу; ускорение — медиана отношений в повторах.",
        "",
        "| данные | примеров | способ | точек за вызов | время сетки, с | ускорение (мин–макс) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    labels = {"naive": "наивный цикл", "auto": "loss_plane (auto)", "vmap": "loss_plane (vmap)"}
    for label, r in rows:
        for k in ("naive", "auto", "vmap"):
            info = r["infos"].get(k)
            how = labels[k] + ("" if info is None or k != "auto" else f" → {'vmap' if info.vectorized else 'цикл'}")
            lo, hi = r["ratio_range"][k]
            speed = "—" if k == "naive" else f"**{r['ratio'][k]:.2f}×** ({lo:.2f}–{hi:.2f})"
            chunk = "—" if info is None else info.chunk_size
            lines.append(f"| {label} | {r['n_samples']} | {how} | {chunk} | {r['times'][k]:.2f} | {speed} |")
    worst = max(r["max_abs_diff"] for _, r in rows)
    best = max(full["ratio"]["auto"], full["ratio"]["vmap"])
    lines += [
        "",
        f"- цель ≥ {TARGET:g}× на всех примерах: {'да' if best >= TARGET else 'нет'} (получено {best:.2f}×); "
        f"наибольшее расхождение с наивным циклом {worst:.1e}, цель ≤ 1e-5: {'да' if worst <= 1e-5 else 'нет'}.",
        "- На всех 1797 примерах точка сетки стоит 2·1797·(64·32 + 32·10) ≈ 8.5 MFLOP, и на CPU все способы "
        "упираются в одни и те же матричные умножения: обработка батчами убирает только накладные расходы "
        "на точку (загрузку весов, вызовы модулей), а они здесь малы; vmap к тому же не сливает сдвиг и ReLU "
        "с умножением. Выигрыш появляется там, где накладные расходы заметны: на подвыборке данных и на GPU.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
