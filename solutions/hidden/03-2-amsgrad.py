"""Скрытые тесты упражнения 03-2 (AMSGrad и пример Редди).

Не копируются в exercises/ и в выпуск. Ожидаемые значения считает проверяющий процесс эталонами
из optviz.grading.tasks.ex03_2 (torch.optim.Adam(amsgrad=True), reddi_race лекции, регрет, длинный
запуск torch.optim.Adam). Названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check

_rng = np.random.default_rng(20240302)


def _ams(d: int, k: int, **hyper):
    v = _rng.uniform(0.01, 2.0, d)
    v_max = v * _rng.uniform(0.5, 1.5, d)          # max remembers more on some coordinates, less on others
    return dict(x=_rng.standard_normal(d), grad=_rng.standard_normal(d) * 1.5, m=_rng.standard_normal(d) * 0.3,
                v=v, v_max=v_max, k=k, **hyper)


_G_SWITCH = np.concatenate([np.full(5, -1.0), np.full(12, 0.8), _rng.standard_normal(13)])

CHECKS = [
    Check("amsgrad_step", "первый шаг, вектор длины 5", "one_step",
          dict(x=_rng.standard_normal(5), grad=_rng.standard_normal(5), m=np.zeros(5), v=np.zeros(5),
               v_max=np.zeros(5), k=1, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8),
          hint="на первом шаге AMSGrad совпадает с Adam"),
    Check("amsgrad_step", "максимум по координатам", "one_step",
          _ams(6, 12, lr=0.05, beta1=0.9, beta2=0.99, eps=1e-8), weight=2,
          hint="v_max ← max(v_max, v_new) покоординатно; в знаменателе √v_max/√(1 − β₂ᵏ) + ε"),
    Check("amsgrad_step", "заметное ε, β₁ = 0", "one_step", _ams(4, 3, lr=0.1, beta1=0.0, beta2=0.9, eps=0.1),
          hint="ε прибавляется после коррекции смещения; v хранится без коррекции"),
    Check("reddi_run", "Adam, другое C, β₂ = 1/(1 + C²)", "online_run",
          dict(C=5.0, steps=200, lr=0.2, beta1=0.0, beta2=1.0 / 26.0, amsgrad=False), steps=True, weight=2,
          hint="шаг раунда t равен α/√t, после шага — проекция на [−1, 1]; первая точка — 0"),
    Check("reddi_run", "AMSGrad, другое C", "online_run",
          dict(C=5.0, steps=200, lr=0.2, beta1=0.0, beta2=1.0 / 26.0, amsgrad=True), steps=True, weight=2,
          hint="у AMSGrad знаменатель использует максимум всех прошлых v"),
    Check("reddi_run", "Adam со стандартными β", "online_run",
          dict(C=4.0, steps=150, lr=0.1, beta1=0.9, beta2=0.999, amsgrad=False), steps=True,
          hint="при β₁ > 0 нужны импульс и коррекция смещения 1 − β₁ᵗ с номером раунда t"),
    Check("average_regret", "случайные градиенты", "regret",
          dict(grads=_rng.standard_normal(40), xs=_rng.uniform(-1.0, 1.0, 40)), rtol=1e-9,
          hint="лучшая фиксированная точка — конец отрезка: min(Σg, −Σg)"),
    Check("average_regret", "сумма градиентов меняет знак", "regret",
          dict(grads=_G_SWITCH, xs=_rng.uniform(-1.0, 1.0, _G_SWITCH.size)), rtol=1e-9,
          hint="минимум min_x x·Σ_{t≤T} g_t пересчитывается для каждого T"),
    Check("average_regret", "один раунд", "regret", dict(grads=[2.0], xs=[0.25]), rtol=1e-9,
          hint="при T = 1: R_1 = g_1 x_1 + |g_1|"),
    Check("cycle_drift", "другое C, малое β₂", "drift", dict(C=5.0, beta2=0.05), rtol=1e-7,
          hint="установившиеся v₁, v₂, v₃ — с множителем (1 − β₂)/(1 − β₂³)"),
    Check("cycle_drift", "C близко к 2", "drift", dict(C=2.5, beta2=0.6), rtol=1e-7,
          hint="Δ = −C/√v₁ + 1/√v₂ + 1/√v₃ в единицах шага α"),
    Check("cycle_drift", "большое C, средняя память", "drift", dict(C=10.0, beta2=0.8), rtol=1e-7,
          hint="v₂ и v₃ помнят большой градиент с весами β₂ и β₂²"),
]
