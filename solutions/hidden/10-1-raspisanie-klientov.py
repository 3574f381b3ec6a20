"""Скрытые тесты упражнения 10-1 (расписание двух клиентов).

Не копируются в exercises/ и в выпуск. Ожидаемые значения считает проверяющий процесс эталоном
(optviz.data.TwoClientSchedule.plan) из optviz.grading.tasks.ex10_1. Названия и подсказки видит
студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check

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
