"""Cost of a full training step (forward + backward + optimizer step) of a small CNN.

Every optviz method is timed side by side with ``torch.optim.AdamW(foreach=True)`` in one run:
the methods take turns within each repetition (the order rotates between repetitions), each
turn is a block of steps after a warm-up, and the reported ratio is the median over repetitions
of the per-repetition ratio to AdamW (paired, so slow drifts of the machine cancel). Absolute
times are medians too. Nothing here is asserted in tests.

Usage: ``python -m benchmarks.bench_train_step`` (prints a Markdown section).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

BATCH = 128
N_CLASSES = 10
SIDE = 8
# One thread: on a small shared machine several OpenMP threads make timings swing by 10× whenever
# another process runs; a single thread keeps the comparison stable (override: OPTVIZ_BENCH_THREADS).
THREADS = int(os.environ.get("OPTVIZ_BENCH_THREADS", "1"))
WARMUP_STEPS = 5
STEPS_PER_BLOCK = 10
REPEATS = {"cpu": 30, "cuda": 30}


def make_cnn() -> nn.Module:
    """2 conv layers (3×3, 16 and 32 channels), max-pooling, then a linear layer, on 1×8×8 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),                                 # 32·4·4 = 512
        nn.Linear(32 * 4 * 4, N_CLASSES),
    )


@dataclass
class Method:
    name: str
    target: str
    build: Callable  # params -> optimizer
    weighted: bool = False  # ALSO's protocol: per-sample losses weighted by the optimizer


def _methods() -> tuple[list[Method], list[str]]:
    """The compared methods; optional ones that cannot be imported are reported as notes."""
    from optviz.optim.adaptive import Adam, AdamW

    methods = [
        Method("torch.optim.AdamW (foreach=True)", "база", lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True)),
        Method("optviz AdamW", "≤ 1.10×", lambda ps: AdamW(ps, lr=1e-3)),
        Method("optviz Adam", "≤ 1.10×", lambda ps: Adam(ps, lr=1e-3)),
    ]
    notes = []
    try:
        from optviz.optim.also import ALSO

        methods.append(Method("optviz ALSO", "≤ 1.15×", lambda ps: ALSO(ps, n_groups=N_CLASSES, lr=1e-3),
                              weighted=True))
    except Exception as exc:  # noqa: BLE001 - the module may not exist yet
        notes.append(f"optviz ALSO пропущен: импорт не удался ({type(exc).__name__}: {exc}).")
    try:
        from optviz.optim.shampoo import Shampoo

        methods.append(Method("optviz Shampoo", "записываем", lambda ps: Shampoo(ps, lr=1e-3)))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"optviz Shampoo пропущен: импорт не удался ({type(exc).__name__}: {exc}).")
    return methods, notes


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Runner:
    """One model + optimizer; ``block(k)`` runs k training steps and returns seconds per step."""

    def __init__(self, method: Method, init_state: dict, x: torch.Tensor, y: torch.Tensor):
        self.method = method
        self.model = make_cnn().to(x.device)
        self.model.load_state_dict(init_state)
        self.opt = method.build(self.model.parameters())
        self.x, self.y = x, y

    def step(self) -> None:
        opt, model = self.opt, self.model
        opt.zero_grad(set_to_none=True)
        if self.method.weighted:
            losses = F.cross_entropy(model(self.x), self.y, reduction="none")
            opt.weighted_loss(losses, groups=self.y).backward()
        else:
            F.cross_entropy(model(self.x), self.y).backward()
        opt.step()

    def block(self, k: int) -> float:
        _sync(self.x.device)
        start = time.perf_counter()
        for _ in range(k):
            self.step()
        _sync(self.x.device)
        return (time.perf_counter() - start) / k


def measure(device: torch.device, repeats: int) -> tuple[list[tuple[Method, float, float, float]], list[str]]:
    """Rows (method, median ms per step, median paired ratio to AdamW, its IQR/2) and notes."""
    methods, notes = _methods()
    torch.manual_seed(0)
    init_state = make_cnn().state_dict()
    x = torch.randn(BATCH, 1, SIDE, SIDE, device=device)
    y = torch.randint(0, N_CLASSES, (BATCH,), device=device)
    runners, warm = [], []
    for m in methods:
        try:
            r = _Runner(m, {k: v.to(device) for k, v in init_state.items()}, x, y)
            warm.append(r.block(WARMUP_STEPS))
            runners.append(r)
        except Exception as exc:  # noqa: BLE001 - an optional method failing must not hide the others
            notes.append(f"{m.name} пропущен: ошибка при запуске ({type(exc).__name__}: {exc}).")
    # a method much slower than AdamW gets shorter blocks (times are per step), to bound the run time
    block = {id(r): max(2, min(STEPS_PER_BLOCK, round(STEPS_PER_BLOCK * warm[0] / w))) for r, w in zip(runners, warm)}
    times = {id(r): [] for r in runners}
    for rep in range(repeats):
        shift = rep % len(runners)
        for r in runners[shift:] + runners[:shift]:  # rotate the order between repetitions
            times[id(r)].append(r.block(block[id(r)]))
    base = times[id(runners[0])]
    rows = []
    for r in runners:
        ratios = [t / b for t, b in zip(times[id(r)], base)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        rows.append((r.method, 1e3 * statistics.median(times[id(r)]), statistics.median(ratios), (q3 - q1) / 2))
    return rows, notes


def _table(device: torch.device, rows, notes) -> str:
    lines = [
        f"### {device.type.upper()}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "",
        "| метод | мс на шаг (медиана) | отношение к AdamW (медиана ± IQR/2) | цель |",
        "|---|---:|---:|---|",
    ]
    for method, ms, ratio, spread in rows:
        lines.append(f"| {method.name} | {ms:.2f} | {ratio:.3f} ± {spread:.3f} | {method.target} |")
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines).rstrip()


def main(device=None) -> str:
    """Markdown section with the step-time table on CPU (and on CUDA when available or requested)."""
    devices = [torch.device(device)] if device is not None else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    old_threads = torch.get_num_threads()
    threads = min(THREADS, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    try:
        parts = [
            "## Шаг обучения: forward + backward + шаг оптимизатора",
            "",
            f"Свёрточная сеть (2 свёртки 3×3 на 16 и 32 канала, max-pool, линейный слой 512→10), вход 1×{SIDE}×{SIDE}, "
            f"батч {BATCH}, случайные данные, float32; потоков torch: {threads}. Методы чередуются внутри каждого "
            f"повтора (порядок сдвигается), в повторе — блок из {STEPS_PER_BLOCK} шагов (у методов, которые намного "
            f"медленнее AdamW, — короче, не меньше 2) после {WARMUP_STEPS} шагов разогрева; отношение — медиана по "
            "повторам отношения ко времени шага AdamW из того же повтора.",
        ]
        for dev in devices:
            rows, notes = measure(dev, REPEATS.get(dev.type, 20))
            parts += ["", _table(dev, rows, notes)]
        return "\n".join(parts)
    finally:
        torch.set_num_threads(old_threads)


if __name__ == "__main__":
    print(main())
