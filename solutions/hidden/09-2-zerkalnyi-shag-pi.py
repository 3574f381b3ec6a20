"""Ключ ответов упражнения 09-2 (зеркальный шаг по весам групп π): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — библиотечные kl_mirror_step и closed_form_pi; ожидаемые значения считает проверяющий
процесс. Названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.course.lecture_09 import closed_form_pi
from optviz.grading import Check
from optviz.grading.tasks.ex09_2 import MAX_STEPS
from optviz.optim._functional import kl_mirror_step


def _t(v) -> torch.Tensor:
    return torch.tensor(np.asarray(v, dtype=np.float64))


def _ref_mirror_step_with_prior(pi, h, pi_lr, tau, prior):
    return kl_mirror_step(_t(pi), _t(h), pi_lr, decay=tau, prior=_t(prior)).numpy()


def _ref_mirror_fixed_point(h, tau, prior):
    return closed_form_pi(-np.asarray(h, dtype=np.float64), tau, prior)


def _ref_steps_to_fixed_point(pi0, h, pi_lr, tau, prior, tol):
    star = _ref_mirror_fixed_point(h, tau, prior)
    pi = np.asarray(pi0, dtype=np.float64)
    for k in range(MAX_STEPS):
        if np.abs(pi - star).sum() <= tol:
            return k
        pi = _ref_mirror_step_with_prior(pi, h, pi_lr, tau, prior)
    return MAX_STEPS


REFERENCES = {"mirror_step_with_prior": _ref_mirror_step_with_prior, "mirror_fixed_point": _ref_mirror_fixed_point,
              "steps_to_fixed_point": _ref_steps_to_fixed_point}

_rng = np.random.default_rng(90902)


def _simplex(c: int) -> np.ndarray:
    return _rng.dirichlet(np.full(c, 2.0))


_PRIOR5 = _simplex(5)
_H4 = -_rng.uniform(0.0, 3.0, 4)
_PRIOR4 = _simplex(4)
_STAR4 = _PRIOR4 * np.exp(-_H4 / 0.6)
_STAR4 /= _STAR4.sum()

CHECKS = [
    # mirror_step_with_prior
    Check("mirror_step_with_prior", "один шаг, 5 групп", "md_one",
          dict(pi=_simplex(5), h=_rng.standard_normal(5), pi_lr=0.8, tau=0.3, prior=_PRIOR5), rtol=1e-9,
          hint="MD(π, h) = softmax((log π + η_π τ log π̂ − η_π h)/(1 + η_π τ))"),
    Check("mirror_step_with_prior", "τ = 0: априорное распределение не участвует", "md_one",
          dict(pi=_simplex(4), h=_rng.standard_normal(4), pi_lr=1.5, tau=0.0, prior=_PRIOR4), rtol=1e-9,
          hint="при τ = 0 шаг — мультипликативные веса π⁺ ∝ π·exp(−η_π h)"),
    Check("mirror_step_with_prior", "большой сигнал", "md_one",
          dict(pi=_simplex(3), h=-np.array([900.0, 850.0, 300.0]), pi_lr=2.0, tau=0.1, prior=_simplex(3)),
          rtol=1e-9, atol=1e-12, hint="экспонента переполняется: вычтите максимум логитов перед exp"),
    Check("mirror_step_with_prior", "40 шагов с постоянным сигналом", "md_run",
          dict(pi0=_simplex(4), h=_H4, pi_lr=0.5, tau=0.6, prior=_PRIOR4, steps=40), steps=True, weight=2,
          hint="делите логиты на (1 + η_π τ) на каждом шаге; результат должен оставаться распределением"),
    Check("mirror_step_with_prior", "30 шагов с меняющимся сигналом", "md_signals",
          dict(pi0=_simplex(5), hs=_rng.standard_normal((30, 5)) * 2.0, pi_lr=0.3, tau=1.2, prior=_PRIOR5),
          steps=True, weight=2, hint="η_π умножает и сигнал h, и притяжение τ·log π̂"),
    # mirror_fixed_point
    Check("mirror_fixed_point", "4 группы", "fixed_point", dict(h=_H4, tau=0.6, prior=_PRIOR4), rtol=1e-9,
          hint="π* ∝ π̂·exp(−h/τ), затем нормировка на сумму"),
    Check("mirror_fixed_point", "малое τ и большой сигнал", "fixed_point",
          dict(h=-np.array([12.0, 9.0, 3.0, 11.5]), tau=0.01, prior=_PRIOR4), rtol=1e-9, atol=1e-12,
          hint="при малом τ показатель −h/τ огромен: вычтите максимум перед exp"),
    Check("mirror_fixed_point", "постоянный сигнал", "fixed_point",
          dict(h=np.full(5, -2.5), tau=0.4, prior=_PRIOR5), rtol=1e-9,
          hint="сдвиг h на константу не меняет неподвижную точку: при постоянном h получается π̂"),
    # steps_to_fixed_point
    Check("steps_to_fixed_point", "4 группы, τ = 0.6", "count",
          dict(pi0=_simplex(4), h=_H4, pi_lr=0.8, tau=0.6, prior=_PRIOR4, tol=1e-9), rtol=0.0, atol=0.5,
          hint="возвращайте первое k с ‖π_k − π*‖₁ ≤ tol (k = 0 — это сама π₀)"),
    Check("steps_to_fixed_point", "медленная сходимость (малое η_π τ)", "count",
          dict(pi0=_simplex(4), h=_H4, pi_lr=0.05, tau=0.6, prior=_PRIOR4, tol=1e-7), rtol=0.0, atol=0.5,
          hint="не ограничивайте число шагов маленьким числом (предел — 100000): при малом η_π τ нужны сотни шагов"),
    Check("steps_to_fixed_point", "старт в неподвижной точке", "count",
          dict(pi0=_STAR4, h=_H4, pi_lr=0.5, tau=0.6, prior=_PRIOR4, tol=1e-10), rtol=0.0, atol=0.5,
          hint="если π₀ уже ближе tol к π*, шагов не нужно: ответ 0"),
]
