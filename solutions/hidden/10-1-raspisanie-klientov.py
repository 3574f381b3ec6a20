"""Ключ ответов упражнения 10-1 (расписание двух клиентов): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталон — план батчей optviz.data.TwoClientSchedule.plan (то, что берёт тренер); ожидаемые значения
считает проверяющий процесс. Названия и подсказки видит студент — входных данных в них нет.
"""

from types import SimpleNamespace

import numpy as np
import torch

from optviz.data import TwoClientSchedule
from optviz.grading import Check


def schedule_plan(n1, n2, batch_size, delay, epochs, alternate):
    """``[(client, batch indices), ...]`` of all the steps of ``epochs`` epochs (the trusted plan)."""
    clients = torch.as_tensor(np.r_[np.zeros(int(n1)), np.ones(int(n2))].astype(np.int64))
    train = SimpleNamespace(client=clients)
    schedule = TwoClientSchedule(int(delay), alternate)
    return [step for e in range(int(epochs)) for step in schedule.plan(train, e, int(batch_size), 0)]


def _ref_alternating_clients(n1, n2, batch_size, delay, epochs):
    return np.array([c for c, _ in schedule_plan(n1, n2, batch_size, delay, epochs, "batch")], dtype=np.int64)


def _ref_alternating_batch_sizes(n1, n2, batch_size, delay, epochs):
    return np.array([len(b) for _, b in schedule_plan(n1, n2, batch_size, delay, epochs, "batch")], dtype=np.int64)


def _ref_epoch_alternating_clients(n1, n2, batch_size, delay, epochs):
    return np.array([c for c, _ in schedule_plan(n1, n2, batch_size, delay, epochs, "epoch")], dtype=np.int64)


REFERENCES = {"alternating_clients": _ref_alternating_clients,
              "alternating_batch_sizes": _ref_alternating_batch_sizes,
              "epoch_alternating_clients": _ref_epoch_alternating_clients}

_rng = np.random.default_rng(1010)


def _sizes(batch_size: int) -> dict:
    n1, n2 = (int(v) for v in _rng.integers(3 * batch_size, 9 * batch_size, size=2))
    return dict(n1=n1, n2=n2, batch_size=batch_size)


_CASES = [
    # (label, inputs, weight)
    ("случайные размеры клиентов, задержка 3, 6 эпох", dict(**_sizes(16), delay=3, epochs=6), 2),
    ("без задержки: клиенты чередуются с первой эпохи", dict(n1=90, n2=37, batch_size=10, delay=0, epochs=3), 1),
    ("клиент 2 больше клиента 1", dict(n1=21, n2=50, batch_size=8, delay=1, epochs=4), 1),
    ("одинаковое число батчей у клиентов разного размера", dict(n1=120, n2=100, batch_size=64, delay=1, epochs=3), 1),
    ("размеры делятся на батч нацело", dict(n1=48, n2=24, batch_size=12, delay=2, epochs=5), 1),
    ("клиент 2 так и не подключился", dict(n1=33, n2=70, batch_size=5, delay=4, epochs=3), 1),
]

_HINTS = {
    "alternating_clients": "после подключения в эпохе 2·max(b₁, b₂) шагов, клиенты 0, 1, 0, 1, …; до него — "
                           "⌈n₁/batch⌉ шагов клиента 1",
    "alternating_batch_sizes": "больший (по числу батчей) клиент делает обычный проход с неполным последним "
                               "батчем, меньший — только полные батчи из повторных перемешиваний",
    "epoch_alternating_clients": "первая эпоха после задержки — клиента 2, затем эпохи чередуются; в эпохе "
                                 "клиента ⌈n_k/batch⌉ шагов",
}

CHECKS = [Check(task, label, "per_step", inputs, weight=w, steps=True, atol=0, hint=_HINTS[task])
          for task in _HINTS for label, inputs, w in _CASES]
