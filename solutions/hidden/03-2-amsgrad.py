"""Ключ ответов упражнения 03-2 (AMSGrad и пример Редди): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — torch.optim.Adam(amsgrad=True), reddi_race лекции, регрет и длинный запуск torch.optim.Adam;
ожидаемые значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от
открытых; названия и подсказки проверок видит студент — входных данных в них нет.
"""

import math

import numpy as np
import torch

from optviz.course.lecture_03 import reddi_race
from optviz.grading import Check


def _ref_amsgrad_step(x, grad, m, v, v_max, k, lr, beta1, beta2, eps):
    p = torch.tensor(np.array(x, dtype=np.float64))
    p.grad = torch.tensor(np.array(grad, dtype=np.float64))
    opt = torch.optim.Adam([p], lr=float(lr), betas=(float(beta1), float(beta2)), eps=float(eps), amsgrad=True)
    st = opt.state[p]
    st["step"] = torch.tensor(float(int(k) - 1))
    for name, value in (("exp_avg", m), ("exp_avg_sq", v), ("max_exp_avg_sq", v_max)):
        st[name] = torch.tensor(np.array(value, dtype=np.float64))
    with torch.no_grad():
        opt.step()
    return (p.numpy().copy(), *(st[n].numpy().copy() for n in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")))


def _ref_reddi_run(C, steps, lr, beta1, beta2, amsgrad):
    res = reddi_race(float(C), int(steps), lr=float(lr), betas=(float(beta1), float(beta2)), x0=0.0, schedule="sqrt")
    return res["x"]["AMSGrad" if amsgrad else "Adam"]


def _ref_average_regret(grads, xs):
    g = np.asarray(grads, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    played = np.cumsum(g * xs)
    cum = np.cumsum(g)
    best = np.minimum(-cum, cum)          # min over x ∈ [−1, 1] of a linear loss: one of the ends
    return (played - best) / np.arange(1, g.size + 1)


def _ref_cycle_drift(C, beta2):
    """Measure: torch Adam (β₁ = 0, ε = 0, lr = 1) on C, −1, −1, … until v is periodic; x moved over the last cycle."""
    C, beta2 = float(C), float(beta2)
    cycles = 2 + math.ceil(math.log(1e-18) / (3 * math.log(beta2))) if beta2 > 0 else 2
    p = torch.zeros(1, dtype=torch.float64)
    opt = torch.optim.Adam([p], lr=1.0, betas=(0.0, beta2), eps=0.0)
    grads = [torch.tensor([C], dtype=torch.float64), torch.tensor([-1.0], dtype=torch.float64),
             torch.tensor([-1.0], dtype=torch.float64)]
    before = 0.0
    for _ in range(cycles):
        before = float(p)
        for g in grads:
            p.grad = g
            with torch.no_grad():
                opt.step()
    return float(p) - before


REFERENCES = {"amsgrad_step": _ref_amsgrad_step, "reddi_run": _ref_reddi_run, "average_regret": _ref_average_regret,
              "cycle_drift": _ref_cycle_drift}

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
