"""Ключ ответов упражнения 10-2 (веса клиентов по потерям): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — pi_from_losses, kl_worst_case и alternating_equilibrium из optviz.course.lecture_10;
ожидаемые значения считает проверяющий процесс. Названия и подсказки видит студент — входных данных
в них нет.
"""

import math

import numpy as np

from optviz.course.lecture_10 import alternating_equilibrium, kl_worst_case, pi_from_losses
from optviz.grading import Check


def _ref_mirror_step(pi, client, loss, pi_lr, pi_decay, prior, eps):
    pi = np.asarray(pi, dtype=np.float64)
    return pi_from_losses([float(loss)], [int(client)], pi_lr=float(pi_lr), pi_decay=float(pi_decay),
                          prior=np.asarray(prior, dtype=np.float64), pi0=pi / pi.sum(), n_clients=pi.size,
                          eps=float(eps))[1]


def _ref_worst_case(losses, tau, prior):
    return kl_worst_case(np.asarray(losses, dtype=np.float64), float(tau), np.asarray(prior, dtype=np.float64))


def _ref_absent(loss1, steps, pi_lr, pi_decay, prior):
    prior = np.asarray(prior, dtype=np.float64)
    if math.isinf(steps):   # the limit: client 2 gives no signal, i.e. acts as a client with zero loss
        return float(kl_worst_case([2.0 * float(loss1), 0.0], float(pi_decay), prior)[1])
    k = int(steps)
    path = pi_from_losses(np.full(k, float(loss1)), np.zeros(k, dtype=np.int64), pi_lr=float(pi_lr),
                          pi_decay=float(pi_decay), prior=prior, eps=0.0)
    return float(path[-1, 1])


def _ref_cycle(loss1, loss2, pi_lr, pi_decay, prior):
    eq = alternating_equilibrium(float(loss1), float(loss2), pi_lr=float(pi_lr), pi_decay=float(pi_decay),
                                 prior=np.asarray(prior, dtype=np.float64))
    return eq["pi2_after_1"], eq["pi2_after_2"]


REFERENCES = {"client_mirror_step": _ref_mirror_step, "kl_worst_case_weights": _ref_worst_case,
              "absent_client_weight": _ref_absent, "alternation_cycle": _ref_cycle}

_rng = np.random.default_rng(2010)
_EPS = float(np.finfo(np.float32).eps)


def _simplex(n: int) -> np.ndarray:
    w = _rng.uniform(0.2, 1.0, size=n)
    return w / w.sum()


def _lecture_like(alone: int, pairs: int):
    """Client 1 alone, then 1, 2, 1, 2, …; noisy decaying losses, client 2 harder."""
    clients = np.r_[np.zeros(alone, dtype=np.int64), np.tile([0, 1], pairs)]
    base = np.where(clients == 0, 0.5, 1.3) * np.exp(-np.arange(clients.size) / 150)
    return clients, base + 0.1 * _rng.random(clients.size)


_c1, _l1 = _lecture_like(30, 60)
_c3 = _rng.integers(0, 3, size=40)

CHECKS = [
    Check("client_mirror_step", "пять клиентов, случайные веса", "one_step",
          dict(pi=_simplex(5), client=3, loss=float(_rng.uniform(0.5, 2.0)), pi_lr=0.08, pi_decay=0.7,
               prior=_simplex(5), eps=_EPS), rtol=1e-9,
          hint="сигнал активного клиента −n·ℓ̄, где n — число клиентов, а не 2"),
    Check("client_mirror_step", "без притяжения к π̂ (τ = 0)", "one_step",
          dict(pi=_simplex(3), client=0, loss=0.9, pi_lr=0.3, pi_decay=0.0, prior=np.full(3, 1 / 3), eps=_EPS),
          rtol=1e-9, hint="при τ = 0 шаг — обычный экспоненциальный (KL) зеркальный шаг"),
    Check("client_mirror_step", "вес почти нулевой: роль ε", "one_step",
          dict(pi=np.array([1 - 3e-9, 3e-9]), client=0, loss=0.4, pi_lr=0.5, pi_decay=0.2, prior=[0.5, 0.5],
               eps=_EPS), rtol=1e-8, hint="ε добавляется к π под логарифмом: log(π + ε)"),
    Check("client_mirror_step", "расписание лекции: подключение и чередование", "replay",
          dict(clients=_c1, losses=_l1, pi_lr=0.05, pi_decay=0.3, prior=[0.5, 0.5], eps=_EPS),
          steps=True, weight=2, rtol=1e-8, hint="клиент, которого нет в батче, получает сигнал 0, а не свою старую потерю"),
    Check("client_mirror_step", "три клиента в случайном порядке, неравные π̂", "replay",
          dict(clients=_c3, losses=_rng.uniform(0.2, 2.5, size=40), pi_lr=0.2, pi_decay=1.5, prior=_simplex(3),
               eps=_EPS), steps=True, weight=2, rtol=1e-8,
          hint="притяжение η_π·τ·log π̂ и деление на 1 + η_π·τ — для всех клиентов, активных и нет"),
    Check("kl_worst_case_weights", "шесть клиентов, случайные потери", "worst_case",
          dict(losses=_rng.uniform(0.0, 3.0, size=6), tau=0.8, prior=_simplex(6)), rtol=1e-9,
          hint="π*_c ∝ π̂_c·e^{L_c/τ}"),
    Check("kl_worst_case_weights", "очень маленькое τ: без переполнения", "worst_case",
          dict(losses=[3.0, 2.5, 2.9], tau=0.002, prior=[0.3, 0.3, 0.4]), rtol=1e-9, atol=1e-300,
          hint="вычтите максимум показателя перед экспонентой — иначе e^{L/τ} переполняется и получается nan"),
    Check("kl_worst_case_weights", "большое τ: почти априорные веса", "worst_case",
          dict(losses=[1.0, 4.0], tau=500.0, prior=[0.8, 0.2]), rtol=1e-9,
          hint="при τ → ∞ веса стремятся к π̂"),
    Check("absent_client_weight", "разное число шагов, равные π̂", "absent",
          dict(loss1=1.3, steps=[0, 2, 17, 250], pi_lr=0.05, pi_decay=0.3, prior=[0.5, 0.5]), weight=2,
          rtol=1e-8, hint="отклонение d от неподвижной точки умножается на r = 1/(1 + η_π·τ) за шаг"),
    Check("absent_client_weight", "предел и неравные π̂", "absent",
          dict(loss1=0.35, steps=[math.inf, 60], pi_lr=0.4, pi_decay=2.0, prior=[0.25, 0.75]), rtol=1e-8,
          hint="предел: d* = log(π̂₂/π̂₁) − 2ℓ₁/τ"),
    Check("absent_client_weight", "большой шаг по весам", "absent",
          dict(loss1=0.8, steps=[1, 3, 8], pi_lr=2.0, pi_decay=0.5, prior=[0.6, 0.4]), rtol=1e-8,
          hint="множитель r = 1/(1 + η_π·τ) стоит и перед сигналом: −2rη_π·ℓ₁"),
    Check("alternation_cycle", "клиент 2 труднее, равные π̂", "cycle",
          dict(loss1=0.3, loss2=1.7, pi_lr=0.02, pi_decay=0.5, prior=[0.5, 0.5]), weight=2, rtol=1e-8,
          hint="двухшаговый цикл: d₁ = r·d₂ + (1 − r)Δ − 2rη_π·ℓ₁, d₂ = r·d₁ + (1 − r)Δ + 2rη_π·ℓ₂"),
    Check("alternation_cycle", "клиент 1 труднее, неравные π̂", "cycle",
          dict(loss1=2.2, loss2=0.9, pi_lr=0.3, pi_decay=1.2, prior=[0.35, 0.65]), rtol=1e-8,
          hint="первое число — π₂ сразу после шага клиента 1, второе — после шага клиента 2"),
    Check("alternation_cycle", "равные потери", "cycle",
          dict(loss1=1.0, loss2=1.0, pi_lr=0.5, pi_decay=0.4, prior=[0.5, 0.5]), rtol=1e-8,
          hint="даже при равных потерях шаги клиентов тянут веса в разные стороны"),
]
